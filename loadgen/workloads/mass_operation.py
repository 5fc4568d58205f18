"""``mass-operation``: a burst of works scheduled faster than consumers drain them (backlog and memory growth)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rcapcore.errors import BadInput
from rcapcore.nuxeo.payloads import work_type
from loadgen.workloads.base import WORK_ROLES, Dist, PlanItem, Step, Workload, users_for
from rcapcore import topologies
from rcapcore.nuxeo.queues import LIVE_WAIT_REQUEST


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


"""Request name of a live indexing work's time in the queue (schedule → pop, µs), in ``latency.jsonl``."""


def check(p: MassOperationParams, where: str) -> None:
    work_type(p.work_type)
    if not (p.schedule_rate > 0 and p.consume_rate > 0):
        raise BadInput(f"{where}: schedule_rate and consume_rate must be > 0 (works/s)")


def plan(scenario: Any) -> list[PlanItem]:
    p = scenario.params
    consumers = p.nodes * p.threads
    producers = min(p.producers, p.nodes)  # one scheduling lock per queue per node (Corrections 4)
    items = [PlanItem("producer", "BurstProducer", producers, p.schedule_rate / producers,
                      {"queues": ((p.queue_id, p.work_type, 1.0),), "max_works": p.works // producers,
                       "duplicate_ratio": 0.0})]
    by_class = {}
    # live IndexingWorkers share the queue (Corrections 10); told apart from the burst by their class
    if p.live_indexing_per_s > 0 and work_type(p.work_type).java_class != work_type("indexing").java_class:
        n = users_for(p.live_indexing_per_s)
        items.append(PlanItem("producer", "LiveIndexing", n, p.live_indexing_per_s / n,
                              {"queues": ((p.queue_id, "indexing", 1.0),), "max_works": 0, "duplicate_ratio": 0.0}))
        by_class = {work_type("indexing").java_class: (Dist("fixed", p.live_processing_ms), LIVE_WAIT_REQUEST)}
    items.append(PlanItem("consumer", f"WorkConsumer_{p.queue_id}", consumers, None,
                          {"queue_id": p.queue_id, "processing_by_class": by_class,
                           "processing_ms": Dist("fixed", 1000.0 * consumers / p.consume_rate)}))
    return items


def suite_steps(topology: str, nuxeo_nodes: int) -> tuple[Step, ...]:
    steps = [Step("mass operation: backlog and memory growth", "mass-operation", 20, full_s=120)]
    if topology != topologies.EXTERNAL:
        steps.append(Step("memory wall: reindex works until OOM at maxmemory 32 MiB", "mass-operation", 0,
                          kind="memory-wall"))
    return tuple(steps)


WORKLOAD = Workload("mass-operation", MassOperationParams, plan, WORK_ROLES,
                    positive_ints=("works", "threads", "nodes", "producers"), check=check, suite_steps=suite_steps)
