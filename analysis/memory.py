"""Redis memory: an analytic model from the server's internals, an empirical fit on runs, node overheads.

All sizes are bytes. The analytic model counts what Redis allocates (``used_memory`` is the sum of the
allocator's usable sizes of those allocations) and, separately, what ``MEMORY USAGE`` reports (which uses
``sizeof`` for some structures and leaves out bucket arrays of the keyspace and the expires entry).

Sources (Redis 6.2 / 7.0 / 7.2 source, see ``docs/models.md`` and facts file §4.5): robj 16 B, dictEntry 24 B,
SDS headers 1/3/5/9/17 B + NUL, EMBSTR up to 44 B, shared integers 0..9999, bucket arrays of
``max(4, next_pow2(n))`` pointers, listpack (7.x) / ziplist (6.2) entry encodings, quicklist nodes cut at
8 KiB (``list-max-listpack-size -2``), intset widths 2/4/8 B, jemalloc size classes (4 per doubling).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import stats

from loadgen.errors import BadInput

KIB = 1024
MIB = 1024 * 1024
GIB = 1024 * MIB

# --------------------------------------------------------------------------------------------------------
# Allocator


@dataclass(frozen=True)
class Allocator:
    """The allocator's usable size for a request: what ``used_memory`` adds per allocation.

    ``kind`` is ``"jemalloc"`` or ``"libc"``. ``lg_quantum`` is jemalloc's quantum (3 → 8 B, Redis's bundled
    build; 4 → 16 B, e.g. Debian's system jemalloc, which also keeps an 8-byte tiny class).
    """

    kind: str = "jemalloc"
    lg_quantum: int = 3

    def usable_bytes(self, n: int) -> int:
        """Usable bytes of ``malloc(n)``."""
        if n <= 0:
            return 0
        if self.kind == "libc":
            if n >= 128 * KIB:  # mmap'ed chunk: page rounded, 16 B header
                return _round_up(n + 16, 4096) - 16
            return max(24, _round_up(n + 8, 16) - 8)
        q = 1 << self.lg_quantum
        if n <= 8:
            return 8
        if n <= 4 * q:
            return _round_up(n, q)
        spacing = 1 << (int(math.log2(n - 1)) - 2)  # 4 size classes per doubling
        return _round_up(n, spacing)

    @classmethod
    def parse(cls, text: str) -> "Allocator":
        """``jemalloc`` (8 B quantum), ``jemalloc-q16``, ``jemalloc-q8`` or ``libc``."""
        t = text.strip().lower()
        if t.startswith("libc"):
            return cls("libc", 0)
        m = re.fullmatch(r"jemalloc(?:-[\d.]+)?(?:-q(8|16))?", t)
        if not m:
            raise BadInput(f"unknown allocator {text!r}: use jemalloc, jemalloc-q8, jemalloc-q16 or libc")
        return cls("jemalloc", 4 if m.group(1) == "16" else 3)

    def __str__(self) -> str:
        return "libc" if self.kind == "libc" else f"jemalloc-q{1 << self.lg_quantum}"


def _round_up(n: int, step: int) -> int:
    return -(-n // step) * step


def next_pow2(n: int) -> int:
    return 1 if n <= 1 else 1 << (n - 1).bit_length()


# --------------------------------------------------------------------------------------------------------
# Server layout per version


@dataclass(frozen=True)
class RedisLayout:
    """Structure sizes (bytes) and encoding thresholds of one Redis version on 64-bit Linux."""

    version: str = "7.0"
    allocator: Allocator = Allocator()
    robj: int = 16
    dict_entry: int = 24
    dict_struct: int = 56  # 7.x dict; 6.2 embeds two dictht: 96
    quicklist_struct: int = 40
    quicklist_node: int = 40  # 7.x (size_t sz); 6.2: 32
    pack: str = "listpack"  # small-collection encoding: listpack (7.x) or ziplist (6.2)
    small_lists: bool = False  # 7.2+: lists up to one node are a plain listpack
    small_sets: bool = False  # 7.2+: sets of strings up to 128 entries are a listpack
    hash_max_entries: int = 512
    hash_max_value_bytes: int = 64
    set_max_intset_entries: int = 512
    set_max_listpack_entries: int = 128
    set_max_listpack_value_bytes: int = 64
    list_node_max_bytes: int = 8192  # list-max-listpack-size -2
    embstr_max_bytes: int = 44
    shared_integers: int = 10000

    @classmethod
    def for_version(cls, version: str, allocator: Allocator | str | None = None) -> "RedisLayout":
        """Layout for ``"6.2"``, ``"7.0"``, ``"7.2"`` (and later 7.x/8.x, treated as 7.2)."""
        if isinstance(allocator, str):
            allocator = Allocator.parse(allocator)
        m = re.match(r"(\d+)\.(\d+)", version)
        if not m:
            raise BadInput(f"unknown Redis version {version!r}")
        major, minor = int(m.group(1)), int(m.group(2))
        if (major, minor) < (6, 2) or major > 8:
            raise BadInput(f"Redis {version} is not modelled: use 6.2, 7.0 or 7.2+")
        if major == 6:
            return cls(version="6.2", allocator=allocator or Allocator("libc"), dict_struct=96,
                       quicklist_node=32, pack="ziplist")
        newer = (major, minor) >= (7, 2)
        return cls(version=f"{major}.{minor}", allocator=allocator or Allocator(),
                   small_lists=newer, small_sets=newer)

    def alloc(self, n: int) -> int:
        return self.allocator.usable_bytes(n)


# --------------------------------------------------------------------------------------------------------
# Primitive sizes


_INT_RE = re.compile(rb"-?(0|[1-9][0-9]*)")


def as_redis_int(value: bytes) -> int | None:
    """The integer Redis would parse ``value`` as (string2ll: canonical, ≤ 20 chars, int64), else None."""
    if len(value) > 20 or not _INT_RE.fullmatch(value) or value == b"-0":
        return None
    v = int(value)
    return v if -(1 << 63) <= v < (1 << 63) else None


def sds_request_bytes(length: int) -> int:
    """Bytes requested for an SDS string of ``length`` bytes (header + data + NUL)."""
    if length == 0:
        hdr = 3  # sdshdr5 is never used for empty strings
    elif length < 32:
        hdr = 1
    elif length < 256:
        hdr = 3
    elif length < 65536:
        hdr = 5
    elif length < 1 << 32:
        hdr = 9
    else:
        hdr = 17
    return hdr + length + 1


def _lp_backlen(n: int) -> int:
    return 1 if n <= 127 else 2 if n < 16383 else 3 if n < 2097151 else 4 if n < 268435455 else 5


def listpack_entry_bytes(value: bytes) -> int:
    """Bytes of one listpack entry (encoding + data + backlen)."""
    v = as_redis_int(value)
    if v is not None:
        if 0 <= v <= 127:
            enc = 1
        elif -4096 <= v <= 4095:
            enc = 2
        elif -(1 << 15) <= v < 1 << 15:
            enc = 3
        elif -(1 << 23) <= v < 1 << 23:
            enc = 4
        elif -(1 << 31) <= v < 1 << 31:
            enc = 5
        else:
            enc = 9
    else:
        n = len(value)
        enc = (1 if n < 64 else 2 if n < 4096 else 5) + n
    return enc + _lp_backlen(enc)


def ziplist_entry_bytes(value: bytes, prev_entry_bytes: int) -> int:
    """Bytes of one ziplist entry (prevlen + encoding + data), Redis ≤ 6.2."""
    prevlen = 1 if prev_entry_bytes < 254 else 5
    v = as_redis_int(value) if len(value) <= 32 else None
    if v is not None:
        if 0 <= v <= 12:
            body = 1
        elif -128 <= v <= 127:
            body = 2
        elif -(1 << 15) <= v < 1 << 15:
            body = 3
        elif -(1 << 23) <= v < 1 << 23:
            body = 4
        elif -(1 << 31) <= v < 1 << 31:
            body = 5
        else:
            body = 9
    else:
        n = len(value)
        body = (1 if n <= 63 else 2 if n <= 16383 else 5) + n
    return prevlen + body


def pack_bytes(values: Iterable[bytes], layout: RedisLayout) -> int:
    """Total bytes of a listpack (7.x) or ziplist (6.2) holding ``values`` in order."""
    if layout.pack == "listpack":
        return 7 + sum(listpack_entry_bytes(v) for v in values)
    total, prev = 11, 0
    for v in values:
        prev = ziplist_entry_bytes(v, prev)
        total += prev
    return total


def _b(x: bytes | str | int) -> bytes:
    return x if isinstance(x, bytes) else str(x).encode()


# --------------------------------------------------------------------------------------------------------
# Per-key estimates


@dataclass
class KeyMemory:
    """Memory of one key. ``alloc_bytes``: what used_memory grows by (bucket share excluded, see
    :func:`keyspace_bytes`); ``reported_bytes``: what ``MEMORY USAGE key SAMPLES 0`` prints."""

    encoding: str
    alloc_bytes: int
    reported_bytes: int
    parts: dict[str, int] = field(default_factory=dict)


def _key_part(key: bytes, layout: RedisLayout) -> tuple[int, int, dict[str, int]]:
    a = layout.alloc(sds_request_bytes(len(key)))
    de = layout.alloc(layout.dict_entry)
    return a + de, a + layout.dict_entry, {"key sds": a, "dictEntry": de}


def string_key(key, value, layout: RedisLayout, ttl: bool = False) -> KeyMemory:
    """A string key set with SET (``value`` as sent)."""
    key, value = _b(key), _b(value)
    alloc, reported, parts = _key_part(key, layout)
    iv = as_redis_int(value)
    if iv is not None:
        enc = "int"
        val = 0 if 0 <= iv < layout.shared_integers else layout.alloc(layout.robj)
        rep = layout.robj
    elif len(value) <= layout.embstr_max_bytes:
        enc = "embstr"
        val = layout.alloc(layout.robj + 3 + len(value) + 1)
        rep = val if layout.version != "6.2" else len(value) + 2 + layout.robj
    else:
        enc = "raw"
        s = layout.alloc(sds_request_bytes(len(value)))
        val = layout.alloc(layout.robj) + s
        rep = layout.robj + s
    parts["value"] = val
    alloc += val
    reported += rep
    if ttl:
        parts["expires dictEntry"] = layout.alloc(layout.dict_entry)
        alloc += parts["expires dictEntry"]
    return KeyMemory(enc, alloc, reported, parts)


def dict_tables(n: int, steps_per_insert: int = 1, presized: int = 0) -> tuple[int, int]:
    """Bucket counts ``(table, old_table)`` of a dict after ``n`` inserts.

    A dict doubles when an insert finds it full (4 → 8 → …); the old table lives until incremental rehash
    has moved its non-empty buckets, one per dict operation (``steps_per_insert``: 1 for SADD, 2 for HSET,
    which looks the field up first). Only the keyspace dicts are rehashed in the background, so a large
    hash or set built by inserts alone can end with both tables allocated. ``presized``: the dict was
    created with ``dictExpand(presized)`` (7.x listpack→hashtable conversion).
    """
    if n <= 0:
        return 0, 0
    size = max(4, next_pow2(presized)) if presized else 4
    if n <= size:
        return size, 0
    while True:
        old, size = size, size * 2  # grows at insert old + 1
        if n <= size:
            non_empty = old * (1 - (1 - 1 / old) ** old)  # expected, keys hashed uniformly
            steps = (n - old - 1) * steps_per_insert
            return size, (old if steps < non_empty else 0)


def _dict_bytes(n_entries: int, entry_payload_alloc: int, entry_payload_reported: int, layout: RedisLayout,
                steps_per_insert: int = 1, presized: int = 0):
    size, old = dict_tables(n_entries, steps_per_insert, presized)
    slots = size + old
    buckets = (layout.alloc(8 * size) if size else 0) + (layout.alloc(8 * old) if old else 0)
    alloc = (layout.alloc(layout.robj) + layout.alloc(layout.dict_struct) + buckets
             + n_entries * layout.alloc(layout.dict_entry) + entry_payload_alloc)
    reported = (layout.robj + layout.dict_struct + 8 * slots + n_entries * layout.dict_entry
                + entry_payload_reported)
    parts = {"robj+dict": layout.alloc(layout.robj) + layout.alloc(layout.dict_struct),
             "buckets": buckets, "dictEntries": n_entries * layout.alloc(layout.dict_entry),
             "elements": entry_payload_alloc}
    return alloc, reported, parts


def _packed(values: list[bytes], layout: RedisLayout):
    blob = pack_bytes(values, layout)
    a = layout.alloc(blob)
    alloc = layout.alloc(layout.robj) + a
    reported = layout.robj + (a if layout.pack == "listpack" else blob)
    return alloc, reported, {"robj": layout.alloc(layout.robj), layout.pack: a}


def hash_key(key, mapping: Mapping, layout: RedisLayout, ttl: bool = False) -> KeyMemory:
    """A hash written with HSET (fields in insertion order)."""
    key = _b(key)
    items = [(_b(f), _b(v)) for f, v in mapping.items()]
    k_alloc, k_rep, parts = _key_part(key, layout)
    small = len(items) <= layout.hash_max_entries and all(
        len(f) <= layout.hash_max_value_bytes and len(v) <= layout.hash_max_value_bytes for f, v in items)
    if small:
        alloc, reported, p = _packed([x for fv in items for x in fv], layout)
        enc = layout.pack
    else:
        el = sum(layout.alloc(sds_request_bytes(len(f))) + layout.alloc(sds_request_bytes(len(v)))
                 for f, v in items)
        # 7.x presizes the dict when converting 513 small entries; otherwise fields arrive one HSET each
        converted = len(items) > layout.hash_max_entries and all(
            len(f) <= layout.hash_max_value_bytes and len(v) <= layout.hash_max_value_bytes for f, v in items)
        if converted and layout.version != "6.2":
            alloc, reported, p = _dict_bytes(len(items), el, el, layout, presized=len(items))
        elif converted:  # 6.2 converts entry by entry with dictAdd (1 step each)
            alloc, reported, p = _dict_bytes(len(items), el, el, layout, steps_per_insert=1)
        else:
            alloc, reported, p = _dict_bytes(len(items), el, el, layout, steps_per_insert=2)
        enc = "hashtable"
    parts.update(p)
    return _finish(enc, k_alloc + alloc, k_rep + reported, parts, ttl, layout)


def set_key(key, members: Iterable, layout: RedisLayout, ttl: bool = False) -> KeyMemory:
    """A set written with SADD (duplicates ignored)."""
    key = _b(key)
    seen: dict[bytes, None] = {}
    for m in members:
        seen.setdefault(_b(m), None)
    mem = list(seen)
    k_alloc, k_rep, parts = _key_part(key, layout)
    ints = [as_redis_int(m) for m in mem]
    if mem and all(i is not None for i in ints) and len(mem) <= layout.set_max_intset_entries:
        lo, hi = min(ints), max(ints)
        width = 2 if -(1 << 15) <= lo and hi < 1 << 15 else 4 if -(1 << 31) <= lo and hi < 1 << 31 else 8
        blob = 8 + width * len(mem)
        a = layout.alloc(blob)
        alloc = layout.alloc(layout.robj) + a
        reported = layout.robj + (a if layout.version != "6.2" else blob)
        p, enc = {"robj": layout.alloc(layout.robj), "intset": a}, "intset"
    elif (layout.small_sets and len(mem) <= layout.set_max_listpack_entries
          and all(len(m) <= layout.set_max_listpack_value_bytes for m in mem)):
        alloc, reported, p = _packed(mem, layout)
        enc = "listpack"
    else:
        el = sum(layout.alloc(sds_request_bytes(len(m))) for m in mem)
        # integers beyond the intset limit are converted into a presized dict; strings arrive one by one
        presized = len(mem) if all(i is not None for i in ints) else 0
        alloc, reported, p = _dict_bytes(len(mem), el, el, layout, presized=presized)
        enc = "hashtable"
    parts.update(p)
    return _finish(enc, k_alloc + alloc, k_rep + reported, parts, ttl, layout)


def quicklist_nodes(elements: Sequence[bytes], layout: RedisLayout) -> list[list[bytes]]:
    """How RPUSH packs ``elements`` into quicklist nodes (8 KiB limit, 7.x and 6.2 insertion rules)."""
    nodes: list[list[bytes]] = []
    size = 0
    for e in elements:
        if nodes:
            if layout.pack == "listpack":
                new_sz = size + len(e) + 8  # SIZE_ESTIMATE_OVERHEAD
            else:
                new_sz = size + len(e) + (1 if len(e) < 254 else 5) + (1 if len(e) < 64 else 2 if len(e) < 16384 else 5)
            if new_sz <= layout.list_node_max_bytes:
                nodes[-1].append(e)
                size = pack_bytes(nodes[-1], layout)
                continue
        nodes.append([e])
        size = pack_bytes(nodes[-1], layout)
    return nodes


def list_key(key, elements: Sequence, layout: RedisLayout, ttl: bool = False) -> KeyMemory:
    """A list written with RPUSH (LPUSH gives the same sizes)."""
    key = _b(key)
    els = [_b(e) for e in elements]
    k_alloc, k_rep, parts = _key_part(key, layout)
    nodes = quicklist_nodes(els, layout)
    if layout.small_lists and len(nodes) <= 1:
        alloc, reported, p = _packed(els, layout)
        enc = "listpack"
    else:
        robj = layout.alloc(layout.robj)
        ql = layout.alloc(layout.quicklist_struct)
        node_structs = len(nodes) * layout.alloc(layout.quicklist_node)
        blobs = [pack_bytes(n, layout) for n in nodes]
        packs = sum(layout.alloc(b) for b in blobs)
        alloc = robj + ql + node_structs + packs
        reported = (layout.robj + layout.quicklist_struct + len(nodes) * layout.quicklist_node
                    + (packs if layout.pack == "listpack" else sum(blobs)))
        p = {"robj": robj, "quicklist": ql, "nodes": node_structs, layout.pack: packs}
        enc = "quicklist"
    parts.update(p)
    return _finish(enc, k_alloc + alloc, k_rep + reported, parts, ttl, layout)


def _finish(enc, alloc, reported, parts, ttl, layout) -> KeyMemory:
    if ttl:
        parts["expires dictEntry"] = layout.alloc(layout.dict_entry)
        alloc += parts["expires dictEntry"]
    return KeyMemory(enc, alloc, reported, parts)


def keyspace_bytes(n_keys: int, n_volatile: int, layout: RedisLayout) -> int:
    """Bucket arrays of the main and expires dicts of one database (they grow in powers of two)."""
    main = layout.alloc(8 * max(4, next_pow2(n_keys))) if n_keys else 0
    exp = layout.alloc(8 * max(4, next_pow2(n_volatile))) if n_volatile else 0
    return main + exp


# --------------------------------------------------------------------------------------------------------
# The WorkManager pending-work footprint


@dataclass(frozen=True)
class WorkShape:
    """The shape of the Nuxeo WorkManager keys for one queue (lengths in bytes).

    ``id_bytes`` ≈ 20–27 for ``nanoTime.random`` ids; ``payload_bytes`` is the Java-serialized Work.
    """

    payload_bytes: int
    id_bytes: int = 24
    prefix: str = "nuxeo:"
    queue: str = "default"
    payload_mix: tuple[tuple[float, float, float], ...] = ()  # (weight, mean, sd) bytes; () = fixed size

    def payload_alloc_bytes(self, layout: "RedisLayout") -> float:
        """Expected allocation of one payload SDS: sizes spread over allocator size classes, so the class
        of the mean size is not the mean of the classes."""
        return _payload_alloc_bytes(self, layout)

    def _payload_alloc_uncached(self, layout: "RedisLayout") -> float:
        mix = self.payload_mix or ((1.0, float(self.payload_bytes), 0.0),)
        total_w = sum(w for w, _, _ in mix)
        out = 0.0
        for w, mean, sd in mix:
            sizes = [mean] if sd <= 0 else mean + sd * stats.norm.ppf((np.arange(41) + 0.5) / 41)
            out += w / total_w * float(np.mean([layout.alloc(sds_request_bytes(max(1, int(round(x)))))
                                                for x in sizes]))
        return out


# cached per (shape, layout): a long run's calibration asks for it once per server sample
_payload_alloc_bytes = functools.lru_cache(maxsize=1024)(WorkShape._payload_alloc_uncached)


@dataclass
class Breakdown:
    """Where the bytes go: named parts (bytes) and their sum."""

    parts: dict[str, float]

    @property
    def total_bytes(self) -> float:
        return float(sum(self.parts.values()))

    def to_dict(self) -> dict:
        return {"total_bytes": self.total_bytes, "parts": dict(self.parts)}


def _uniform_ht(n: int, field_len: int, value_alloc: float | None, layout: RedisLayout,
                steps_per_insert: int) -> float:
    if n == 0:
        return 0.0
    per = layout.alloc(layout.dict_entry) + layout.alloc(sds_request_bytes(field_len))
    if value_alloc is not None:
        per += value_alloc
    size, old = dict_tables(n, steps_per_insert)
    buckets = layout.alloc(8 * size) + (layout.alloc(8 * old) if old else 0)
    return layout.alloc(layout.robj) + layout.alloc(layout.dict_struct) + buckets + n * per


def _uniform_quicklist(n: int, elem: bytes, layout: RedisLayout) -> float:
    if n == 0:
        return 0.0
    per_node = _elements_per_node(elem, layout)
    full, rest = divmod(n, per_node)
    blobs = full * _uniform_pack_alloc(elem, per_node, layout)
    if rest:
        blobs += _uniform_pack_alloc(elem, rest, layout)
    nodes = full + (1 if rest else 0)
    if layout.small_lists and nodes == 1:
        return layout.alloc(layout.robj) + blobs
    return (layout.alloc(layout.robj) + layout.alloc(layout.quicklist_struct)
            + nodes * layout.alloc(layout.quicklist_node) + blobs)


# cached: calibrating on a long run evaluates the model once per sample (simulating RPUSH costs ~1 s)
@functools.lru_cache(maxsize=64)
def _elements_per_node(elem: bytes, layout: RedisLayout) -> int:
    return len(quicklist_nodes([elem] * 2000, layout)[0])


@functools.lru_cache(maxsize=8192)
def _uniform_pack_alloc(elem: bytes, k: int, layout: RedisLayout) -> int:
    return layout.alloc(pack_bytes([elem] * k, layout))


def pending_works(n: int, shape: WorkShape, layout: RedisLayout) -> Breakdown:
    """Memory of ``n`` works scheduled and not yet running in one queue (the four WorkManager keys).

    The data hash holds the payload, the state hash a one-byte state, the sched set and the queue list the
    id. Top-level key costs (4 keys + the counters hash) and their bucket arrays are included; the main
    keyspace's own bucket array is not (see :func:`keyspace_bytes`).
    """
    p = shape.prefix + "work:"
    wid = b"9" * 13 + b"." + b"x" * max(0, shape.id_bytes - 14)  # a non-integer id of id_bytes
    wid = wid[: shape.id_bytes]
    parts: dict[str, float] = {}
    if n == 0:
        return Breakdown({"data hash": 0.0, "state hash": 0.0, "sched set": 0.0, "queue list": 0.0})

    def key_cost(name: str) -> int:
        return layout.alloc(sds_request_bytes(len(name))) + layout.alloc(layout.dict_entry)

    small_data = n <= layout.hash_max_entries and shape.payload_bytes <= layout.hash_max_value_bytes
    if small_data:
        parts["data hash"] = hash_key(p + "data", {wid + str(i).encode(): b"x" * shape.payload_bytes
                                                   for i in range(n)}, layout).alloc_bytes
    else:
        parts["data hash"] = key_cost(p + "data") + _uniform_ht(n, shape.id_bytes, shape.payload_alloc_bytes(layout),
                                                                 layout, 2)
    if n <= layout.hash_max_entries:
        parts["state hash"] = hash_key(p + "state", {wid + str(i).encode(): b"Q" for i in range(n)},
                                       layout).alloc_bytes
    else:
        parts["state hash"] = key_cost(p + "state") + _uniform_ht(n, shape.id_bytes, layout.alloc(sds_request_bytes(1)),
                                                             layout, 2)
    sched = p + "sched:" + shape.queue
    if layout.small_sets and n <= layout.set_max_listpack_entries:
        parts["sched set"] = set_key(sched, [wid + str(i).encode() for i in range(n)], layout).alloc_bytes
    else:
        parts["sched set"] = key_cost(sched) + _uniform_ht(n, shape.id_bytes, None, layout, 1)
    parts["queue list"] = key_cost(p + "queue:" + shape.queue) + _uniform_quicklist(n, wid, layout)
    return Breakdown(parts)


def pending_works_bytes(n: int, shape: WorkShape, layout: RedisLayout) -> float:
    """Growth of used_memory (bytes) from 0 to ``n`` pending works (4 new keys in the keyspace)."""
    return pending_works(n, shape, layout).total_bytes


def kv_keys_bytes(n: int, key_bytes: int, value_bytes: int, layout: RedisLayout, ttl: bool = False,
                  existing_keys: int = 0) -> Breakdown:
    """Growth of used_memory from ``n`` KV string keys (SET/SETEX) on top of ``existing_keys`` keys."""
    k = string_key(b"k" * key_bytes, b"v" * value_bytes if value_bytes else b"", layout, ttl=ttl)
    buckets = (keyspace_bytes(existing_keys + n, n if ttl else 0, layout)
               - keyspace_bytes(existing_keys, 0, layout))
    parts = {name: float(v * n) for name, v in k.parts.items()}
    parts["buckets (main/expires)"] = float(buckets)
    return Breakdown(parts)


# --------------------------------------------------------------------------------------------------------
# Empirical fits


@dataclass(frozen=True)
class LinearFit:
    """``y = intercept + slope · x`` by least squares with confidence intervals on both coefficients."""

    slope: float
    intercept: float
    slope_ci: tuple[float, float]
    intercept_ci: tuple[float, float]
    n: int
    r2: float
    resid_std: float
    x_mean: float
    sxx: float
    t: float

    def predict(self, x: float) -> tuple[float, float, float]:
        """(y, low, high): the fitted value and its prediction interval at the fit's confidence."""
        y = self.intercept + self.slope * x
        if self.n <= 2 or self.sxx == 0:
            return y, y, y
        half = self.t * self.resid_std * math.sqrt(1 + 1 / self.n + (x - self.x_mean) ** 2 / self.sxx)
        return y, y - half, y + half

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k not in ("x_mean", "sxx", "t")}


