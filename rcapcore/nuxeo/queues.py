"""Nuxeo's default work queues, their worker threads, and the idle poll interval (spec §1.4).

The table is 10.10's; 2021 enables ``common`` and ``raclupdate`` and ships ``videoConversion`` with the
server (spec Corrections 1): see :mod:`rcapcore.nuxeo.versions` for the per-version profiles.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from rcapcore.errors import BadInput
from rcapcore.nuxeo.lts import check_version

POLL_INTERVAL_MS = 1000  # REMOTE_POLL_INTERVAL_MS
POLL_JITTER_MS = 200  # REMOTE_POLL_INTERVAL_STDEV_MS: the wait is 1000 ± random(200) ms


@dataclass(frozen=True)
class QueueSpec:
    """One work queue of a node: ``threads`` workers, each polling when idle if ``processing``."""

    queue_id: str
    threads: int
    processing: bool = True
    addon: bool = False
    contributed_by: str = ""


DEFAULT_QUEUES: tuple[QueueSpec, ...] = (
    QueueSpec("default", 4, contributed_by="nuxeo-core-event"),
    QueueSpec("elasticSearchIndexing", 4, contributed_by="nuxeo-elasticsearch-core"),
    QueueSpec("updateThumbListener", 4, contributed_by="common-base template"),
    QueueSpec("common", 4, processing=False, contributed_by="common-base template (disabled)"),
    QueueSpec("raclupdate", 4, processing=False, contributed_by="common-base template (disabled)"),
    QueueSpec("pictureViewsGeneration", 2, contributed_by="nuxeo-platform-imaging-core"),
    QueueSpec("renditionBuilder", 2, contributed_by="nuxeo-platform-rendition-core"),
    QueueSpec("blobs", 2, contributed_by="nuxeo-automation-core"),
    QueueSpec("computeDigest", 2, contributed_by="nuxeo-core"),
    QueueSpec("collections", 1, contributed_by="various"),
    QueueSpec("updateACEStatus", 1, contributed_by="various"),
    QueueSpec("transientStorageGC", 1, contributed_by="various"),
    QueueSpec("permissionsPurge", 1, contributed_by="various"),
    QueueSpec("escalation", 4, contributed_by="nuxeo-routing-core"),
    QueueSpec("videoConversion", 2, addon=True, contributed_by="addon"),
    QueueSpec("threeDConversion", 1, addon=True, contributed_by="addon"),
    QueueSpec("quota", 1, addon=True, contributed_by="addon"),
    QueueSpec("csvImporter", 1, addon=True, contributed_by="addon"),
    QueueSpec("blobProviderDocumentUpdate", 2, addon=True, contributed_by="addon"),
)


ENABLED_IN_2021 = ("common", "raclupdate")  # NXP-30188, NXP-30541 (spec Corrections 1)
SHIPPED_IN_2021 = ("videoConversion",)


def _for_version(q: QueueSpec, nuxeo_version: str) -> QueueSpec:
    if nuxeo_version == "2021" and q.queue_id in ENABLED_IN_2021:
        return QueueSpec(q.queue_id, q.threads, True, q.addon, "common-base template (enabled in 2021)")
    if nuxeo_version == "2021" and q.queue_id in SHIPPED_IN_2021:
        return QueueSpec(q.queue_id, q.threads, q.processing, False, "shipped with the 2021 server")
    return q


def default_queues(addons: bool = False, nuxeo_version: str = "2021") -> tuple[QueueSpec, ...]:
    """The queues of a ``nuxeo_version`` node with the core server modules (and the listed addons if
    ``addons``): 28 polling threads in 10.10, 38 in 2021."""
    version = check_version(nuxeo_version)
    queues = (_for_version(q, version) for q in DEFAULT_QUEUES)
    return tuple(q for q in queues if addons or not q.addon)


def queue_spec(queue_id: str, threads: int | None = None, nuxeo_version: str = "2021") -> QueueSpec:
    """The default spec of ``queue_id``; an unknown id is a custom queue with 4 threads (Nuxeo's default)."""
    for q in DEFAULT_QUEUES:
        if q.queue_id == queue_id:
            q = _for_version(q, nuxeo_version)
            return q if threads is None else QueueSpec(q.queue_id, threads, q.processing, q.addon, q.contributed_by)
    if threads is not None and threads < 0:
        raise BadInput(f"queue {queue_id!r}: threads must be >= 0, got {threads}")
    return QueueSpec(queue_id, 4 if threads is None else threads, contributed_by="custom")


def polling_threads(queues: tuple[QueueSpec, ...] | None = None) -> int:
    """Worker threads that poll Redis when idle (processing-enabled queues) on one node."""
    return sum(q.threads for q in (default_queues() if queues is None else queues) if q.processing)


def idle_poll_interval_s(rng: random.Random) -> float:
    """The wait of an idle worker after an empty ``pop-work``: uniform 0.8–1.2 s."""
    return (POLL_INTERVAL_MS + rng.uniform(-POLL_JITTER_MS, POLL_JITTER_MS)) / 1000.0


MEAN_POLL_INTERVAL_S = POLL_INTERVAL_MS / 1000.0


LIVE_WAIT_REQUEST = "queue wait live indexing"
"""Request name of a live indexing work's time in the queue (schedule → pop, µs), in ``latency.jsonl``."""
