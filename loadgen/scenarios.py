"""Scenarios: what load to generate, as typed dataclasses read from ``data/scenarios/NAME.yaml``.

A scenario file has top-level fields (``workload``, ``users``, ``rate``, ``prefix``, ``seed``,
``drain_s``, ``description``, ``nuxeo_version``: ``"10.10"`` or ``"2021"``, the default; ``pool``:
``persistent``, one connection per user, or ``nuxeo``, Nuxeo's pool per emulated node) and a ``params`` mapping typed per workload (one dataclass each below).
``load_scenario(name_or_path, overrides)`` resolves a name to ``data/scenarios/NAME.yaml`` (or reads a
path), applies ``--set key=value`` overrides (``users=10``, ``rate=500``, ``params.keyspace=1000`` or
just ``keyspace=1000``) and validates every value; any mistake is one :class:`BadInput` line.

Rates: ``rate`` is the global open-loop target (ops/s, works/s or messages/s, see each workload)
across all users and worker processes; ``None`` means closed loop. Each paced user takes
``rate / number of paced users``, so a process takes its share of the users' share.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from rcapcore.errors import BadInput
from rcapcore.nuxeo.keys import DEFAULT_PREFIX, check_prefix
from rcapcore.nuxeo.mix import BusinessLoad
from rcapcore.paths import shipped
from rcapcore.config import build as _build  # the project's one typed-mapping builder
from rcapcore.validate import load_yaml, number, yaml_text

MAX_ZIPF_KEYSPACE = 1_000_000
"""Largest ``keyspace`` a ``zipf`` key distribution accepts (its picker keeps a weight per key)."""

SCENARIO_DIR = shipped("scenarios")
"""The shipped scenarios (the checkout's ``data/scenarios``, or the installed package's copy)."""


@dataclass(frozen=True)
class Dist:
    """A distribution of a quantity (bytes, seconds, ms): ``fixed`` (``value``), ``uniform`` (``min``..``max``)
    or ``lognormal`` (median ``value``, shape ``sigma``, clipped to ``min``..``max``)."""

    kind: str = "fixed"
    value: float = 0.0
    min: float = 0.0
    max: float = 0.0
    sigma: float = 0.5

    @classmethod
    def from_number(cls, value: float, where: str) -> "Dist":
        """A bare number in YAML is a fixed distribution (the typed builder's scalar shorthand)."""
        return cls("fixed", number(value, where))

    def validate(self, where: str) -> None:
        if self.kind not in ("fixed", "uniform", "lognormal"):
            raise BadInput(f"{where}: distribution kind must be fixed, uniform or lognormal, got {self.kind!r}")
        if self.value < 0 or self.min < 0 or self.max < 0 or self.sigma < 0:
            raise BadInput(f"{where}: distribution values must be >= 0")
        if self.kind == "uniform" and self.max < self.min:
            raise BadInput(f"{where}: uniform max ({self.max:g}) is below min ({self.min:g})")

    def sampler(self, rng: random.Random) -> Callable[[], float]:
        """A function drawing one value."""
        if self.kind == "fixed":
            v = self.value
            return lambda: v
        if self.kind == "uniform":
            lo, hi = self.min, self.max
            return lambda: rng.uniform(lo, hi)
        import math  # noqa: PLC0415

        mu, sigma, lo, hi = math.log(max(self.value, 1e-9)), self.sigma, self.min, self.max or float("inf")
        return lambda: min(max(rng.lognormvariate(mu, sigma), lo), hi)

    @property
    def mean(self) -> float:
        if self.kind == "fixed":
            return self.value
        if self.kind == "uniform":
            return (self.min + self.max) / 2
        import math  # noqa: PLC0415

        return self.value * math.exp(self.sigma ** 2 / 2)


@dataclass(frozen=True)
class QueueLoad:
    """One work queue: ``threads`` consumer threads per node; ``share`` of the scheduled works, of ``work_type``.

    An empty ``queue_id`` is the queue the scenario's Nuxeo version sends ``work_type`` to; ``threads``
    ``None`` is that version's default for the queue (4 for a custom queue)."""

    queue_id: str = ""
    threads: int | None = None
    work_type: str = "fulltextExtractor"
    share: float = 0.0


@dataclass(frozen=True)
class WorkManagerParams:
    """``workmanager``: producers schedule works (``rate`` = works/s), consumers emulate worker threads.

    Each of ``nodes`` emulated nodes runs ``threads`` consumers per queue: pop-work → running-work
    (re-sends the payload) → ``processing_ms`` → completed-work; idle threads poll every 1000 ± 200 ms.
    ``duplicate_ratio`` re-schedules a recent id (de-duplicated by the ``sched`` set).
    ``profile_queues`` also runs the idle worker threads of every other default queue of the version
    (they only poll); ``producers: 0`` is an idle node.
    ``works_per_producer`` > 0 makes each producer stop after that many works. ``hashtag`` puts every
    key in one cluster slot (``<prefix>{work}:``), a what-if that differs from Nuxeo (forced on clusters).
    """

    queues: tuple[QueueLoad, ...] = (
        QueueLoad("default", 4, "fulltextExtractor", 0.5),
        QueueLoad("elasticSearchIndexing", 4, "indexing", 0.5),
    )
    producers: int = 4
    nodes: int = 1
    processing_ms: Dist = Dist("fixed", 20.0)
    duplicate_ratio: float = 0.0
    works_per_producer: int = 0
    hashtag: bool = False
    profile_queues: bool = False


@dataclass(frozen=True)
class KvParams:
    """``kv``: the KeyValue-store operation mix of spec §2.1 (``rate`` = operations/s; one operation is one
    KV API call: 1 round trip, 2 for a CAS followed by its EXPIRE, 50 for ``batch_upload``).

    ``mix`` weights: set, setex, get, mget, incrby, expire, persist, del, cas_null_set, cas_set,
    cas_del, lock_get (``GET <prefix>lock:default:<docId>``, spec §4.2), batch_upload. Keys are drawn
    from ``keyspace`` keys, ``uniform`` or ``zipf`` (``zipf_s``).

    ``gc_period_s`` > 0 adds ``gc_nodes`` scanner users (on top of ``users``) running each node's scheduled
    KEYS (transient-store GC, bulk status listing; spec Corrections 9) every ``gc_period_s`` seconds
    (Nuxeo: 900; shorten it for short runs). On a target rcap did not start they are refused unless
    ``keys_on_shared_target`` is true.
    """

    mix: dict[str, float] = field(default_factory=lambda: {
        "get": 40.0, "set": 10.0, "setex": 15.0, "mget": 5.0, "incrby": 5.0, "expire": 5.0, "persist": 2.0,
        "del": 5.0, "cas_null_set": 5.0, "cas_set": 4.0, "cas_del": 3.0, "batch_upload": 1.0})
    store: str = "default"
    keyspace: int = 10_000
    key_distribution: str = "uniform"
    zipf_s: float = 1.1
    value_bytes: Dist = Dist("lognormal", 200.0, 5.0, 64_000.0, 1.0)
    ttl_s: Dist = Dist("uniform", 0.0, 60.0, 3600.0)
    mget_keys: int = 10
    upload_file_bytes: int = 1_000_000
    gc_period_s: float = 0.0
    gc_nodes: int = 1
    keys_on_shared_target: bool = False


KV_OPS = ("set", "setex", "get", "mget", "incrby", "expire", "persist", "del", "cas_null_set", "cas_set",
          "cas_del", "lock_get", "batch_upload")


@dataclass(frozen=True)
class KvSetParams:
    """``kv-set``: closed-loop ``SET`` of ``value_bytes`` values over ``keyspace`` keys (loadgen benchmark)."""

    value_bytes: int = 1024
    keyspace: int = 100_000


@dataclass(frozen=True)
class WorkLifecycleParams:
    """``work-lifecycle``: each user runs whole Nuxeo work lifecycles on its own connection, one EVALSHA at a
    time as Jedis sends them (scheduling-work → pop-work → running-work → completed-work, no processing
    time), closed loop or paced (``rate`` = works/s). The saturation probe of ``rcap suite``: one
    shard's works/s ceiling under unpipelined Nuxeo traffic."""

    queue_id: str = "default"
    work_type: str = "fulltextExtractor"
    hashtag: bool = False


@dataclass(frozen=True)
class PubSubParams:
    """``pubsub``: ``nodes`` emulated nodes each hold one ``PSUBSCRIBE <prefix>*``; ``publishers`` send
    ``<nodeId>:<payload>`` messages (``rate`` = messages/s) on topics weighted by ``topics``."""

    nodes: int = 4
    publishers: int = 4
    topics: dict[str, float] = field(default_factory=lambda: {"vcs": 1.0, "cacheinval": 1.0})
    vcs_docs: int = 1
    dbs_ids: int = 1


@dataclass(frozen=True)
class MassOperationParams:
    """``mass-operation``: a burst of ``works`` works scheduled at ``schedule_rate`` works/s (λ) while
    ``threads`` × ``nodes`` consumers drain at ``consume_rate`` works/s (μ) in total; the backlog grows
    at λ − μ and so does Redis memory.

    Scheduling is serialized per queue per node (spec Corrections 4): at most ``nodes`` producers run,
    each one round trip at a time. ``live_indexing_per_s`` live IndexingWorkers (``live_processing_ms``
    each) go to the same queue (Corrections 10); their queue wait is recorded as ``queue wait live indexing`` (not when the burst's own ``work_type`` is
    ``indexing``: the two could not be told apart).
    """

    works: int = 10_000
    schedule_rate: float = 500.0
    consume_rate: float = 100.0
    queue_id: str = "elasticSearchIndexing"
    work_type: str = "reindexBucket"
    threads: int = 4
    nodes: int = 1
    producers: int = 2
    hashtag: bool = False
    live_indexing_per_s: float = 0.0
    live_processing_ms: float = 20.0


@dataclass(frozen=True)
class NuxeoClusterParams(BusinessLoad):
    """``nuxeo-cluster``: the Redis traffic of a Nuxeo cluster derived from business inputs (spec §7,
    :func:`rcapcore.nuxeo.mix.derive_mix`): works, idle polls, PubSub, lock GETs and batch uploads.
    The business inputs are the one :class:`~rcapcore.nuxeo.mix.BusinessLoad` (same names and units as
    target files), with a mid-size cluster as defaults; the fields below it are the load generator's."""

    nodes: int = 4
    docs_per_s: float = 200.0
    uploads_per_s: float = 1.0
    cache_invalidations_per_s: float = 20.0
    kv_users: int = 4
    hashtag: bool = False
    gc_period_s: float = 0.0  # scheduled KEYS of each node every gc_period_s (see KvParams); 0 = off
    keys_on_shared_target: bool = False


PARAMS: dict[str, type] = {
    "workmanager": WorkManagerParams,
    "kv": KvParams,
    "kv-set": KvSetParams,
    "work-lifecycle": WorkLifecycleParams,
    "pubsub": PubSubParams,
    "mass-operation": MassOperationParams,
    "nuxeo-cluster": NuxeoClusterParams,
}
"""Workload name → its params dataclass."""

TOP_LEVEL = ("workload", "description", "users", "rate", "prefix", "seed", "drain_s", "nuxeo_version", "pool",
             "params")


@dataclass(frozen=True)
class Scenario:
    """A resolved scenario. ``users`` is the total Locust user count (derived for workloads whose users
    are fixed by their params); ``rate`` the global open-loop target or ``None`` (closed loop);
    ``drain_s`` how long (s) consumers/subscribers may finish in-flight work at stop."""

    name: str
    workload: str
    params: Any
    users: int
    rate: float | None = None
    prefix: str = DEFAULT_PREFIX
    seed: int = 0
    drain_s: float = 2.0
    description: str = ""
    nuxeo_version: str = "2021"
    pool: str = "persistent"  # or "nuxeo": each emulated node's Jedis pool (loadgen.users.pool)

    def to_json(self) -> str:
        """JSON for ``RCAP_SCENARIO`` (inverse: :func:`scenario_from_json`)."""
        return json.dumps(dataclasses.asdict(self))

    def user_classes(self) -> list[type]:
        """Locust ``User`` classes for this scenario, with ``fixed_count``/``weight`` set."""
        from loadgen.users import user_classes  # noqa: PLC0415  (Locust import only when running)

        return user_classes(self)


def scenario_from_json(text: str) -> Scenario:
    """Rebuild a :class:`Scenario` from :meth:`Scenario.to_json`."""
    data = json.loads(text)
    params = _build(PARAMS[data["workload"]], data.pop("params"), "params")
    return _validated(Scenario(params=params, **data))


def _fixed_users(workload: str, params: Any, prefix: str, nuxeo_version: str = "2021") -> int | None:
    """Users fixed by the params (sum of the plan's counts), or ``None`` when ``users`` is free."""
    if workload in ("kv-set", "work-lifecycle"):
        return None
    if workload == "kv":  # ``users`` counts the KV users; the scanners come on top
        return None
    from loadgen.users.plan import plan  # noqa: PLC0415

    probe = Scenario(name="", workload=workload, params=params, users=1, prefix=prefix, nuxeo_version=nuxeo_version)
    return sum(item.count for item in plan(probe))


def available() -> list[str]:
    """Names of the scenarios shipped in ``data/scenarios``."""
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))


