"""``kv``: the KeyValue-store operation mix of spec §2.1, plus optional keyspace scanners."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rcapcore.errors import BadInput
from loadgen.workloads.base import KV_ROLE, SCANNER_ROLE, Dist, PlanItem, Step, Workload, scanners, share

MAX_ZIPF_KEYSPACE = 1_000_000
"""Largest ``keyspace`` a ``zipf`` key distribution accepts (its picker keeps a weight per key)."""

KV_OPS = ("set", "setex", "get", "mget", "incrby", "expire", "persist", "del", "cas_null_set", "cas_set",
          "cas_del", "lock_get", "batch_upload")


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


def check(p: KvParams, where: str) -> None:
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


def _scanner_count(p: KvParams) -> int:
    return p.gc_nodes if p.gc_period_s > 0 else 0


def plan(scenario: Any) -> list[PlanItem]:
    p = scenario.params
    n_scanners = _scanner_count(p)
    kv_users = scenario.users - n_scanners
    return ([PlanItem("kv", "Kv", kv_users, share(scenario.rate, kv_users), {"mix": dict(p.mix)})]
            + scanners(p, n_scanners))


def suite_steps(topology: str, nuxeo_nodes: int) -> tuple[Step, ...]:
    return (Step("KeyValue throughput sweep", "kv", 6, rates=(1000, 4000, 16000), full_s=120),)


# ``users`` counts the KV users; the scanners come on top
WORKLOAD = Workload("kv", KvParams, plan, {**KV_ROLE, **SCANNER_ROLE},
                    positive_ints=("keyspace", "mget_keys", "gc_nodes"), check=check, free_users=True,
                    extra_users=_scanner_count, suite_steps=suite_steps)