def fit_linear(x: Sequence[float], y: Sequence[float], confidence: float = 0.95) -> LinearFit:
    """Ordinary least squares of ``y`` on ``x`` (needs ≥ 2 distinct x)."""
    xa, ya = np.asarray(x, float), np.asarray(y, float)
    if len(xa) < 2 or len(set(xa.tolist())) < 2:
        raise BadInput("a linear fit needs at least two distinct x values")
    r = stats.linregress(xa, ya)
    n = len(xa)
    dof = max(n - 2, 1)
    t = float(stats.t.ppf(0.5 + confidence / 2, dof))
    resid = ya - (r.intercept + r.slope * xa)
    s = float(np.sqrt((resid ** 2).sum() / dof)) if n > 2 else 0.0
    se_b = float(r.stderr) if n > 2 else 0.0
    se_a = float(r.intercept_stderr) if n > 2 else 0.0
    return LinearFit(float(r.slope), float(r.intercept), (r.slope - t * se_b, r.slope + t * se_b),
                     (r.intercept - t * se_a, r.intercept + t * se_a), n, float(r.rvalue ** 2), s,
                     float(xa.mean()), float(((xa - xa.mean()) ** 2).sum()), t)


@dataclass(frozen=True)
class MemoryObservation:
    """One measurement: ``count`` objects of ``size_bytes`` made used_memory grow by ``delta_bytes``."""

    count: int
    size_bytes: int
    delta_bytes: float
    ttl: bool = False
    size_mix: tuple[tuple[float, float, float], ...] = ()  # (weight, mean, sd) when sizes vary


