"""Which users a scenario runs: roles, counts and open-loop rates, as plain data (no Locust import,
so ``rcap bench`` can size ``-u`` without monkey-patching its own process).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from rcapcore.nuxeo.queues import LIVE_WAIT_REQUEST, default_queues, queue_spec
from rcapcore.nuxeo.versions import profile


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
        scanners = p.gc_nodes if p.gc_period_s > 0 else 0
        kv_users = scenario.users - scanners
        return [PlanItem("kv", "Kv", kv_users, _share(rate, kv_users), {"mix": dict(p.mix)})] + _scanners(p, scanners)
    if w == "workmanager":
        shares, threads = workmanager_queues(scenario)
        items = [PlanItem("producer", "WorkProducer", p.producers, _share(rate, p.producers),
                          {"queues": shares, "max_works": p.works_per_producer,
                           "duplicate_ratio": p.duplicate_ratio})] if p.producers > 0 else []
        items += [PlanItem("consumer", f"WorkConsumer_{q}", p.nodes * n, None,
                           {"queue_id": q, "processing_ms": p.processing_ms})
                  for q, n in threads.items() if n > 0]
        return items
    if w == "mass-operation":
        from loadgen.scenarios import Dist  # noqa: PLC0415

        from rcapcore.nuxeo.payloads import work_type  # noqa: PLC0415

        consumers = p.nodes * p.threads
        producers = min(p.producers, p.nodes)  # one scheduling lock per queue per node (Corrections 4)
        items = [PlanItem("producer", "BurstProducer", producers, p.schedule_rate / producers,
                          {"queues": ((p.queue_id, p.work_type, 1.0),), "max_works": p.works // producers,
                           "duplicate_ratio": 0.0})]
        by_class = {}
        # live IndexingWorkers share the queue (Corrections 10); told apart from the burst by their class
        if p.live_indexing_per_s > 0 and work_type(p.work_type).java_class != work_type("indexing").java_class:
            n = _users_for(p.live_indexing_per_s)
            items.append(PlanItem("producer", "LiveIndexing", n, p.live_indexing_per_s / n,
                                  {"queues": ((p.queue_id, "indexing", 1.0),), "max_works": 0, "duplicate_ratio": 0.0}))
            by_class = {work_type("indexing").java_class: (Dist("fixed", p.live_processing_ms), LIVE_WAIT_REQUEST)}
        items.append(PlanItem("consumer", f"WorkConsumer_{p.queue_id}", consumers, None,
                              {"queue_id": p.queue_id, "processing_by_class": by_class,
                               "processing_ms": Dist("fixed", 1000.0 * consumers / p.consume_rate)}))
        return items
    if w == "pubsub":
        return [PlanItem("subscriber", "PubSubNode", p.nodes),
                PlanItem("publisher", "PubSubPublisher", p.publishers, _share(rate, p.publishers),
                         {"topics": dict(p.topics), "vcs_docs": p.vcs_docs, "dbs_ids": p.dbs_ids, "nodes": p.nodes})]
    if w == "nuxeo-cluster":
        return cluster_plan(scenario)
    raise ValueError(f"no plan for workload {w!r}")


def workmanager_queues(scenario: Any) -> tuple[tuple[tuple[str, str, float], ...], dict[str, int]]:
    """``((queue_id, work_type, share), …)`` and worker threads per node by queue for a ``workmanager``
    scenario, filling what the queue list leaves out from the scenario's Nuxeo version profile."""
    p, prof = scenario.params, profile(scenario.nuxeo_version)
    shares = tuple((q.queue_id or prof.queue_for(q.work_type), q.work_type, q.share) for q in p.queues)
    explicit: dict[str, int] = {}
    for (qid, _, _), q in zip(shares, p.queues):
        if q.threads is not None:
            explicit[qid] = explicit.get(qid, 0) + q.threads
    threads = {}
    for qid, _, _ in shares:  # a queue listed twice (two work types) has its threads once
        threads[qid] = explicit.get(qid, queue_spec(qid, nuxeo_version=prof.version).threads)
    if p.profile_queues:
        for spec in prof.queues():
            if spec.processing:
                threads.setdefault(spec.queue_id, spec.threads)
    return shares, threads

PRODUCER_MAX_RATE = 100.0
"""Works/s (or messages/s, KV ops/s) one paced user is given at most in ``nuxeo-cluster``; more users
share a higher rate, so one slow round trip does not throttle the whole stream."""


def _users_for(rate: float) -> int:
    return max(1, math.ceil(rate / PRODUCER_MAX_RATE))


def cluster_plan(scenario: Any) -> list[PlanItem]:
    """``nuxeo-cluster``: users from :func:`rcapcore.nuxeo.mix.derive_mix` (spec §7)."""
    from rcapcore.nuxeo.mix import derive_mix  # noqa: PLC0415
    from loadgen.scenarios import Dist  # noqa: PLC0415

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
        n = min(_users_for(total), p.nodes)
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
    return items + _scanners(p, p.nodes if p.gc_period_s > 0 else 0)


def _scanners(p: Any, nodes: int) -> list[PlanItem]:
    """One keyspace scanner per Nuxeo node (scheduled KEYS, spec Corrections 9)."""
    return [PlanItem("scanner", "KeyspaceScanner", nodes, None, {"period_s": p.gc_period_s})] if nodes else []
