"""``workmanager``: producers schedule works (``rate`` = works/s), consumers emulate worker threads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rcapcore.errors import BadInput
from rcapcore.nuxeo.payloads import work_type
from rcapcore.nuxeo.queues import queue_spec
from rcapcore.nuxeo.versions import profile
from loadgen.workloads.base import WORK_ROLES, Dist, PlanItem, Step, Workload, share
from rcapcore import topologies


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


def check(p: WorkManagerParams, where: str) -> None:
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


def plan(scenario: Any) -> list[PlanItem]:
    p, rate = scenario.params, scenario.rate
    shares, threads = workmanager_queues(scenario)
    items = [PlanItem("producer", "WorkProducer", p.producers, share(rate, p.producers),
                      {"queues": shares, "max_works": p.works_per_producer,
                       "duplicate_ratio": p.duplicate_ratio})] if p.producers > 0 else []
    items += [PlanItem("consumer", f"WorkConsumer_{q}", p.nodes * n, None,
                       {"queue_id": q, "processing_ms": p.processing_ms})
              for q, n in threads.items() if n > 0]
    return items


def suite_steps(topology: str, nuxeo_nodes: int) -> tuple[Step, ...]:
    # the target's node count of consumer threads, so completions keep up with schedules at every
    # step: the utilization-law fit divides CPU by works completed
    steps = [Step("WorkManager throughput sweep", "workmanager", 8, rates=(100, 300, 1000),
                  overrides={"nodes": str(nuxeo_nodes)}, full_s=180)]
    if topology in topologies.with_sentinels():
        steps.append(Step("failover: master killed under WorkManager load", "workmanager", 20, kind="failover",
                          full_s=60))
    return tuple(steps)


WORKLOAD = Workload("workmanager", WorkManagerParams, plan, WORK_ROLES, positive_ints=("nodes",), check=check,
                    suite_steps=suite_steps)
