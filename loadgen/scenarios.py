"""Scenarios: what load to generate, as typed dataclasses read from ``data/scenarios/NAME.yaml``.

A scenario file has top-level fields (``workload``, ``users``, ``rate``, ``prefix``, ``seed``,
``drain_s``, ``description``, ``nuxeo_version``: ``"10.10"`` or ``"2021"``, the default; ``pool``:
``persistent``, one connection per user, or ``nuxeo``, Nuxeo's pool per emulated node) and a ``params`` mapping typed per workload
(its params dataclass in the workload registry, :mod:`loadgen.workloads`; this module knows no workload by name).
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rcapcore.errors import BadInput
from rcapcore.nuxeo.keys import DEFAULT_PREFIX, check_prefix
from rcapcore.nuxeo.lts import check_version
from rcapcore.paths import shipped
from rcapcore.validate import load_yaml, yaml_text
from loadgen.workloads import WORKLOADS
from loadgen.workloads.base import Dist
from rcapcore.config import build as _build  # the project's one typed-mapping builder

SCENARIO_DIR = shipped("scenarios")
"""The shipped scenarios (the checkout's ``data/scenarios``, or the installed package's copy)."""


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


def scenario_from_json(text: str) -> Scenario:
    """Rebuild a :class:`Scenario` from :meth:`Scenario.to_json`."""
    data = json.loads(text)
    params = _build(WORKLOADS[data["workload"]].params, data.pop("params"), "params")
    return _validated(Scenario(params=params, **data))


def _fixed_users(workload: str, params: Any, prefix: str, nuxeo_version: str = "2021") -> int | None:
    """Users fixed by the params (sum of the plan's counts), or ``None`` when ``users`` is free."""
    w = WORKLOADS[workload]
    if w.free_users:
        return None
    probe = Scenario(name="", workload=workload, params=params, users=1, prefix=prefix, nuxeo_version=nuxeo_version)
    return sum(item.count for item in w.plan(probe))


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
    if workload not in WORKLOADS:
        raise BadInput(f"{where}: workload must be one of {', '.join(WORKLOADS)}, got {workload!r}")
    params_cls = WORKLOADS[workload].params
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
    _check_counts(workload, params, f"scenario {name}")
    top = {k: v for k, v in data.items() if k != "workload"}
    scalar = _build(_TopLevel, top, where)
    version = check_version(scalar.nuxeo_version)
    users = _fixed_users(workload, params, scalar.prefix, version)
    if users is None:
        users = (scalar.users if scalar.users is not None else 1) + WORKLOADS[workload].extra_users(params)
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


def _check_counts(workload: str, params: Any, where: str) -> None:
    """Counts that must be >= 1, checked before the plan divides by them (``producers=0`` was a traceback)."""
    for name in WORKLOADS[workload].positive_ints:
        if getattr(params, name) < 1:
            raise BadInput(f"{where}: {name} must be >= 1, got {getattr(params, name)}")


def _validated(s: Scenario) -> Scenario:
    where = f"scenario {s.name}"
    check_prefix(s.prefix)
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
    w = WORKLOADS[s.workload]
    _check_counts(s.workload, p, where)
    for f in dataclasses.fields(p):
        v = getattr(p, f.name)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and v < 0:
            raise BadInput(f"{where}: {f.name} must be >= 0, got {v}")
        if isinstance(v, Dist):
            v.validate(f"{where}: {f.name}")
    w.check(p, where)
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