@dataclass(frozen=True)
class CalibratedModel:
    """The analytic model rescaled by a factor fitted on measurements: ``measured ≈ scale · analytic``.

    ``scale`` (with its CI) absorbs what the model misses (allocator metadata, rehash tables); the relative
    residual spread gives the prediction band. ``kind`` is ``"work"`` (pending works, size = payload) or
    ``"kv"`` (string keys, size = value bytes).
    """

    kind: str
    layout: RedisLayout
    scale: float
    scale_ci: tuple[float, float]
    rel_error: float  # relative half-width of the band (≥ the worst relative residual of the fit)
    n_obs: int
    id_bytes: int = 24
    key_bytes: int = 40

    def analytic_bytes(self, count: int, size_bytes: int, ttl: bool = False, size_mix=()) -> float:
        if self.kind == "work":
            return pending_works_bytes(count, WorkShape(size_bytes, self.id_bytes, payload_mix=tuple(size_mix)),
                                       self.layout)
        return kv_keys_bytes(count, self.key_bytes, size_bytes, self.layout, ttl=ttl).total_bytes

    def predict(self, count: int, size_bytes: int, ttl: bool = False, size_mix=()) -> dict[str, float]:
        """``{"bytes", "low", "high"}``: predicted used_memory growth and its band."""
        a = self.analytic_bytes(count, size_bytes, ttl, size_mix)
        y = self.scale * a
        lo = min(self.scale_ci[0], self.scale * (1 - self.rel_error)) * a
        hi = max(self.scale_ci[1], self.scale * (1 + self.rel_error)) * a
        return {"bytes": y, "low": lo, "high": hi}


