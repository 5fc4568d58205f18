"""Business load → Redis traffic (spec §7): what a Nuxeo cluster sends to Redis per second.

``derive_mix(BusinessLoad(nodes=4, docs_per_s=200))`` gives works/s per queue with payload sizes,
idle ``pop-work`` polls, PubSub messages and deliveries per channel, and KV round trips, all as rates
(per second, cluster-wide). Request names match the builders' ``Op.name`` so a load generator can
weight its operations with :meth:`RedisMix.ops_per_s_by_name`.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, ClassVar
from functools import lru_cache

from rcapcore.errors import BadInput
from rcapcore.nuxeo.keys import DEFAULT_PREFIX, cacheinval_channel, dbs_channel, vcs_channel
from rcapcore.nuxeo.kv import nominal_steps
from rcapcore.nuxeo.queues import MEAN_POLL_INTERVAL_S, QueueSpec, default_queues, queue_spec
from rcapcore.nuxeo.payloads import CACHEINVAL_MEAN_BYTES, DBS_ID_BYTES, VCS_EXTRA_DOC_BYTES, VCS_ONE_DOC_BYTES, work_type
from rcapcore.nuxeo.transientstore import batch_upload, transient_store
from rcapcore.nuxeo.lts import DEFAULT_VERSION, check_version
from rcapcore.nuxeo.versions import profile

EVALSHA_PER_WORK = 4
SPEC_REPOLL_POPS_PER_WORK = 0.5  # the spec's estimate (Corrections 3), for comparison only


def repoll_pops_per_work(works_per_s_per_idle_thread: float) -> float:
    """Extra (empty) ``pop-work`` per work from worker re-polls (spec Corrections 3), beyond the
    lifecycle's pop and the idle threads' timer polls: ``1 − (1 − e^−x) / x`` with x = works per second
    per idle thread × the 1 s poll interval. Rare works (x → 0): a wake only advances a poll that was
    due, no extra; busy queues (x → ∞): timers never fire, one extra pop per work. Fitted to measurements
    on the workmanager scenario (docs/nuxeo-model.md: +0.46 to +0.53 at 20 works/s, +0.90 at 100 works/s)."""
    x = works_per_s_per_idle_thread * MEAN_POLL_INTERVAL_S
    if x <= 0:
        return 0.0
    return 1.0 - (1.0 - math.exp(-x)) / x
INNER_COMMANDS_PER_WORK = 32
LIFECYCLE_OPS = ("EVALSHA scheduling-work", "EVALSHA pop-work", "EVALSHA running-work",
                 "EVALSHA completed-work")


@dataclass(frozen=True)
class WorkShare:
    """``works_per_doc`` works of type ``work_type`` (see ``payloads.WORK_TYPES``) into ``queue_id``."""

    queue_id: str
    works_per_doc: float
    work_type: str


@dataclass(frozen=True)
class BusinessLoad:
    """What the Nuxeo cluster does, cluster-wide, per second.

    ``works_per_doc`` counts async works per created/updated document; unless ``work_shares`` is
    given it is split as: 1 ES ``IndexingWorker`` per transaction (if ``elasticsearch``), then one
    ``FulltextExtractorWork`` per document, the rest ``ListenerWork``\\ s, the last two in ``default``.
    ``update_fraction`` is the share of transactions that update/delete (DBS publishes only those).
    ``work_processing_ms`` is the mean time a worker thread spends on a work (it then does not poll).
    ``kv_keys``/``kv_value_bytes``/``kv_ttl``: long-lived KV keys (bulk statuses, transient store entries,
    locks) the cluster holds, for the memory sizing; the mix's rates do not use them.

    The one business-load type: target files (``business:``), the ``nuxeo-cluster`` scenario's params (a
    subclass adding the load generator's own knobs) and :func:`derive_mix` all use it, with these names and
    units. Target files written before it used ``nuxeo_nodes``; :data:`ALIASES` still accepts it.
    ``nuxeo_version`` picks the default queues, the queue of each work type and the transient-store TTL
    (:mod:`rcapcore.nuxeo.versions`); ``repoll_pops_per_work`` (None: :func:`repoll_pops_per_work` per
    queue) counts the empty pop-work a worker sends after each work.
    """

    ALIASES: ClassVar[dict[str, str]] = {"nuxeo_nodes": "nodes"}
    """Old YAML names (target files) → field names; read by the typed config builder."""

    nuxeo_version: Any = DEFAULT_VERSION  # "10.10" or "2021" (YAML's integer 2021 accepted), checked below
    nodes: int = 1
    docs_per_s: float = 0.0
    works_per_doc: float = 3.0
    uploads_per_s: float = 0.0
    cache_invalidations_per_s: float = 0.0
    docs_per_transaction: float = 1.0
    update_fraction: float = 0.5
    storage: str = "vcs"
    repository: str = "default"
    elasticsearch: bool = True
    lock_checks_per_doc: float = 1.0
    work_processing_ms: float = 20.0
    metrics_reads_per_s_per_node: float = 0.0
    node_id_chars: int = 1
    work_shares: tuple[WorkShare, ...] | None = None
    queues: tuple[QueueSpec, ...] | None = None
    prefix: str = DEFAULT_PREFIX
    repoll_pops_per_work: float | None = None
    kv_keys: int = 0
    kv_value_bytes: int = 200
    kv_ttl: bool = True

    def __post_init__(self) -> None:
        # messages are "<field>: …", so the config builder can point at the field (file:line in YAML)
        try:
            object.__setattr__(self, "nuxeo_version", check_version(self.nuxeo_version))
        except BadInput as exc:
            raise BadInput(f"nuxeo_version: {str(exc).removeprefix('nuxeo_version ')}") from None
        if self.nodes < 1:
            raise BadInput(f"nodes: must be >= 1, got {self.nodes}")
        for name in ("docs_per_s", "works_per_doc", "uploads_per_s", "cache_invalidations_per_s",
                     "lock_checks_per_doc", "work_processing_ms", "metrics_reads_per_s_per_node",
                     "repoll_pops_per_work", "kv_keys", "kv_value_bytes"):
            if (getattr(self, name) or 0) < 0:
                raise BadInput(f"{name}: must be >= 0, got {getattr(self, name)}")
        if self.docs_per_transaction < 1:
            raise BadInput(f"docs_per_transaction: must be >= 1, got {self.docs_per_transaction}")
        if not 0 <= self.update_fraction <= 1:
            raise BadInput(f"update_fraction: must be in [0, 1], got {self.update_fraction}")
        if self.storage not in ("vcs", "dbs"):
            raise BadInput(f"storage: must be 'vcs' or 'dbs', got {self.storage!r}")


@dataclass(frozen=True)
class QueueTraffic:
    """One queue's works: 4 EVALSHAs (32 inner commands) each; payload sent twice, received once."""

    queue_id: str
    work_type: str
    works_per_s: float
    payload_bytes: float
    threads_per_node: int
    busy_threads_per_node: float

    @property
    def evalsha_per_s(self) -> float:
        return EVALSHA_PER_WORK * self.works_per_s

    @property
    def inner_commands_per_s(self) -> float:
        return INNER_COMMANDS_PER_WORK * self.works_per_s

    @property
    def payload_bytes_to_redis_per_s(self) -> float:
        return 2 * self.payload_bytes * self.works_per_s

    @property
    def payload_bytes_from_redis_per_s(self) -> float:
        return self.payload_bytes * self.works_per_s

    @property
    def saturated(self) -> bool:
        """More work arrives than the threads can process: the backlog (and Redis memory) grows."""
        return self.busy_threads_per_node >= self.threads_per_node