def load_scenario(name_or_path: str, overrides: dict[str, str] | None = None) -> Scenario:
    """Read, override and validate a scenario (see module docstring); :class:`BadInput` on any mistake."""
    path = Path(name_or_path)
    if not (name_or_path.endswith((".yaml", ".yml")) or os.sep in name_or_path):
        path = SCENARIO_DIR / f"{name_or_path}.yaml"
        if not path.is_file():
            raise BadInput(f"unknown scenario {name_or_path!r}; known: {', '.join(available())}")
    if not path.is_file():
        raise BadInput(f"scenario file {name_or_path} does not exist")
    data = load_yaml(path, "scenario file")
    if not isinstance(data, dict):
        raise BadInput(f"{path}: a scenario is a YAML mapping with at least 'workload'")
    return build_scenario(path.stem, data, overrides, where=str(path))


def build_scenario(name: str, data: dict[str, Any], overrides: dict[str, str] | None = None,
                   where: str = "scenario") -> Scenario:
    """Build a :class:`Scenario` from a mapping (as in a YAML file) plus ``--set`` overrides."""
    data = dict(data)
    unknown = set(data) - set(TOP_LEVEL)
    if unknown:
        raise BadInput(f"{where}: unknown field(s) {', '.join(sorted(unknown))}; allowed: {', '.join(TOP_LEVEL)}")
    workload = data.get("workload")
    if workload not in PARAMS:
        raise BadInput(f"{where}: workload must be one of {', '.join(PARAMS)}, got {workload!r}")
    params_cls = PARAMS[workload]
    raw_params = dict(data.pop("params", None) or {})
    if not isinstance(raw_params, dict):
        raise BadInput(f"{where}: 'params' must be a mapping")
    param_names = {f.name for f in dataclasses.fields(params_cls)}
    for key, text in (overrides or {}).items():
        # a version is text: YAML would read 10.10 as the number 10.1
        value = text if key == "nuxeo_version" else _parse_override(key, text)
        if key in TOP_LEVEL and key not in ("params", "workload"):
            data[key] = value
        elif key.startswith("params.") and key[7:] in param_names:
            raw_params[key[7:]] = value
        elif key in param_names:
            raw_params[key] = value
        else:
            raise BadInput(f"unknown --set key {key!r} for workload {workload}; known: "
                           f"{', '.join(k for k in TOP_LEVEL if k not in ('params', 'workload'))}, "
                           f"{', '.join(sorted(param_names))}")
    params = _build(params_cls, raw_params, f"{where}: params")
    top = {k: v for k, v in data.items() if k != "workload"}
    scalar = _build(_TopLevel, top, where)
    from rcapcore.nuxeo.lts import check_version  # noqa: PLC0415

    version = check_version(scalar.nuxeo_version)
    users = _fixed_users(workload, params, scalar.prefix, version)
    if users is None:
        users = scalar.users if scalar.users is not None else 1
        if workload == "kv" and params.gc_period_s > 0:
            users += params.gc_nodes
    elif scalar.users is not None and scalar.users != users:
        raise BadInput(f"{where}: users is fixed at {users} by the {workload} params "
                       f"(got users={scalar.users}); change the params instead")
    return _validated(Scenario(name=name, workload=workload, params=params, users=users, rate=scalar.rate,
                               prefix=scalar.prefix, seed=scalar.seed, drain_s=scalar.drain_s,
                               description=scalar.description, nuxeo_version=version, pool=scalar.pool))


