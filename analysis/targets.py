"""Target-load specifications (``data/targets/*.yaml``) as typed dataclasses.

A target gives the load at one of two levels — ``business`` (what Nuxeo does) or ``redis`` (what Redis
sees) — optionally a ``mass_operation`` (e.g. a full reindex), and the ``deployment`` choices. Any mistake
(YAML syntax, unknown field, wrong type, nonsense value) is one ``BadInput`` naming the file and line.
Rates are per second, sizes bytes, times ms or µs as their names say.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from analysis.ha import ADVISED_PERSISTENCE, DEFAULT_FAILOVER_OBJECTIVE_S
from rcapcore.errors import BadInput
from rcapcore.nuxeo.mix import BusinessLoad
from rcapcore.paths import resolve as resolve_path, shipped
from rcapcore.config import build as _build  # the project's one typed-mapping builder
from rcapcore.validate import read_text, yaml_text
from rcapcore.topologies import names

TARGET_DIR = shipped("targets")
TOPOLOGIES = names(sized=True)  # those analysis.sizing has a rule for
PERSISTENCE = ("none", "rdb", "aof")


@dataclass(frozen=True)
class RedisLoad:
    """Redis-level load: works (4 EVALSHA each), KV operations and keys, PubSub."""

    works_per_s: float = 0.0
    work_payload_bytes: int = 1500
    work_processing_ms: float = 20.0
    worker_threads: int = 16  # all nodes together
    kv_ops_per_s: float = 0.0
    kv_keys: int = 0
    kv_value_bytes: int = 200
    kv_ttl: bool = True
    pubsub_messages_per_s: float = 0.0
    pubsub_message_bytes: int = 500
    pubsub_subscribers: int = 1


@dataclass(frozen=True)
class MassOperation:
    """A burst of works: ``documents`` scheduled ``docs_per_work`` per work at ``schedule_docs_per_s``,
    processed by ``threads_per_node`` threads on each Nuxeo node in ``processing_ms`` per work."""

    documents: int
    name: str = "mass operation"
    docs_per_work: int = 500
    payload_bytes: int = 20700
    payload_sd_bytes: int = 0  # spread of the serialized size (normal); sizes straddle allocator classes
    schedule_docs_per_s: float = 5000.0
    processing_ms: float = 2000.0
    threads_per_node: int = 4
    nodes: int | None = None  # default: the business level's nodes (or 1)
    scheduling_rtt_ms: float = 0.5  # one scheduling-work round trip: caps λ per node (spec Corrections 4)
    live_indexing: bool = True  # live IndexingWorkers share elasticSearchIndexing (spec Corrections 10)
    documents_growth_per_year: float | None = None  # repository growth, fraction per year (0.2 = +20 %); the what-ifs
    # size the reindex of the grown repository in 1 and 3 years (None: not given, no growth figure shown)


@dataclass(frozen=True)
class Deployment:
    """Topology and service choices. ``headroom``: share of maxmemory kept free; ``max_cpu_utilization``:
    main-thread busy share not to exceed; ``providers``: restrict instance suggestions (aws, azure, gcp).
    ``server``: the server the customer will run (``redis-7.2``, ``redis-7.4``, ``redis-8.x``, ``valkey-8.x``;
    see ``analysis.memory.SERVERS``); empty = ``redis-<redis_version>``. ``nuxeo_lts``: the Nuxeo LTS
    (``2019``, ``2021`` …), to check the server against Nuxeo's documented range; empty = not checked.
    ``failover_objective_s``: the longest outage a Nuxeo node may see when the master fails (s; 2–300: Nuxeo's
    first retry to its retry budget); the report suggests the Sentinel ``down-after-milliseconds`` that meets it."""

    topology: str = "sentinel"
    replicas: int = 2  # Sentinel: 3 Redis nodes (analysis.ha.sentinel_plan)
    sentinels: int = 3
    enterprise_nodes: int = 3
    persistence: str = ADVISED_PERSISTENCE  # AOF everysec (analysis.ha.persistence_advice)
    tls: bool = False
    headroom: float = 0.25
    latency_slo_p99_us: float = 2000.0
    max_cpu_utilization: float = 0.8
    redis_version: str = "7.2"
    allocator: str = "jemalloc"
    providers: tuple[str, ...] = ()
    server: str = ""
    nuxeo_lts: str = ""
    failover_objective_s: float = DEFAULT_FAILOVER_OBJECTIVE_S

    @property
    def server_id(self) -> str:
        """The target's server: ``server``, or ``redis-<redis_version>`` when not given."""
        if self.server:
            return self.server
        m = re.match(r"(\d+\.\d+)", str(self.redis_version))
        return f"redis-{m.group(1) if m else self.redis_version}"


@dataclass(frozen=True)
class TargetLoad:
    name: str
    description: str = ""
    business: BusinessLoad | None = None
    redis: RedisLoad | None = None
    mass_operation: MassOperation | None = None
    deployment: Deployment = field(default_factory=Deployment)

    @property
    def level(self) -> str:
        return "business" if self.business is not None else "redis"

    def scaled(self, factor: float) -> "TargetLoad":
        """The same target with every steady rate multiplied by ``factor`` (sensitivity analysis)."""
        from dataclasses import replace  # noqa: PLC0415

        b = self.business and replace(self.business, docs_per_s=self.business.docs_per_s * factor,
                                      uploads_per_s=self.business.uploads_per_s * factor,
                                      cache_invalidations_per_s=self.business.cache_invalidations_per_s * factor)
        r = self.redis and replace(self.redis, works_per_s=self.redis.works_per_s * factor,
                                   kv_ops_per_s=self.redis.kv_ops_per_s * factor,
                                   pubsub_messages_per_s=self.redis.pubsub_messages_per_s * factor)
        return replace(self, business=b, redis=r)


