"""Nuxeo version profiles: what differs between LTS 2019 (10.10) and LTS 2021 on Redis (spec Corrections 1,
§2.3). The Redis code itself is the same in both; the defaults around it are not.

``profile("2021")`` (the default: the last LTS with Redis support) gives the node's default queues and
threads, the queue each work type goes to, and the transient store's TTLs. Any other version is one
:class:`BadInput` line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rcapcore.nuxeo.lts import DEFAULT_VERSION, check_version
from rcapcore.nuxeo.queues import default_queues

SPEC_IDLE_POLLS_PER_S = {"10.10": 28.0, "2021": 38.0}
"""The spec's idle ``pop-work`` rate of one node (Corrections 1): the figure the idle test checks."""


@dataclass(frozen=True)
class NuxeoProfile:
    """What one Nuxeo LTS does by default. TTLs in seconds."""

    version: str
    work_queue: dict[str, str]  # work type (payloads.WORK_TYPES) → queue id
    transient_ttl_s: int  # nuxeo.transientstore.ttl (first level) × 60
    transient_ttl2_s: int = 600  # nuxeo.transientstore.ttl2 × 60, same in both
    # Works carry a traceContext field in 2021 only: ≈50 B more for the types the spec measured both ways
    # (payloads.work_type(name, version) gives each version's size).

    def queues(self, addons: bool = False):
        """The default queues of one node (``queues.QueueSpec``)."""
        return default_queues(addons, self.version)

    def idle_polling_threads(self) -> int:
        """Worker threads polling Redis on an idle node (processing-enabled queues)."""
        return sum(q.threads for q in self.queues() if q.processing)

    def queue_for(self, work_type: str) -> str:
        """The queue a work type goes to in this version (unknown types: ``default``, as Nuxeo's categories)."""
        return self.work_queue.get(work_type, "default")


_COMMON_WORK_QUEUES = {"computeDigest": "computeDigest", "pictureViews": "pictureViewsGeneration",
                       "indexing": "elasticSearchIndexing", "reindexBucket": "elasticSearchIndexing"}

PROFILES = {
    "10.10": NuxeoProfile("10.10", {**_COMMON_WORK_QUEUES, "fulltextExtractor": "default", "listener": "default"},
                          transient_ttl_s=240 * 60),
    # 2021: fulltextExtractor and listener works (e.g. notificationListener) go to `common` (Corrections 1)
    "2021": NuxeoProfile("2021", {**_COMMON_WORK_QUEUES, "fulltextExtractor": "common", "listener": "common"},
                         transient_ttl_s=4320 * 60),
}


def profile(version: Any = DEFAULT_VERSION) -> NuxeoProfile:
    """The profile of ``version`` (``"10.10"`` or ``"2021"``)."""
    return PROFILES[check_version(version)]
