"""``nuxeo-cluster``: the Redis traffic of a Nuxeo cluster derived from business inputs (spec §7)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from rcapcore.errors import BadInput
from rcapcore.nuxeo.mix import BusinessLoad, derive_mix
from rcapcore.nuxeo.queues import default_queues, queue_spec
from loadgen.workloads.base import (KV_ROLE, PUBSUB_ROLES, SCANNER_ROLE, WORK_ROLES, Dist, PlanItem, Workload,
                                    scanners, users_for)


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


def check(p: NuxeoClusterParams, where: str) -> None:
    if p.storage not in ("vcs", "dbs"):
        raise BadInput(f"{where}: storage must be vcs or dbs")


def plan(scenario: Any) -> list[PlanItem]:
    """Users from :func:`rcapcore.nuxeo.mix.derive_mix` (spec §7)."""
    p = scenario.params
    # the params are a BusinessLoad: only the scenario-level version and prefix are filled in
    mix = derive_mix(replace(p, nuxeo_version=scenario.nuxeo_version, prefix=scenario.prefix))
    items: list[PlanItem] = []
    by_queue: dict[str, list] = {}
    for q in mix.queues:
        if q.works_per_s > 0:
            by_queue.setdefault(q.queue_id, []).append(q)
    for qid, qs in by_queue.items():
        # scheduling is serialized per queue per node (spec Corrections 4): at most one producer per node
        total = sum(q.works_per_s for q in qs)
        n = min(users_for(total), p.nodes)
        items.append(PlanItem("producer", f"WorkProducer_{qid}", n, total / n,
                              {"queues": tuple((qid, q.work_type, q.works_per_s / total) for q in qs),
                               "max_works": 0, "duplicate_ratio": 0.0}))
    queues = {q.queue_id: q for q in default_queues(nuxeo_version=scenario.nuxeo_version)}
    for q in mix.queues:
        queues.setdefault(q.queue_id, queue_spec(q.queue_id, nuxeo_version=scenario.nuxeo_version))
    processing = Dist("fixed", p.work_processing_ms)
    for q in queues.values():
        if q.processing and q.threads > 0:
            items.append(PlanItem("consumer", f"WorkConsumer_{q.queue_id}", p.nodes * q.threads, None,
                                  {"queue_id": q.queue_id, "processing_ms": processing}))
    if mix.channels:
        items.append(PlanItem("subscriber", "PubSubNode", p.nodes))
    for c in mix.channels:
        topic = c.channel[len(scenario.prefix):].split(":")[0]
        n = users_for(c.messages_per_s)
        items.append(PlanItem("publisher", f"Publisher_{topic}", n, c.messages_per_s / n,
                              {"topics": {topic: 1.0}, "vcs_docs": max(1, round(p.docs_per_transaction)),
                               "dbs_ids": max(1, round(p.docs_per_transaction)), "nodes": p.nodes}))
    lock_rate = sum(k.ops_per_s for k in mix.kv if k.purpose.startswith("document lock"))
    if lock_rate > 0:
        n = users_for(lock_rate)
        items.append(PlanItem("kv", "LockChecks", n, lock_rate / n, {"mix": {"lock_get": 1.0}}))
    if p.uploads_per_s > 0:
        n = max(1, min(p.kv_users, math.ceil(p.uploads_per_s)))
        items.append(PlanItem("kv", "BatchUploads", n, p.uploads_per_s / n, {"mix": {"batch_upload": 1.0}}))
    return items + scanners(p, p.nodes if p.gc_period_s > 0 else 0)


WORKLOAD = Workload("nuxeo-cluster", NuxeoClusterParams, plan,
                    {**WORK_ROLES, **PUBSUB_ROLES, **KV_ROLE, **SCANNER_ROLE}, positive_ints=("nodes",), check=check)