def _lines(text: str) -> dict[str, int]:
    """Dotted path → 1-based line of each key in the YAML document."""
    out: dict[str, int] = {}

    def walk(node, prefix):
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                path = f"{prefix}.{k.value}" if prefix else str(k.value)
                out[path] = k.start_mark.line + 1
                walk(v, path)

    walk(yaml.compose(text), "")
    return out


def _check(t: TargetLoad) -> list[tuple[str, str]]:
    errs = []
    if (t.business is None) == (t.redis is None):
        errs.append(("", "give exactly one of 'business' or 'redis'"))
    d = t.deployment
    if d.topology not in TOPOLOGIES:
        errs.append(("deployment.topology", f"must be one of {', '.join(TOPOLOGIES)}"))
    if d.persistence not in PERSISTENCE:
        errs.append(("deployment.persistence", f"must be one of {', '.join(PERSISTENCE)}"))
    if not 0 <= d.headroom < 1:
        errs.append(("deployment.headroom", "must be in [0, 1)"))
    if not 0 < d.max_cpu_utilization <= 1:
        errs.append(("deployment.max_cpu_utilization", "must be in (0, 1]"))
    if not 2 <= d.failover_objective_s <= 300:
        errs.append(("deployment.failover_objective_s", "must be in [2, 300] s (Nuxeo's first retry to its "
                                                        "nuxeo.redis.ha.timeout budget)"))
    from analysis.memory import SERVERS  # noqa: PLC0415
    from analysis.servers import NUXEO_LTS  # noqa: PLC0415

    if d.server_id not in SERVERS:
        key = "deployment.server" if d.server else "deployment.redis_version"
        errs.append((key, f"unknown server {d.server_id!r}: use one of {', '.join(SERVERS)}"))
    if d.nuxeo_lts and d.nuxeo_lts not in NUXEO_LTS:
        errs.append(("deployment.nuxeo_lts", f"unknown Nuxeo LTS {d.nuxeo_lts!r}: use one of {', '.join(NUXEO_LTS)}"))
    if d.replicas < 0 or d.sentinels < 0 or d.enterprise_nodes < 1:
        errs.append(("deployment", "replicas and sentinels must be >= 0, enterprise_nodes >= 1"))
    for section in ("business", "redis", "mass_operation"):
        obj = getattr(t, section)
        if obj is None:
            continue
        for name, value in vars(obj).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
                errs.append((f"{section}.{name}", "must be >= 0"))
    if t.business is not None and t.business.nodes < 1:
        errs.append(("business.nodes", "must be >= 1"))
    if t.business is not None:
        from rcapcore.nuxeo.lts import check_version  # noqa: PLC0415

        try:
            check_version(t.business.nuxeo_version)
        except BadInput as exc:
            errs.append(("business.nuxeo_version", str(exc).removeprefix("nuxeo_version ")))
    if t.mass_operation is not None and not t.mass_operation.scheduling_rtt_ms > 0:
        errs.append(("mass_operation.scheduling_rtt_ms", "must be > 0"))
    m = t.mass_operation
    if m is not None and (m.documents < 1 or m.docs_per_work < 1 or m.schedule_docs_per_s <= 0
                          or m.processing_ms <= 0 or m.threads_per_node < 1):
        errs.append(("mass_operation", "documents, docs_per_work, schedule_docs_per_s, processing_ms and "
                                       "threads_per_node must be positive"))
    return errs


def resolve(name_or_path: str) -> Path:
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or "/" in name_or_path:
        return resolve_path(p)  # from the cwd, else a checkout-relative ``data/targets/…`` from anywhere
    return TARGET_DIR / f"{name_or_path}.yaml"


def load_target(name_or_path: str) -> TargetLoad:
    """Read and validate a target-load YAML (a path, or a name under ``data/targets/``)."""
    path = resolve(name_or_path)
    if not path.is_file():
        raise BadInput(f"target-load file {path} does not exist")
    text = read_text(path, "target-load file")
    data = yaml_text(text, str(path))  # anchors/aliases refused before anything expands
    lines = _lines(text)
    if not isinstance(data, dict):
        raise BadInput(f"{path}:1: a target load is a YAML mapping")
    data.setdefault("name", path.stem)
    try:
        target = _build(TargetLoad, data, "@")
    except BadInput as exc:  # "@.business.docs_per_s: expected a number" → file:line: business.docs_per_s …
        msg = str(exc)
        m = re.match(r"@\.?([\w.\[\]]*): (.*)", msg)
        key, rest = (m.group(1), m.group(2)) if m else ("", msg)
        u = re.match(r"unknown field\(s\) ([\w]+)", rest)
        where = f"{key}.{u.group(1)}".lstrip(".") if u else key  # point at the unknown key itself
        known = [k for k in lines if where == k or where.startswith(k + ".")]
        line = lines.get(max(known, key=len)) if known else 1
        raise BadInput(f"{path}:{line}: {key + ': ' if key else ''}{rest}") from None
    errs = _check(target)
    if errs:
        key, problem = errs[0]
        known = [k for k in lines if key == k or key.startswith(k + ".")]
        line = lines.get(max(known, key=len)) if known else 1
        raise BadInput(f"{path}:{line}: {key + ': ' if key else ''}{problem}")
    return target