@dataclass(frozen=True)
class ChannelTraffic:
    """One PubSub channel: messages published (cluster-wide) and delivered (× nodes, sender included).

    ``kind`` is ``vcs``, ``dbs`` or ``cacheinval``: the ``PubSubCommands`` builder and ``PUBLISH <kind>`` name.
    """

    channel: str
    kind: str
    messages_per_s: float
    message_bytes: float
    deliveries_per_s: float

    @property
    def delivered_bytes_per_s(self) -> float:
        return self.message_bytes * self.deliveries_per_s


@dataclass(frozen=True)
class KVTraffic:
    """KV round trips of one request name (``GET``, ``EVALSHA compare-and-set`` …) for one purpose."""

    purpose: str
    op: str
    ops_per_s: float


@dataclass(frozen=True)
class RedisMix:
    """The Redis traffic of a :class:`BusinessLoad` (all rates per second, cluster-wide)."""

    load: BusinessLoad
    queues: tuple[QueueTraffic, ...]
    idle_pops_per_s: float
    repoll_pops_per_s: float
    metrics_reads_per_s: float
    channels: tuple[ChannelTraffic, ...]
    kv: tuple[KVTraffic, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def works_per_s(self) -> float:
        return sum(q.works_per_s for q in self.queues)

    @property
    def publishes_per_s(self) -> float:
        return sum(c.messages_per_s for c in self.channels)

    @property
    def evalsha_per_work(self) -> float:
        """WorkManager EVALSHAs per work: the 4 of the lifecycle plus the workers' re-polls."""
        works = self.works_per_s
        return EVALSHA_PER_WORK + (self.repoll_pops_per_s / works if works else 0.0)

    @property
    def deliveries_per_s(self) -> float:
        return sum(c.deliveries_per_s for c in self.channels)

    @property
    def payload_bytes_to_redis_per_s(self) -> float:
        """Work payloads (sent twice) and published messages, in bytes/s (command framing excluded)."""
        return (sum(q.payload_bytes_to_redis_per_s for q in self.queues)
                + sum(c.message_bytes * c.messages_per_s for c in self.channels))

    @property
    def payload_bytes_from_redis_per_s(self) -> float:
        """Popped work payloads and PubSub deliveries, in bytes/s (command framing excluded)."""
        return (sum(q.payload_bytes_from_redis_per_s for q in self.queues)
                + sum(c.delivered_bytes_per_s for c in self.channels))

    def ops_per_s_by_name(self) -> dict[str, float]:
        """Round trips per second by request name (the builders' ``Op.name``)."""
        ops: Counter[str] = Counter()
        for q in self.queues:
            for name in LIFECYCLE_OPS:
                ops[name] += q.works_per_s
        ops["EVALSHA pop-work"] += self.idle_pops_per_s + self.repoll_pops_per_s
        if self.metrics_reads_per_s:
            ops["EVALSHA metrics-work-queue"] += self.metrics_reads_per_s
        for c in self.channels:
            ops[f"PUBLISH {c.kind}"] += c.messages_per_s
        for k in self.kv:
            ops[k.op] += k.ops_per_s
        return {name: rate for name, rate in ops.items() if rate > 0}

    @property
    def ops_per_s(self) -> float:
        """All round trips per second (commands sent by clients; PubSub deliveries not included)."""
        return sum(self.ops_per_s_by_name().values())


@lru_cache(maxsize=1)
def batch_upload_ops() -> dict[str, int]:
    """Round trips of one batch upload by request name (Corrections 2: 7 + 28 + 13 + 26 = 74)."""
    return dict(Counter(op.name for op in nominal_steps(batch_upload(transient_store(), "batchId-mix"))))


def _shares(load: BusinessLoad) -> tuple[WorkShare, ...]:
    if load.work_shares is not None:
        return load.work_shares
    queue_of = profile(load.nuxeo_version).queue_for
    shares = []
    remaining = load.works_per_doc
    if load.elasticsearch and remaining > 0:
        es = min(remaining, 1.0 / load.docs_per_transaction)
        shares.append(WorkShare(queue_of("indexing"), es, "indexing"))
        remaining -= es
    fulltext = min(remaining, 1.0)
    if fulltext > 0:
        shares.append(WorkShare(queue_of("fulltextExtractor"), fulltext, "fulltextExtractor"))
        remaining -= fulltext
    if remaining > 1e-12:
        shares.append(WorkShare(queue_of("listener"), remaining, "listener"))
    return tuple(shares)


def derive_mix(load: BusinessLoad) -> RedisMix:
    """Follow the spec's §7 recipe: per transaction, per upload, per cache fill, plus idle polling."""
    version = load.nuxeo_version
    node_queues = {q.queue_id: q for q in (load.queues if load.queues is not None
                                           else default_queues(nuxeo_version=version))}
    tx_per_s = load.docs_per_s / load.docs_per_transaction
    notes = []

    queues = []
    busy_by_queue: dict[str, float] = {}
    for share in _shares(load):
        wtype = work_type(share.work_type, version)
        works = load.docs_per_s * share.works_per_doc
        if share.work_type == "indexing":  # one command per document of the transaction
            size = wtype.mean_size_bytes(extra_cmds=load.docs_per_transaction - 1)
        else:
            size = wtype.mean_size_bytes()
        spec = node_queues.get(share.queue_id) or queue_spec(share.queue_id, nuxeo_version=version)
        node_queues.setdefault(spec.queue_id, spec)
        busy = works / load.nodes * load.work_processing_ms / 1000.0
        busy_by_queue[spec.queue_id] = busy_by_queue.get(spec.queue_id, 0.0) + busy
        queues.append(QueueTraffic(spec.queue_id, share.work_type, works, size, spec.threads, busy))
    # a queue shared by several work types is saturated by their sum
    queues = [QueueTraffic(q.queue_id, q.work_type, q.works_per_s, q.payload_bytes, q.threads_per_node,
                           busy_by_queue[q.queue_id]) for q in queues]
    for q in {q.queue_id: q for q in queues}.values():
        if q.saturated:
            notes.append(f"queue {q.queue_id}: {q.busy_threads_per_node:.1f} busy threads needed per node "
                         f"for {q.threads_per_node}: the backlog grows")

    idle_threads = sum(max(0.0, q.threads - busy_by_queue.get(q.queue_id, 0.0))
                       for q in node_queues.values() if q.processing)
    idle_pops_per_s = load.nodes * idle_threads / MEAN_POLL_INTERVAL_S
    metrics_reads = load.nodes * load.metrics_reads_per_s_per_node

    head = load.node_id_chars + 1  # "<nodeId>:"
    channels = []
    if load.storage == "vcs" and tx_per_s:
        size = head + VCS_ONE_DOC_BYTES + VCS_EXTRA_DOC_BYTES * (load.docs_per_transaction - 1)
        channels.append(ChannelTraffic(vcs_channel(load.repository, load.prefix), "vcs", tx_per_s, size,
                                       tx_per_s * load.nodes))
    if load.storage == "dbs" and tx_per_s and load.update_fraction:
        rate = tx_per_s * load.update_fraction
        size = head + DBS_ID_BYTES * load.docs_per_transaction
        channels.append(ChannelTraffic(dbs_channel(load.repository, load.prefix), "dbs", rate, size, rate * load.nodes))
    if load.cache_invalidations_per_s:
        size = head + CACHEINVAL_MEAN_BYTES
        channels.append(ChannelTraffic(cacheinval_channel(load.prefix), "cacheinval", load.cache_invalidations_per_s, size,
                                       load.cache_invalidations_per_s * load.nodes))

    kv = []
    if load.docs_per_s and load.lock_checks_per_doc:
        kv.append(KVTraffic("document lock checks", "GET", load.docs_per_s * load.lock_checks_per_doc))
    if load.uploads_per_s:
        for name, count in sorted(batch_upload_ops().items()):
            kv.append(KVTraffic("batch upload (transient store)", name, count * load.uploads_per_s))

    works_by_queue: dict[str, float] = {}
    for q in queues:
        works_by_queue[q.queue_id] = works_by_queue.get(q.queue_id, 0.0) + q.works_per_s
    repoll_pops_per_s = 0.0
    for qid, works in works_by_queue.items():
        spec = node_queues[qid]
        idle = spec.threads - busy_by_queue[qid]
        if load.repoll_pops_per_work is not None:
            repoll_pops_per_s += load.repoll_pops_per_work * works
        elif idle > 0:  # a saturated queue's re-polls find work: no extra pop
            repoll_pops_per_s += works * repoll_pops_per_work(works / load.nodes / idle)
    return RedisMix(load, tuple(queues), idle_pops_per_s, repoll_pops_per_s, metrics_reads, tuple(channels), tuple(kv), tuple(notes))