@dataclass(frozen=True)
class _TopLevel:
    description: str = ""
    users: int | None = None
    rate: float | None = None
    prefix: str = DEFAULT_PREFIX
    seed: int = 0
    drain_s: float = 2.0
    nuxeo_version: Any = "2021"  # checked by versions.check_version
    pool: str = "persistent"


def _parse_override(key: str, text: str) -> Any:
    if len(text) > 10_000:
        raise BadInput(f"--set {key}: value longer than 10,000 characters")
    return yaml_text(text, f"--set {key}") if text != "" else ""


def _validated(s: Scenario) -> Scenario:
    where = f"scenario {s.name}"
    check_prefix(s.prefix)
    from rcapcore.nuxeo.lts import check_version  # noqa: PLC0415

    check_version(s.nuxeo_version)
    if s.pool not in ("persistent", "nuxeo"):
        raise BadInput(f"{where}: pool must be persistent (one connection per user) or nuxeo (Nuxeo's pool per "
                       f"node), got {s.pool!r}")
    if s.users < 1:
        raise BadInput(f"{where}: users must be >= 1, got {s.users}")
    if s.rate is not None and not s.rate > 0:
        raise BadInput(f"{where}: rate must be > 0 (or null for closed loop), got {s.rate:g}")
    if s.drain_s < 0:
        raise BadInput(f"{where}: drain_s must be >= 0")
    p = s.params
    positive_ints = {
        "workmanager": ("nodes",), "kv": ("keyspace", "mget_keys", "gc_nodes"), "kv-set": ("value_bytes", "keyspace"),
        "work-lifecycle": (),
        "pubsub": ("nodes", "publishers", "vcs_docs", "dbs_ids"),
        "mass-operation": ("works", "threads", "nodes", "producers"), "nuxeo-cluster": ("nodes",),
    }[s.workload]
    for name in positive_ints:
        if getattr(p, name) < 1:
            raise BadInput(f"{where}: {name} must be >= 1, got {getattr(p, name)}")
    for f in dataclasses.fields(p):
        v = getattr(p, f.name)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and v < 0:
            raise BadInput(f"{where}: {f.name} must be >= 0, got {v}")
        if isinstance(v, Dist):
            v.validate(f"{where}: {f.name}")
    if s.workload == "workmanager":
        from rcapcore.nuxeo.payloads import work_type  # noqa: PLC0415

        if not p.queues:
            raise BadInput(f"{where}: at least one queue is needed")
        for q in p.queues:
            work_type(q.work_type)
            if (q.threads is not None and q.threads < 0) or q.share < 0:
                raise BadInput(f"{where}: queue {q.queue_id}: threads and share must be >= 0")
        if sum(q.share for q in p.queues) <= 0:
            raise BadInput(f"{where}: the queue shares must add up to more than 0")
        if not 0 <= p.duplicate_ratio < 1:
            raise BadInput(f"{where}: duplicate_ratio must be in [0, 1)")
    elif s.workload == "kv":
        bad = set(p.mix) - set(KV_OPS)
        if bad:
            raise BadInput(f"{where}: unknown kv operation(s) {', '.join(sorted(bad))}; known: {', '.join(KV_OPS)}")
        if sum(p.mix.values()) <= 0:
            raise BadInput(f"{where}: the kv mix weights must add up to more than 0")
        if p.key_distribution not in ("uniform", "zipf"):
            raise BadInput(f"{where}: key_distribution must be uniform or zipf")
        if p.key_distribution == "zipf" and p.keyspace > MAX_ZIPF_KEYSPACE:
            # the Zipf picker holds one cumulative weight per key in every user
            raise BadInput(f"{where}: keyspace above {MAX_ZIPF_KEYSPACE:,} keys with zipf (got {p.keyspace:,})")
    elif s.workload == "pubsub":
        bad = set(p.topics) - {"vcs", "dbs", "cacheinval"}
        if bad or sum(p.topics.values()) <= 0:
            raise BadInput(f"{where}: topics weights are for vcs, dbs, cacheinval and must add up to more than 0")
    elif s.workload == "mass-operation":
        from rcapcore.nuxeo.payloads import work_type  # noqa: PLC0415

        work_type(p.work_type)
        if not (p.schedule_rate > 0 and p.consume_rate > 0):
            raise BadInput(f"{where}: schedule_rate and consume_rate must be > 0 (works/s)")
    elif s.workload == "nuxeo-cluster":
        if p.storage not in ("vcs", "dbs"):
            raise BadInput(f"{where}: storage must be vcs or dbs")
    return s


def parse_sets(items: list[str] | None) -> dict[str, str]:
    """``--set`` items as overrides: ``["a.b=1", "c=x"]`` → ``{"a.b": "1", "c": "x"}``; ``BadInput`` on an
    item without ``=``. Shared by ``rcap bench`` and the locustfile's own ``--set``."""
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise BadInput(f"--set {item!r}: expected key=value")
        out[key.strip()] = value
    return out
