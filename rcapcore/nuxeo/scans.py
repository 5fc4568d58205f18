"""Keyspace-wide commands Nuxeo runs on a schedule (spec Corrections 9, §2.3, §4.6).

Every 15 minutes each node runs the transient-store GC of every store: ``KEYS <p>transient_<store>:*``
twice (marking pass, then ``computeStorageSize``); listing bulk statuses (``getStatuses``/``await``) runs
``KEYS <p>bulk:status:*``. ``KEYS`` walks the *whole* keyspace, so it blocks Redis for a time proportional
to the total number of keys, whatever the pattern matches. We model the KEYS calls (the blocking part);
the per-entry GETs that follow are ordinary small reads and are left out.

The patterns always start with the run's prefix: a scan only ever *returns* the run's own keys.
"""

from __future__ import annotations

from rcapcore.nuxeo.keys import DEFAULT_PREFIX, check_prefix
from rcapcore.nuxeo.ops import Op, raw

GC_PERIOD_S = 900.0  # transientStoreGC schedule 0 0/15 * * * ?
KEYS_PER_STORE = 2  # doGC, then computeStorageSize
TRANSIENT_STORES = ("default", "BatchManagerCache", "automation", "download", "csvExport", "LazyRenditionCache",
                    "authorizationRequestStore")
"""The transient stores a server declares by default (spec §2.3)."""
BULK_STATUS_SCANS_PER_PERIOD = 1  # one status listing per node per period (admin/await; an assumption)

TRANSIENT_GC_REQUEST = "KEYS transient-gc"
BULK_STATUS_REQUEST = "KEYS bulk-status"


def transient_gc_keys(store: str, prefix: str = DEFAULT_PREFIX) -> Op:
    """``KEYS <prefix>transient_<store>:*`` (one of the GC's two scans of ``store``)."""
    return Op(TRANSIENT_GC_REQUEST, ("KEYS", f"{check_prefix(prefix)}transient_{store}:*".encode()), raw)


def bulk_status_keys(prefix: str = DEFAULT_PREFIX) -> Op:
    """``KEYS <prefix>bulk:status:*`` (``BulkService.getStatuses``)."""
    return Op(BULK_STATUS_REQUEST, ("KEYS", f"{check_prefix(prefix)}bulk:status:*".encode()), raw)


def period_scans(prefix: str = DEFAULT_PREFIX, stores: tuple[str, ...] = TRANSIENT_STORES) -> list[Op]:
    """The KEYS one node sends per GC period: 2 per transient store, then the bulk status listing."""
    ops = [transient_gc_keys(s, prefix) for s in stores for _ in range(KEYS_PER_STORE)]
    return ops + [bulk_status_keys(prefix)] * BULK_STATUS_SCANS_PER_PERIOD


def scans_per_period(nodes: int, stores: int = len(TRANSIENT_STORES)) -> int:
    """KEYS calls per GC period for ``nodes`` Nuxeo nodes."""
    return nodes * (KEYS_PER_STORE * stores + BULK_STATUS_SCANS_PER_PERIOD)
