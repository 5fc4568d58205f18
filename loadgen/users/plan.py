"""Which users a scenario runs: roles, counts and open-loop rates, as plain data (no Locust import,
so ``rcap bench`` can size ``-u`` without monkey-patching its own process).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from loadgen.nuxeo.queues import default_queues, queue_spec


@dataclass(frozen=True)
class PlanItem:
    """``count`` Locust users of ``role`` (producer, consumer, kv, kv-set, subscriber, publisher), each paced
    at ``rate_per_user`` ops/s (``None`` = closed loop), with role attributes ``attrs``."""

    role: str
    name: str
    count: int
    rate_per_user: float | None = None
    attrs: dict[str, Any] = field(default_factory=dict)


def _share(rate: float | None, count: int) -> float | None:
    return None if rate is None else rate / max(1, count)


def plan(scenario: Any) -> list[PlanItem]:
    """The user plan of a :class:`loadgen.scenarios.Scenario` (``users`` is the sum of the counts)."""
    w, p, rate = scenario.workload, scenario.params, scenario.rate
    if w == "kv-set":
        return [PlanItem("kv-set", "KvSet", scenario.users, _share(rate, scenario.users))]
    if w == "work-lifecycle":
        return [PlanItem("lifecycle", "WorkLifecycle", scenario.users, _share(rate, scenario.users),
                         {"queue_id": p.queue_id, "work_type_name": p.work_type})]
    if w == "kv":
        return [PlanItem("kv", "Kv", scenario.users, _share(rate, scenario.users), {"mix": dict(p.mix)})]
    if w == "workmanager":
        items = [PlanItem("producer", "WorkProducer", p.producers, _share(rate, p.producers),
                          {"queues": tuple((q.queue_id, q.work_type, q.share) for q in p.queues),
                           "max_works": p.works_per_producer, "duplicate_ratio": p.duplicate_ratio})]
        items += [PlanItem("consumer", f"WorkConsumer_{q.queue_id}", p.nodes * q.threads, None,
                           {"queue_id": q.queue_id, "processing_ms": p.processing_ms})
                  for q in p.queues if q.threads > 0]
        return items
    if w == "mass-operation":
        from loadgen.scenarios import Dist  # noqa: PLC0415

        consumers = p.nodes * p.threads
        return [PlanItem("producer", "BurstProducer", p.producers, p.schedule_rate / p.producers,
                         {"queues": ((p.queue_id, p.work_type, 1.0),), "max_works": p.works // p.producers,
                          "duplicate_ratio": 0.0}),
                PlanItem("consumer", f"WorkConsumer_{p.queue_id}", consumers, None,
                         {"queue_id": p.queue_id, "processing_ms": Dist("fixed", 1000.0 * consumers / p.consume_rate)})]
    if w == "pubsub":
        return [PlanItem("subscriber", "PubSubNode", p.nodes),
                PlanItem("publisher", "PubSubPublisher", p.publishers, _share(rate, p.publishers),
                         {"topics": dict(p.topics), "vcs_docs": p.vcs_docs, "dbs_ids": p.dbs_ids, "nodes": p.nodes})]
    if w == "nuxeo-cluster":
        return cluster_plan(scenario)
    raise ValueError(f"no plan for workload {w!r}")


PRODUCER_MAX_RATE = 100.0
"""Works/s (or messages/s, KV ops/s) one paced user is given at most in ``nuxeo-cluster``; more users
share a higher rate, so one slow round trip does not throttle the whole stream."""


def _users_for(rate: float) -> int:
    return max(1, math.ceil(rate / PRODUCER_MAX_RATE))


def cluster_plan(scenario: Any) -> list[PlanItem]:
    """``nuxeo-cluster``: users from :func:`loadgen.nuxeo.mix.derive_mix` (spec §7)."""
    from loadgen.nuxeo.mix import BusinessLoad, derive_mix  # noqa: PLC0415
    from loadgen.scenarios import Dist  # noqa: PLC0415

    p = scenario.params
    mix = derive_mix(BusinessLoad(nodes=p.nodes, docs_per_s=p.docs_per_s, works_per_doc=p.works_per_doc,
                                  uploads_per_s=p.uploads_per_s, cache_invalidations_per_s=p.cache_invalidations_per_s,
                                  docs_per_transaction=p.docs_per_transaction, storage=p.storage,
                                  work_processing_s=p.work_processing_ms / 1000.0,
                                  lock_checks_per_doc=p.lock_checks_per_doc, prefix=scenario.prefix))
    items: list[PlanItem] = []
    for i, q in enumerate(mix.queues):
        if q.works_per_s > 0:
            n = _users_for(q.works_per_s)
            items.append(PlanItem("producer", f"WorkProducer_{i}_{q.queue_id}", n, q.works_per_s / n,
                                  {"queues": ((q.queue_id, q.work_type, 1.0),), "max_works": 0, "duplicate_ratio": 0.0}))
    queues = {q.queue_id: q for q in default_queues()}
    for q in mix.queues:
        queues.setdefault(q.queue_id, queue_spec(q.queue_id))
    processing = Dist("fixed", p.work_processing_ms)
    for q in queues.values():
        if q.processing and q.threads > 0:
            items.append(PlanItem("consumer", f"WorkConsumer_{q.queue_id}", p.nodes * q.threads, None,
                                  {"queue_id": q.queue_id, "processing_ms": processing}))
    if mix.channels:
        items.append(PlanItem("subscriber", "PubSubNode", p.nodes))
    for c in mix.channels:
        topic = c.channel[len(scenario.prefix):].split(":")[0]
        n = _users_for(c.messages_per_s)
        items.append(PlanItem("publisher", f"Publisher_{topic}", n, c.messages_per_s / n,
                              {"topics": {topic: 1.0}, "vcs_docs": max(1, round(p.docs_per_transaction)),
                               "dbs_ids": max(1, round(p.docs_per_transaction)), "nodes": p.nodes}))
    lock_rate = sum(k.ops_per_s for k in mix.kv if k.purpose.startswith("document lock"))
    if lock_rate > 0:
        n = _users_for(lock_rate)
        items.append(PlanItem("kv", "LockChecks", n, lock_rate / n, {"mix": {"lock_get": 1.0}}))
    if p.uploads_per_s > 0:
        n = max(1, min(p.kv_users, math.ceil(p.uploads_per_s)))
        items.append(PlanItem("kv", "BatchUploads", n, p.uploads_per_s / n, {"mix": {"batch_upload": 1.0}}))
    return items