def calibrate(observations: Sequence[MemoryObservation], layout: RedisLayout, kind: str = "work",
              id_bytes: int = 24, key_bytes: int = 40, confidence: float = 0.95) -> CalibratedModel:
    """Fit ``delta = scale · analytic`` (least squares through the origin, relative residuals)."""
    if not observations:
        raise BadInput("no memory observations to fit")
    base = CalibratedModel(kind, layout, 1.0, (1.0, 1.0), 0.0, 0, id_bytes, key_bytes)
    analytic: dict[tuple, float] = {}  # a long run repeats backlog sizes: one model evaluation each
    for o in observations:
        key = (o.count, o.size_bytes, o.ttl, o.size_mix)
        if key not in analytic:
            analytic[key] = base.analytic_bytes(*key)
    a = np.array([analytic[(o.count, o.size_bytes, o.ttl, o.size_mix)] for o in observations])
    y = np.array([o.delta_bytes for o in observations], float)
    ratio = y / a  # fit on ratios so small and large runs weigh the same
    scale = float(ratio.mean())
    n = len(ratio)
    if n > 1:
        t = float(stats.t.ppf(0.5 + confidence / 2, n - 1))
        half = t * float(ratio.std(ddof=1)) / math.sqrt(n)
        spread = float(np.abs(ratio / scale - 1).max())
        rel = max(spread, t * float(ratio.std(ddof=1)) * math.sqrt(1 + 1 / n) / scale)
    else:
        half, rel = 0.0, 0.02  # one point: no spread; assume the model's stated 2 %
    return CalibratedModel(kind, layout, scale, (scale - half, scale + half), rel, n, id_bytes, key_bytes)


