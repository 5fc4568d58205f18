"""Work ids and serialized Work payloads with the sizes of the traffic spec (§1.5).

Payloads look like Java serialization (``AC ED 00 05``, a class descriptor, the work id as the first
string) followed by filler that does not compress much, as real serialized Works do not. The work id is
embedded at a known offset so that a consumer can read it back from what ``pop-work`` returns (the
script returns the payload, not the id, exactly as Nuxeo deserializes the Work to learn its id).
All randomness comes from a seeded :class:`random.Random`.
"""

from __future__ import annotations

import random
import struct
import time
import uuid
from dataclasses import dataclass

from rcapcore.errors import BadInput

JAVA_MAGIC = b"\xac\xed\x00\x05"
_TC_OBJECT_CLASSDESC = b"sr"  # TC_OBJECT, TC_CLASSDESC
_DESC_TAIL = b"\x02\x00\x00xpt"  # SC_SERIALIZABLE, 0 fields, TC_ENDBLOCKDATA, TC_NULL, TC_STRING
_POOL_BYTES = 1 << 20


def nanotime_work_id(rng: random.Random) -> str:
    """An ``AbstractWork`` id: ``<nanotime>.<random positive int>`` (≈20–27 characters)."""
    return f"{time.monotonic_ns()}.{rng.randrange(1, 2**31)}"


def picture_views_work_id(doc_id: str, repository: str = "default", xpath: str = "file:content") -> str:
    """The deterministic id of ``PictureViewsGenerationWork`` (≈69 characters): re-scheduling collapses."""
    return f"{repository}:{doc_id}:{xpath}:pictureView"


