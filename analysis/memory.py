"""Redis memory: an analytic model from the server's internals, an empirical fit on runs, node overheads.

All sizes are bytes. The analytic model counts what Redis allocates (``used_memory`` is the sum of the
allocator's usable sizes of those allocations) and, separately, what ``MEMORY USAGE`` reports (which uses
``sizeof`` for some structures and leaves out bucket arrays of the keyspace and the expires entry).

Sources (Redis 6.2 / 7.0 / 7.2 / 7.4 and Valkey 8.0 / 8.1 sources, see ``docs/models.md`` and facts file §4.5):
robj 16 B, dictEntry 24 B,
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

from rcapcore.errors import BadInput
from rcapcore.units import human_bytes

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


# Servers a target can name (``deployment.server``) and that runs can come from. ``valkey-8.x`` and ``redis-8.x``
# stand for the newest layout of that line that rcap models (Valkey 8.1; Redis 7.4, see docs/models.md).
SERVERS = ("redis-6.2", "redis-7.0", "redis-7.2", "redis-7.4", "redis-8.x", "valkey-7.2", "valkey-8.0", "valkey-8.1",
           "valkey-8.x")


@dataclass(frozen=True)
class RedisLayout:
    """Structure sizes (bytes) and encoding thresholds of one server version on 64-bit Linux.

    ``family`` is ``"redis"`` or ``"valkey"``; ``version`` is that family's own version (Valkey also reports
    ``redis_version:7.2.4``, which says nothing about its layout). Layout generations:

    - Redis 6.2: ziplists, 96-B dict struct, 32-B quicklist nodes.
    - Redis 7.0: listpacks.
    - Redis 7.2+ (and Valkey 7.2/8.0): small sets and lists as listpacks; set members sit in the bucket when
      alone in it, otherwise in a 16-B value-less entry (``set_novalue``).
    - Redis 7.4+: hash fields are ``mstr`` strings (3-B header from 32 B on, not sds's 3/5/9); hash-field
      expiry metadata only exists on fields given a TTL (not modelled: Nuxeo sets none).
    - Valkey 8.0: the keyspace entry embeds the key (``key_in_entry``: 17 B + key sds, one allocation).
    - Valkey 8.1+: one hash table design (``hashtable``) for the keyspace, the expires, hashes and sets:
      64-B buckets of 7 pointers, child buckets chained when a bucket overflows, the key embedded in the
      value's robj, hash fields and small values in one allocation.
    """

    version: str = "7.0"
    allocator: Allocator = Allocator()
    family: str = "redis"
    robj: int = 16
    dict_entry: int = 24
    dict_struct: int = 56  # 7.x dict; 6.2 embeds two dictht: 96
    quicklist_struct: int = 40
    quicklist_node: int = 40  # 7.x (size_t sz); 6.2: 32
    pack: str = "listpack"  # small-collection encoding: listpack (7.x) or ziplist (6.2)
    small_lists: bool = False  # 7.2+: lists up to one node are a plain listpack
    small_sets: bool = False  # 7.2+: sets of strings up to 128 entries are a listpack
    set_novalue: bool = False  # 7.2+: set members without a dictEntry when alone in their bucket
    field_mstr: bool = False  # Redis 7.4+: hash fields are mstr
    key_in_entry: bool = False  # Valkey 8.0: keyspace dictEntry embeds the key
    hashtable: bool = False  # Valkey 8.1+: bucketed hash table, key embedded in the robj
    hash_embed_max_bytes: int = 128  # Valkey 8.1: field + value in one allocation up to this request
    hset_rehash_steps: int = 2  # rehash steps per HSET of a new field: lookup + add (≤ 7.0), one lookup (7.2+)
    hash_max_entries: int = 512
    hash_max_value_bytes: int = 64
    set_max_intset_entries: int = 512
    set_max_listpack_entries: int = 128
    set_max_listpack_value_bytes: int = 64
    list_node_max_bytes: int = 8192  # list-max-listpack-size -2
    embstr_max_bytes: int = 44
    shared_integers: int = 10000

    @property
    def server(self) -> str:
        """``redis-7.0``, ``valkey-8.1`` …"""
        return f"{self.family}-{self.version}"

    @property
    def label(self) -> str:
        return f"{'Valkey' if self.family == 'valkey' else 'Redis'} {self.version} {self.allocator}"

    @property
    def is_62(self) -> bool:
        return self.pack == "ziplist"

    @classmethod
    def for_version(cls, version: str, allocator: Allocator | str | None = None,
                    family: str = "redis") -> "RedisLayout":
        """Layout for a server version: ``"7.0"`` (Redis), ``("8.1", family="valkey")``, or a server id
        ``"valkey-8.1"`` / ``"redis-7.4"`` / ``"redis-8.x"`` (then ``family`` is read from it)."""
        if isinstance(allocator, str):
            allocator = Allocator.parse(allocator)
        m = re.fullmatch(r"(redis|valkey)-(.+)", version.strip().lower())
        if m:
            family, version = m.group(1), m.group(2)
        family = family.lower()
        if family not in ("redis", "valkey"):
            raise BadInput(f"unknown server family {family!r}: use redis or valkey")
        m = re.match(r"(\d+)\.(\d+|x)", version)
        if not m:
            raise BadInput(f"unknown {family} version {version!r}")
        major = int(m.group(1))
        minor = 99 if m.group(2) == "x" else int(m.group(2))
        if family == "valkey":
            if (major, minor) < (7, 2) or major > 9:
                raise BadInput(f"Valkey {version} is not modelled: use 7.2, 8.0 or 8.1+ (valkey-8.x)")
            if (major, minor) < (8, 0):
                return cls(version=f"{major}.{minor}", family="valkey", allocator=allocator or Allocator(),
                           small_lists=True, small_sets=True, set_novalue=True, hset_rehash_steps=1)
            if (major, minor) == (8, 0):
                return cls(version="8.0", family="valkey", allocator=allocator or Allocator(), small_lists=True,
                           small_sets=True, set_novalue=True, key_in_entry=True,
                           hset_rehash_steps=1)
            shown = "8.1" if m.group(2) == "x" else f"{major}.{minor}"
            return cls(version=shown, family="valkey", allocator=allocator or Allocator(), small_lists=True,
                       small_sets=True, hashtable=True, hset_rehash_steps=1)
        if (major, minor) < (6, 2) or major > 8:
            raise BadInput(f"Redis {version} is not modelled: use 6.2, 7.0, 7.2, 7.4 or 8.x")
        if major == 6:
            return cls(version="6.2", allocator=allocator or Allocator("libc"), dict_struct=96,
                       quicklist_node=32, pack="ziplist")
        newer = (major, minor) >= (7, 2)
        shown = "8.x" if m.group(2) == "x" else f"{major}.{minor}"
        return cls(version=shown, allocator=allocator or Allocator(), small_lists=newer, small_sets=newer,
                   set_novalue=newer, field_mstr=(major, minor) >= (7, 4),
                   hset_rehash_steps=1 if newer else 2)

    @classmethod
    def for_server(cls, server: str, allocator: Allocator | str | None = None) -> "RedisLayout":
        """Layout for a ``deployment.server`` id (one of :data:`SERVERS`)."""
        if server not in SERVERS:
            raise BadInput(f"unknown server {server!r}: use one of {', '.join(SERVERS)}")
        return cls.for_version(server, allocator)

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
    :func:`keyspace_bytes`); ``reported_bytes``: what ``MEMORY USAGE key SAMPLES 0`` prints (exact on Redis
    7.x, close on 6.2; on Valkey 8.1 it is the allocation estimate, MEMORY USAGE is not modelled there)."""

    encoding: str
    alloc_bytes: int
    reported_bytes: int
    parts: dict[str, int] = field(default_factory=dict)


def _sds_hdr8_request_bytes(length: int) -> int:
    """An sds of at least type 8 (3-byte header), as embedded keys and value-pointer hash entries use."""
    return sds_request_bytes(length) if length >= 256 else 3 + length + 1


def field_request_bytes(length: int, layout: RedisLayout) -> int:
    """Bytes requested for a field of a dict-encoded hash: sds, or Redis 7.4+'s mstr (headers 1/3/3/9 B)."""
    if not layout.field_mstr:
        return sds_request_bytes(length)
    hdr = 1 if length < 32 else 3 if length < 65536 else 9
    return hdr + length + 1


def _key_part(key: bytes, layout: RedisLayout, ttl: bool = False,
              robj: bool = True) -> tuple[int, int, dict[str, int]]:
    """What a top-level key costs besides its value's body: the key string, its keyspace entry and the value's
    robj (``robj=False``: the caller accounts the robj itself, e.g. shared integers, EMBSTR)."""
    if layout.hashtable:  # Valkey 8.1+: one robj holding [expire] + key; the keyspace holds robj pointers
        expire = ttl or len(key) >= 128
        a = layout.alloc(layout.robj + 8 * expire + 1 + sds_request_bytes(len(key)))
        return a, a, {"robj+key": a}
    parts: dict[str, int] = {}
    if layout.key_in_entry:  # Valkey 8.0: dictEntry {val, next, hdr size} + the key's sds in one allocation
        parts["dictEntry+key"] = layout.alloc(17 + _sds_hdr8_request_bytes(len(key)))
        rep = parts["dictEntry+key"]
    else:
        parts["key sds"] = layout.alloc(sds_request_bytes(len(key)))
        parts["dictEntry"] = layout.alloc(layout.dict_entry)
        rep = parts["key sds"] + layout.dict_entry
    if robj:
        parts["robj"] = layout.alloc(layout.robj)
        rep += layout.robj
    return sum(parts.values()), rep, parts


def string_key(key, value, layout: RedisLayout, ttl: bool = False) -> KeyMemory:
    """A string key set with SET (``value`` as sent)."""
    key, value = _b(key), _b(value)
    iv = as_redis_int(value)
    if layout.hashtable:
        expire = ttl or len(key) >= 128
        whole = layout.robj + 8 * expire + 1 + sds_request_bytes(len(key)) + 3 + len(value) + 1
        if iv is not None:  # the integer sits in the robj's pointer (no shared integers for keyspace values)
            alloc, reported, parts = _key_part(key, layout, ttl)
            return KeyMemory("int", alloc, reported, parts)
        if len(value) <= layout.embstr_max_bytes and whole <= 64:  # key and value in one 64-byte allocation
            a = layout.alloc(whole)
            return KeyMemory("embstr", a, a, {"robj+key+value": a})
        alloc, reported, parts = _key_part(key, layout, ttl)
        parts["value"] = layout.alloc(sds_request_bytes(len(value)))
        return KeyMemory("raw", alloc + parts["value"], reported + parts["value"], parts)
    if iv is not None:
        shared = 0 <= iv < layout.shared_integers
        alloc, reported, parts = _key_part(key, layout, robj=not shared)
        enc = "int"
        if shared:
            reported += layout.robj
    elif len(value) <= layout.embstr_max_bytes:
        alloc, reported, parts = _key_part(key, layout, robj=False)
        enc = "embstr"
        parts["value"] = layout.alloc(layout.robj + 3 + len(value) + 1)
        alloc += parts["value"]
        reported += parts["value"] if not layout.is_62 else len(value) + 2 + layout.robj
    else:
        alloc, reported, parts = _key_part(key, layout)
        enc = "raw"
        parts["value"] = layout.alloc(sds_request_bytes(len(value)))
        alloc += parts["value"]
        reported += parts["value"]
    return _finish(enc, alloc, reported, parts, ttl, layout)


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


# Valkey 8.1+ hash table: 64-byte buckets of 7 entry pointers (one becomes the child pointer when a bucket
# overflows); the table grows when an insert would exceed 7 entries per bucket, to the power of two of
# ceil(entries × 5 / 32) buckets; the struct is 72 bytes.
HT_BUCKET_BYTES = 64
HT_SLOTS = 7
HT_STRUCT_BYTES = 72


def _ht_buckets_for(capacity: int) -> int:
    return next_pow2(max(1, -(-capacity * 5 // 32)))


def hashtable_tables(n: int, steps_per_insert: int = 1, presized: int = 0) -> tuple[int, int]:
    """Bucket counts ``(table, old_table)`` of a Valkey 8.1 hash table after ``n`` inserts (the old table
    lives until incremental rehash has visited its buckets, one per lookup)."""
    if n <= 0:
        return 0, 0
    size, old, grew_at = (_ht_buckets_for(presized) if presized else 0), 0, 0
    while n > HT_SLOTS * size:
        grew_at = HT_SLOTS * size + 1
        old, size = size, _ht_buckets_for(grew_at)
    if old and (n - grew_at) * steps_per_insert < old:
        return size, old
    return size, 0


def hashtable_child_buckets(n: int, buckets: int) -> float:
    """Expected child buckets when ``n`` entries hash uniformly (Poisson) into ``buckets`` buckets: a chain
    holding k > 7 entries needs ceil((k − 7) / 6) children (each link takes one slot)."""
    if n <= 0 or buckets <= 0:
        return 0.0
    lam = n / buckets
    ks = np.arange(HT_SLOTS + 1, int(lam + 12 * math.sqrt(lam) + 40))
    return float(buckets * np.sum(stats.poisson.pmf(ks, lam) * np.ceil((ks - HT_SLOTS) / (HT_SLOTS - 1))))


def _ht_struct_bytes(n: int, layout: RedisLayout, steps_per_insert: int = 1, presized: int = 0,
                     struct: bool = True) -> float:
    """Bucket arrays, expected child buckets and (``struct``) the table struct of a Valkey 8.1 hash table."""
    size, old = hashtable_tables(n, steps_per_insert, presized)
    out = layout.alloc(HT_BUCKET_BYTES * size) if size else 0
    out += layout.alloc(HT_BUCKET_BYTES * old) if old else 0
    out += hashtable_child_buckets(n, size) * layout.alloc(HT_BUCKET_BYTES)
    return out + (layout.alloc(HT_STRUCT_BYTES) if struct else 0)


def _novalue_entries(n: int, size: int) -> float:
    """Value-less entries (Redis 7.2+ sets): a member alone in its bucket needs none; expected count."""
    return n - size * (1 - (1 - 1 / size) ** n) if size else 0.0


def _dict_bytes(n_entries: int, entry_payload_alloc: float, entry_payload_reported: float, layout: RedisLayout,
                steps_per_insert: int = 1, presized: int = 0, novalue: bool = False):
    """The body of a dict-encoded hash or set (its robj is in the key part)."""
    if layout.hashtable:
        t = _ht_struct_bytes(n_entries, layout, steps_per_insert, presized)
        size, old = hashtable_tables(n_entries, steps_per_insert, presized)  # MEMORY USAGE counts sizeof
        rep = HT_STRUCT_BYTES + HT_BUCKET_BYTES * (size + old + hashtable_child_buckets(n_entries, size))
        parts = {"hashtable": t, "elements": entry_payload_alloc}
        return t + entry_payload_alloc, rep + entry_payload_reported, parts
    size, old = dict_tables(n_entries, steps_per_insert, presized)
    slots = size + old
    buckets = (layout.alloc(8 * size) if size else 0) + (layout.alloc(8 * old) if old else 0)
    if novalue:
        n_alloc, entry = _novalue_entries(n_entries, size), 16
    else:
        n_alloc, entry = n_entries, layout.dict_entry
    entries = n_alloc * layout.alloc(entry)
    alloc = layout.alloc(layout.dict_struct) + buckets + entries + entry_payload_alloc
    # MEMORY USAGE: Redis counts sizeof(dictEntry) per element even without one; Valkey 8.0 the real entries
    rep_entries = n_alloc * entry if layout.family == "valkey" else n_entries * layout.dict_entry
    reported = layout.dict_struct + 8 * slots + rep_entries + entry_payload_reported
    parts = {"dict": layout.alloc(layout.dict_struct), "buckets": buckets, "dictEntries": entries,
             "elements": entry_payload_alloc}
    return alloc, reported, parts


def _packed(values: list[bytes], layout: RedisLayout):
    blob = pack_bytes(values, layout)
    a = layout.alloc(blob)
    return a, (a if layout.pack == "listpack" else blob), {layout.pack: a}


def valkey_hash_entry_bytes(field_len: int, value_len: int, layout: RedisLayout) -> int:
    """One field of a Valkey 8.1 hash table: field and value in one allocation up to 128 bytes, otherwise
    a value pointer + the field (≥ 3-byte header) and the value's own sds."""
    f = sds_request_bytes(field_len)
    v = 3 + value_len + 1
    if f + v <= layout.hash_embed_max_bytes:
        return layout.alloc(f + v)
    return layout.alloc(8 + _sds_hdr8_request_bytes(field_len)) + layout.alloc(sds_request_bytes(value_len))


def _hash_elements(items, layout: RedisLayout) -> int:
    if layout.hashtable:
        return sum(valkey_hash_entry_bytes(len(f), len(v), layout) for f, v in items)
    return sum(layout.alloc(field_request_bytes(len(f), layout)) + layout.alloc(sds_request_bytes(len(v)))
               for f, v in items)


def hash_key(key, mapping: Mapping, layout: RedisLayout, ttl: bool = False) -> KeyMemory:
    """A hash written with HSET (fields in insertion order)."""
    key = _b(key)
    items = [(_b(f), _b(v)) for f, v in mapping.items()]
    k_alloc, k_rep, parts = _key_part(key, layout, ttl)
    small = len(items) <= layout.hash_max_entries and all(
        len(f) <= layout.hash_max_value_bytes and len(v) <= layout.hash_max_value_bytes for f, v in items)
    if small:
        alloc, reported, p = _packed([x for fv in items for x in fv], layout)
        enc = layout.pack
    else:
        el = _hash_elements(items, layout)
        # 7.x presizes the dict when converting 513 small entries; otherwise fields arrive one HSET each
        converted = len(items) > layout.hash_max_entries and all(
            len(f) <= layout.hash_max_value_bytes and len(v) <= layout.hash_max_value_bytes for f, v in items)
        if converted and not layout.is_62:
            alloc, reported, p = _dict_bytes(len(items), el, el, layout, presized=len(items))
        elif converted:  # 6.2 converts entry by entry with dictAdd (1 step each)
            alloc, reported, p = _dict_bytes(len(items), el, el, layout, steps_per_insert=1)
        else:
            alloc, reported, p = _dict_bytes(len(items), el, el, layout, steps_per_insert=layout.hset_rehash_steps)
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
    k_alloc, k_rep, parts = _key_part(key, layout, ttl)
    ints = [as_redis_int(m) for m in mem]
    if mem and all(i is not None for i in ints) and len(mem) <= layout.set_max_intset_entries:
        lo, hi = min(ints), max(ints)
        width = 2 if -(1 << 15) <= lo and hi < 1 << 15 else 4 if -(1 << 31) <= lo and hi < 1 << 31 else 8
        blob = 8 + width * len(mem)
        a = layout.alloc(blob)
        alloc, reported = a, (a if not layout.is_62 else blob)
        p, enc = {"intset": a}, "intset"
    elif (layout.small_sets and len(mem) <= layout.set_max_listpack_entries
          and all(len(m) <= layout.set_max_listpack_value_bytes for m in mem)):
        alloc, reported, p = _packed(mem, layout)
        enc = "listpack"
    else:
        el = sum(layout.alloc(sds_request_bytes(len(m))) for m in mem)
        # integers beyond the intset limit go into a presized dict; strings arrive one by one before 7.2,
        # from 7.2 on one SADD of many members creates the table presized for them
        presized = len(mem) if all(i is not None for i in ints) or layout.small_sets else 0
        alloc, reported, p = _dict_bytes(len(mem), el, el, layout, presized=presized, novalue=layout.set_novalue)
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
    k_alloc, k_rep, parts = _key_part(key, layout, ttl)
    nodes = quicklist_nodes(els, layout)
    if layout.small_lists and len(nodes) <= 1:
        alloc, reported, p = _packed(els, layout)
        enc = "listpack"
    else:
        ql = layout.alloc(layout.quicklist_struct)
        node_structs = len(nodes) * layout.alloc(layout.quicklist_node)
        blobs = [pack_bytes(n, layout) for n in nodes]
        packs = sum(layout.alloc(b) for b in blobs)
        alloc = ql + node_structs + packs
        reported = (layout.quicklist_struct + len(nodes) * layout.quicklist_node
                    + (packs if layout.pack == "listpack" else sum(blobs)))
        p = {"quicklist": ql, "nodes": node_structs, layout.pack: packs}
        enc = "quicklist"
    parts.update(p)
    return _finish(enc, k_alloc + alloc, k_rep + reported, parts, ttl, layout)


def _finish(enc, alloc, reported, parts, ttl, layout) -> KeyMemory:
    if ttl and not layout.hashtable:  # Valkey 8.1 keeps the expire in the robj (see _key_part)
        parts["expires dictEntry"] = layout.alloc(layout.dict_entry)
        alloc += parts["expires dictEntry"]
    return KeyMemory(enc, alloc, reported, parts)


def keyspace_bytes(n_keys: int, n_volatile: int, layout: RedisLayout) -> float:
    """Bucket arrays of the main and expires dicts of one database (they grow in powers of two); on Valkey
    8.1+ the hash tables' bucket arrays and expected child buckets (rehashing done: it runs in the cron)."""
    if layout.hashtable:
        return (_ht_struct_bytes(n_keys, layout, 1 << 30, struct=False)
                + _ht_struct_bytes(n_volatile, layout, 1 << 30, struct=False))
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


def _uniform_ht(n: int, per_element_alloc: float, layout: RedisLayout, steps_per_insert: int,
                novalue: bool = False) -> float:
    """Body of a dict-encoded hash or set of ``n`` like elements (robj and key excluded)."""
    if n == 0:
        return 0.0
    if layout.hashtable:
        return _ht_struct_bytes(n, layout, steps_per_insert) + n * per_element_alloc
    size, old = dict_tables(n, steps_per_insert)
    buckets = layout.alloc(8 * size) + (layout.alloc(8 * old) if old else 0)
    entries = _novalue_entries(n, size) * layout.alloc(16) if novalue else n * layout.alloc(layout.dict_entry)
    return layout.alloc(layout.dict_struct) + buckets + entries + n * per_element_alloc


def _uniform_quicklist(n: int, elem: bytes, layout: RedisLayout) -> float:
    """Body of a list of ``n`` like elements pushed one by one (robj and key excluded)."""
    if n == 0:
        return 0.0
    per_node = _elements_per_node(elem, layout)
    full, rest = divmod(n, per_node)
    blobs = full * _uniform_pack_alloc(elem, per_node, layout)
    if rest:
        blobs += _uniform_pack_alloc(elem, rest, layout)
    nodes = full + (1 if rest else 0)
    if layout.small_lists and nodes == 1:
        return blobs
    return layout.alloc(layout.quicklist_struct) + nodes * layout.alloc(layout.quicklist_node) + blobs


def _hash_element_alloc(field_len: int, value_len: int, value_alloc: float, layout: RedisLayout) -> float:
    """One field of a dict-encoded hash; ``value_alloc``: the value's own allocation when it is separate."""
    if layout.hashtable:
        if sds_request_bytes(field_len) + 3 + value_len + 1 <= layout.hash_embed_max_bytes:
            return valkey_hash_entry_bytes(field_len, value_len, layout)
        return layout.alloc(8 + _sds_hdr8_request_bytes(field_len)) + value_alloc
    return layout.alloc(field_request_bytes(field_len, layout)) + value_alloc


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
        return _key_part(name.encode(), layout)[0]

    small_data = n <= layout.hash_max_entries and shape.payload_bytes <= layout.hash_max_value_bytes
    if small_data:
        parts["data hash"] = hash_key(p + "data", {wid + str(i).encode(): b"x" * shape.payload_bytes
                                                   for i in range(n)}, layout).alloc_bytes
    else:
        per = _hash_element_alloc(shape.id_bytes, shape.payload_bytes, shape.payload_alloc_bytes(layout), layout)
        parts["data hash"] = key_cost(p + "data") + _uniform_ht(n, per, layout, layout.hset_rehash_steps)
    if n <= layout.hash_max_entries:
        parts["state hash"] = hash_key(p + "state", {wid + str(i).encode(): b"Q" for i in range(n)},
                                       layout).alloc_bytes
    else:
        per = _hash_element_alloc(shape.id_bytes, 1, layout.alloc(sds_request_bytes(1)), layout)
        parts["state hash"] = key_cost(p + "state") + _uniform_ht(n, per, layout, layout.hset_rehash_steps)
    sched = p + "sched:" + shape.queue
    if layout.small_sets and n <= layout.set_max_listpack_entries:
        parts["sched set"] = set_key(sched, [wid + str(i).encode() for i in range(n)], layout).alloc_bytes
    else:
        parts["sched set"] = key_cost(sched) + _uniform_ht(n, layout.alloc(sds_request_bytes(shape.id_bytes)),
                                                           layout, 1, novalue=layout.set_novalue)
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
    cow_write_fraction: float = 0.5  # share of the resident memory at maxmemory written while a fork child lives
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
    copies each page written while the child lives; Redis's documentation warns it can reach 2 × the memory
    used. The worst moment is a fork with the node full, at maxmemory, whose pages in RAM are
    ``maxmemory × fragmentation_ratio``; ``cow_write_fraction`` of those pages are assumed written while the
    child lives: COW = ``cow_write_fraction × maxmemory × fragmentation_ratio`` (0 when nothing forks: no
    persistence and no replicas). :func:`cow_assumption` states it with the number.
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


def cow_assumption(o: NodeOverheads, rec: MemoryRecommendation) -> str:
    """The copy-on-write assumption as the report states it, with the bytes :func:`recommend_memory` added."""
    cow = rec.parts["fork copy-on-write"]
    if not cow:
        return "fork copy-on-write: none (no persistence and no replicas: nothing forks)"
    return (f"fork copy-on-write: {human_bytes(cow)} of node RAM = {o.cow_write_fraction:.0%} of the node's pages "
            f"at maxmemory (maxmemory × fragmentation {o.fragmentation_ratio:.2f}), assumed written while a BGSAVE, "
            "AOF rewrite or replica full-resync child lives (Redis's worst case: every page, 2 × the memory)")


def fragmentation_from_samples(rss_bytes: Sequence[float], used_bytes: Sequence[float],
                               min_used_bytes: float = 100 * MIB) -> float | None:
    """Median of used_memory_rss / used_memory over samples with a dataset large enough to matter
    (small datasets show huge ratios from the fixed RSS floor). None when no sample qualifies."""
    r = np.asarray(rss_bytes, float)
    u = np.asarray(used_bytes, float)
    ok = u >= min_used_bytes
    return float(np.median(r[ok] / u[ok])) if ok.any() else None