def bytes_per_object_fit(observations: Sequence[MemoryObservation], confidence: float = 0.95) -> LinearFit:
    """Purely empirical: bytes per object (delta/count) as a linear function of the object size.

    Coarse (it ignores allocator size classes and bucket steps); prefer :func:`calibrate` to extrapolate.
    """
    return fit_linear([o.size_bytes for o in observations], [o.delta_bytes / o.count for o in observations],
                      confidence)


# --------------------------------------------------------------------------------------------------------
# Node overheads and the maxmemory / RAM recommendation


@dataclass(frozen=True)
class NodeOverheads:
    """What a node needs beyond its dataset (bytes unless stated).

    Defaults are Redis's defaults (repl-backlog-size 1 MiB; replica output buffer soft limit 64 MiB,
    pubsub 8 MiB soft limit; client buffers 16 KiB query + 16 KiB reply) and documented rules of thumb
    (fragmentation 1.10 when no run measured it; OS reserve 1 GiB).
    """

    fragmentation_ratio: float = 1.10
    repl_backlog_bytes: int = 1 * MIB
    replicas: int = 0
    replica_output_buffer_bytes: int = 64 * MIB
    pubsub_subscribers: int = 0
    pubsub_buffer_bytes: int = 1 * MIB  # typical occupancy per subscriber (soft limit is 8 MiB)
    normal_clients: int = 50
    client_buffer_bytes: int = 40 * KIB
    persistence: str = "none"  # none | rdb | aof
    cow_write_fraction: float = 0.5  # share of the dataset written while a fork child lives
    os_reserve_bytes: int = 1 * GIB
    headroom: float = 0.25  # free share of maxmemory kept for bursts