def doc_id(rng: random.Random) -> str:
    """A Nuxeo document id (a UUID, 36 characters) drawn from ``rng``."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


@dataclass(frozen=True)
class WorkType:
    """A kind of Work: its Java class, its 10.10 queue (``versions.NuxeoProfile.queue_for`` gives each
    version's), and its serialized size in bytes.

    ``size_bytes`` is the mean; ``size_sd_bytes`` a normal spread; ``extra_cmd_bytes`` is added per
    extra indexing command, with ``mean_extra_cmds`` extra commands on average (geometric).
    """

    name: str
    java_class: str
    queue_id: str
    size_bytes: int
    size_sd_bytes: int = 0
    extra_cmd_bytes: int = 0
    mean_extra_cmds: float = 0.0
    source: str = "spec §1.5"
    trace_context_bytes: int = 0  # part of size_bytes that 2021's traceContext field adds (not in 10.10)

    def mean_size_bytes(self, extra_cmds: float | None = None) -> float:
        """Mean serialized size in bytes, with ``extra_cmds`` extra commands (default: the type's mean)."""
        extra = self.mean_extra_cmds if extra_cmds is None else extra_cmds
        return self.size_bytes + self.extra_cmd_bytes * extra


# Sizes from the spec's §1.5 table (2021 variants, which add the traceContext field).
WORK_TYPES: dict[str, WorkType] = {
    t.name: t
    for t in (
        # 10.10 / 2021: ≈1.04 / 1.09 KB, 1.06 / 1.11 KB, 1.14 / 1.19 KB (traceContext, 2021 only)
        WorkType("computeDigest", "org.nuxeo.ecm.core.blob.ComputeDigestWork", "computeDigest", 1090, 20,
                 trace_context_bytes=50),
        WorkType("fulltextExtractor", "org.nuxeo.ecm.core.work.FulltextExtractorWork", "default", 1110, 20,
                 trace_context_bytes=50),
        WorkType("pictureViews", "org.nuxeo.ecm.platform.picture.PictureViewsGenerationWork",
                 "pictureViewsGeneration", 1190, 20, trace_context_bytes=50),
        WorkType("indexing", "org.nuxeo.elasticsearch.work.IndexingWorker", "elasticSearchIndexing", 1700, 20,
                 extra_cmd_bytes=150, mean_extra_cmds=0.5),
        WorkType("reindexBucket", "org.nuxeo.elasticsearch.work.BucketIndexingWorker", "elasticSearchIndexing",
                 20700, 200),
        # Not measured by the spec (open question 1): "expected to be the largest common type (several KB)".
        WorkType("listener", "org.nuxeo.ecm.core.event.impl.AsyncEventExecutor$ListenerWork", "default",
                 3000, 500, source="estimate: spec §1.5 says several KB, unmeasured"),
    )
}


def work_type(name: str, nuxeo_version: str = "2021") -> WorkType:
    """The :class:`WorkType` called ``name`` as ``nuxeo_version`` serializes it (10.10 has no
    ``traceContext`` field: the spec's smaller sizes), or :class:`BadInput` listing the known ones."""
    try:
        wtype = WORK_TYPES[name]
    except KeyError:
        raise BadInput(f"unknown work type {name!r}; known: {', '.join(WORK_TYPES)}") from None
    if nuxeo_version == "10.10" and wtype.trace_context_bytes:
        from dataclasses import replace  # noqa: PLC0415

        return replace(wtype, size_bytes=wtype.size_bytes - wtype.trace_context_bytes, trace_context_bytes=0)
    return wtype


def _header(java_class: str) -> bytes:
    cls = java_class.encode()
    return JAVA_MAGIC + _TC_OBJECT_CLASSDESC + struct.pack(">H", len(cls)) + cls + b"\x00" * 8 + _DESC_TAIL


class PayloadFactory:
    """Builds serialized-Work look-alikes of a requested size, cheaply (slices of a seeded filler pool).

    The filler mixes random bytes with short ASCII tokens (field names, ids) so that it compresses
    about as poorly as a serialized object graph, not like a run of zeros.
    """

    def __init__(self, seed: int = 0):
        self.rng = random.Random(seed)
        self._headers: dict[str, bytes] = {}
        parts = []
        words = [b"repositoryName", b"docId", b"originatingUsername", b"Administrator", b"default",
                 b"java.lang.String", b"schedulePath", b"callerThread"]
        size = 0
        while size < _POOL_BYTES:
            chunk = self.rng.randbytes(self.rng.randint(8, 64)) + self.rng.choice(words)
            parts.append(chunk)
            size += len(chunk)
        self._pool = b"".join(parts)

    def payload(self, work_id: str | bytes, size_bytes: int, java_class: str = "org.nuxeo.ecm.core.work.AbstractWork") -> bytes:
        """Serialized look-alike of ``size_bytes`` bytes (at least the header) carrying ``work_id``."""
        header = self._headers.get(java_class)
        if header is None:
            header = self._headers[java_class] = _header(java_class)
        wid = work_id.encode() if isinstance(work_id, str) else work_id
        head = header + struct.pack(">H", len(wid)) + wid
        fill = size_bytes - len(head)
        if fill <= 0:
            return head
        start = self.rng.randrange(0, len(self._pool) - fill) if fill < len(self._pool) else 0
        body = self._pool[start:start + fill]
        while len(body) < fill:  # payloads larger than the pool (rare)
            body += self._pool[: fill - len(body)]
        return head + body

    def size_of(self, wtype: WorkType) -> int:
        """A payload size in bytes drawn for ``wtype``."""
        size = wtype.size_bytes
        if wtype.size_sd_bytes:
            size = int(self.rng.gauss(size, wtype.size_sd_bytes))
        if wtype.mean_extra_cmds:
            # geometric number of extra indexing commands with the given mean
            p = 1.0 / (1.0 + wtype.mean_extra_cmds)
            extra = 0
            while self.rng.random() > p:
                extra += 1
            size += extra * wtype.extra_cmd_bytes
        return max(size, 64)

    def work(self, wtype: WorkType | str, work_id: str | None = None) -> tuple[str, bytes]:
        """A new ``(work_id, payload)`` of type ``wtype`` (a nanotime id unless ``work_id`` is given)."""
        if isinstance(wtype, str):
            wtype = work_type(wtype)
        wid = work_id or nanotime_work_id(self.rng)
        return wid, self.payload(wid, self.size_of(wtype), wtype.java_class)


def work_id_from_payload(payload: bytes) -> str | None:
    """The work id embedded by :class:`PayloadFactory`, or ``None`` if ``payload`` is not one of ours."""
    if not payload or payload[:6] != JAVA_MAGIC + _TC_OBJECT_CLASSDESC:
        return None
    (cls_len,) = struct.unpack_from(">H", payload, 6)
    pos = 8 + cls_len + 8 + len(_DESC_TAIL)
    if len(payload) < pos + 2:
        return None
    (id_len,) = struct.unpack_from(">H", payload, pos)
    return payload[pos + 2: pos + 2 + id_len].decode()


# Pub/sub message sizes (bytes), shared by the publisher (loadgen.nuxeo.pubsub) and the mix.
VCS_ONE_DOC_BYTES = 500
VCS_EXTRA_DOC_BYTES = 155
DBS_ID_BYTES = 37
CACHEINVAL_MIN_BYTES = 20
CACHEINVAL_MAX_BYTES = 100
STAMP_CHARS = 36
CACHE_NAMES = ("userManagerCache", "userEntryCache", "groupEntryCache", "directory-entries-cache",
               "drive-descendants-sync-root-cache", "ecm-types-cache", "acl")

# shortest cache name + "/" + stamp: the smallest cacheinval payload we can send
CACHEINVAL_FLOOR_BYTES = min(len(n) for n in CACHE_NAMES) + 1 + STAMP_CHARS
# mean payload of cacheinval() with sizes drawn uniformly in [20, 100] B, floor applied
CACHEINVAL_MEAN_BYTES = sum(max(n, CACHEINVAL_FLOOR_BYTES)
                            for n in range(CACHEINVAL_MIN_BYTES, CACHEINVAL_MAX_BYTES + 1)) / (
    CACHEINVAL_MAX_BYTES - CACHEINVAL_MIN_BYTES + 1)

# Spec §1.6 rule of thumb: memory ≈ 1.1–1.2 × payload + 250–300 B per pending work (midpoints).
RULE_PAYLOAD_FACTOR = 1.15
RULE_PER_WORK_BYTES = 275