@dataclass
class MemoryRecommendation:
    """maxmemory (bytes) and node RAM (bytes) under ``noeviction``, with the parts that make them up."""

    dataset_bytes: float
    maxmemory_bytes: float
    node_ram_bytes: float
    parts: dict[str, float]

    def to_dict(self) -> dict:
        return asdict(self)


def recommend_memory(dataset_bytes: float, o: NodeOverheads) -> MemoryRecommendation:
    """maxmemory must hold the dataset, the replication backlog and client buffers with headroom;
    node RAM adds fragmentation, replica output buffers, fork copy-on-write and the OS reserve.

    Copy-on-write: a fork (BGSAVE, AOF rewrite, full resync — the latter whenever there are replicas)
    can copy every page written while the child lives: up to ``cow_write_fraction × dataset``.
    """
    buffers = (o.repl_backlog_bytes + o.pubsub_subscribers * o.pubsub_buffer_bytes
               + o.normal_clients * o.client_buffer_bytes)
    maxmemory = (dataset_bytes + buffers) / (1 - o.headroom)
    forks = o.persistence in ("rdb", "aof") or o.replicas > 0
    cow = o.cow_write_fraction * maxmemory * o.fragmentation_ratio if forks else 0.0
    frag = maxmemory * (o.fragmentation_ratio - 1)
    replica_bufs = o.replicas * o.replica_output_buffer_bytes
    ram = maxmemory + frag + replica_bufs + cow + o.os_reserve_bytes
    parts = {"dataset": dataset_bytes, "backlog + client buffers": buffers,
             "headroom": maxmemory - dataset_bytes - buffers, "fragmentation": frag,
             "replica output buffers": replica_bufs, "fork copy-on-write": cow, "OS reserve": o.os_reserve_bytes}
    return MemoryRecommendation(dataset_bytes, maxmemory, ram, parts)


def fragmentation_from_samples(rss_bytes: Sequence[float], used_bytes: Sequence[float],
                               min_used_bytes: float = 100 * MIB) -> float | None:
    """Median of used_memory_rss / used_memory over samples with a dataset large enough to matter
    (small datasets show huge ratios from the fixed RSS floor). None when no sample qualifies."""
    r = np.asarray(rss_bytes, float)
    u = np.asarray(used_bytes, float)
    ok = u >= min_used_bytes
    return float(np.median(r[ok] / u[ok])) if ok.any() else None
