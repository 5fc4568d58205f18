"""The KV-based transient store (spec §2.3) and its batch-upload sequence, as named patterns.

One REST batch upload of one non-chunked file is 7 + 28 + 13 + 26 = 74 round trips on
``<prefix>transient_BatchManagerCache:`` keys (spec Corrections 2): init the batch (``setCompleted`` +
``putParameter(handler)``), upload the file (REST ``hasBatch`` + ``getBatch``, then ``putBlobs`` + two
``putParameter``), read it back when attaching, drop the batch (``clean`` re-reads batch and entry).
In all: 34 GET, 17 DEL, 6 SETEX, 6 EXPIRE, 11 EVALSHA. The spec gives the counts per phase and per
command; the order of the steps within a phase is our reconstruction. Blobs never go to Redis: only
small JSON/marker strings (5–190 bytes). The first-level TTL is the version's (10.10: 240 min, 2021:
4,320 min; :mod:`rcapcore.nuxeo.versions`).
"""

from __future__ import annotations

import hashlib
import json
from typing import Iterator

from rcapcore.nuxeo.keys import DEFAULT_PREFIX
from rcapcore.nuxeo.kv import KVCommands, Pattern, compare_and_set, nominal_value

BATCH_STORE = "BatchManagerCache"
FIRST_LEVEL_TTL_S = 259_200  # 2021 default (nuxeo.transientstore.ttl=4320 min); 10.10: 14,400 s
SECOND_LEVEL_TTL_S = 600
BLOB_LOCK_TTL_S = 60
BLOBSIZE_KEY = "__blobsize__"
PHASES = ("init", "add", "read", "drop")
HANDLER = "default"  # AbstractBatchHandler's putParameter(batchId, "handler", "default") at init


def transient_store(store: str = BATCH_STORE, prefix: str = DEFAULT_PREFIX) -> KVCommands:
    """Builders for the transient store ``store`` (keys under ``<prefix>transient_<store>:``)."""
    return KVCommands(f"transient_{store}", prefix)


def blob_json(entry: str, size_bytes: int, filename: str = "document.pdf") -> str:
    """The ``<entry>.blob.<i>`` value: key, mimetype, encoding, filename, length, digest (≈170–190 B)."""
    digest = hashlib.md5(f"{entry}/{size_bytes}".encode()).hexdigest()
    return json.dumps({"key": digest, "mimetype": "application/pdf", "encoding": None,
                       "filename": filename, "length": str(size_bytes), "digest": digest},
                      separators=(",", ":"))


def _update_blobsize(ts: KVCommands, delta_bytes: int, nominal_current: int) -> Pattern:
    """GET + CAS loop on ``__blobsize__`` (no TTL); retries while other uploads win the race."""
    while True:
        current = nominal_value((yield ts.get(BLOBSIZE_KEY)), nominal_current or None)
        if current is None:
            if delta_bytes < 0:
                return  # nothing to decrement
            ok = yield from compare_and_set(ts, BLOBSIZE_KEY, None, delta_bytes)
        else:
            new = max(0, int(current) + delta_bytes)
            ok = yield from compare_and_set(ts, BLOBSIZE_KEY, current, new)
        if ok:
            return


def _lock_blobs(ts: KVCommands, entry: str) -> Pattern:
    yield from compare_and_set(ts, f"{entry}.bloblock", None, "true", BLOB_LOCK_TTL_S)


def _put_parameter(ts: KVCommands, entry: str, name: str, value: str, ttl_s: int) -> Pattern:
    # the entry exists already (created by init or putBlobs): the CAS does nothing, no EXPIRE follows
    yield from compare_and_set(ts, f"{entry}.completed", None, "false", ttl_s, nominal_ok=False)
    info_key = f"{entry}.paraminfo"
    current = nominal_value((yield ts.get(info_key)))
    names = json.loads(current) if current else []
    if name not in names:
        names.append(name)
    yield from compare_and_set(ts, info_key, current, json.dumps(names, separators=(",", ":")), ttl_s)
    yield ts.setex(f"{entry}.param.{name}", ttl_s, value)
    yield ts.delete(f"{entry}.param.{name}__format")  # a String value: no "java" format marker


def _read_params(ts: KVCommands, entry: str, params: tuple[str, ...]) -> Pattern:
    """``getParameters``: the name list, then each value and its ``__format`` marker."""
    yield ts.get(f"{entry}.paraminfo")
    for name in params:
        yield ts.get(f"{entry}.param.{name}")
        yield ts.get(f"{entry}.param.{name}__format")


def _get_batch(ts: KVCommands, batch_id: str, params: tuple[str, ...]) -> Pattern:
    """``BatchManager.getBatch``: the batch exists (``.completed``) and every batch parameter is read."""
    yield ts.get(f"{batch_id}.completed")
    yield from _read_params(ts, batch_id, params)


def init_batch(ts: KVCommands, batch_id: str, ttl_s: int = FIRST_LEVEL_TTL_S) -> Pattern:
    """``setCompleted(batchId, false)`` + ``putParameter(batchId, "handler", "default")``: 7 round trips."""
    yield ts.setex(f"{batch_id}.completed", ttl_s, "false")
    yield from _put_parameter(ts, batch_id, "handler", HANDLER, ttl_s)


def add_file(ts: KVCommands, batch_id: str, index: int = 0, size_bytes: int = 1_000_000,
             filename: str = "document.pdf", ttl_s: int = FIRST_LEVEL_TTL_S) -> Pattern:
    """REST upload of one non-chunked file: ``hasBatch``, ``getBatch``, the file entry's existence check,
    ``putBlobs`` + 2 × ``putParameter``: 28 round trips on a fresh batch."""
    entry = f"{batch_id}_{index}"
    yield ts.get(f"{batch_id}.completed")  # hasBatch
    yield from _get_batch(ts, batch_id, ("handler",))
    yield ts.get(f"{entry}.completed")  # a new file entry
    yield from _lock_blobs(ts, entry)
    yield ts.get(f"{entry}.blobinfo")
    yield ts.setex(f"{entry}.blob.0", ttl_s, blob_json(entry, size_bytes, filename))
    yield ts.setex(f"{entry}.blobinfo", ttl_s, json.dumps({"count": "1", "size": str(size_bytes)}))
    yield from _update_blobsize(ts, size_bytes, nominal_current=0)
    yield from compare_and_set(ts, f"{entry}.completed", None, "false", ttl_s)
    yield ts.delete(f"{entry}.bloblock")
    yield from _put_parameter(ts, entry, "chunked", "false", ttl_s)
    yield from _put_parameter(ts, batch_id, str(index), entry, ttl_s)


def read_batch(ts: KVCommands, batch_id: str, index: int = 0) -> Pattern:
    """Read the batch (with its handler), its file entry and blob when attaching: 13 round trips."""
    entry = f"{batch_id}_{index}"
    yield ts.get(f"{batch_id}.completed")
    yield ts.get(f"{batch_id}.paraminfo")
    yield ts.get(f"{batch_id}.param.handler")
    yield ts.get(f"{batch_id}.param.handler__format")
    yield ts.get(f"{batch_id}.param.{index}")
    yield ts.get(f"{batch_id}.param.{index}__format")
    yield ts.get(f"{entry}.param.chunked")
    yield ts.get(f"{entry}.param.chunked__format")
    yield from _lock_blobs(ts, entry)
    yield ts.get(f"{entry}.blobinfo")
    yield ts.get(f"{entry}.blob.0")
    yield ts.delete(f"{entry}.bloblock")


def _remove_entry(ts: KVCommands, entry: str, params: tuple[str, ...], blobs: int) -> Pattern:
    yield ts.get(f"{entry}.paraminfo")
    yield ts.get(f"{entry}.blobinfo")
    yield ts.delete(f"{entry}.completed")
    yield ts.delete(f"{entry}.paraminfo")
    for name in params:
        yield ts.delete(f"{entry}.param.{name}")
        yield ts.delete(f"{entry}.param.{name}__format")
    if blobs:
        yield ts.delete(f"{entry}.blobinfo")
        for i in range(blobs):
            yield ts.delete(f"{entry}.blob.{i}")


def drop_batch(ts: KVCommands, batch_id: str, index: int = 0, size_bytes: int = 1_000_000) -> Pattern:
    """``clean``: re-read the batch and the file entry, remove the entry (and its size from
    ``__blobsize__``), then the batch entry: 26 round trips."""
    entry = f"{batch_id}_{index}"
    yield from _get_batch(ts, batch_id, ("handler", str(index)))
    yield ts.get(f"{entry}.completed")
    yield ts.get(f"{entry}.blobinfo")
    yield from _remove_entry(ts, entry, ("chunked",), blobs=1)
    yield from _update_blobsize(ts, -size_bytes, nominal_current=size_bytes)
    yield from _remove_entry(ts, batch_id, ("handler", str(index)), blobs=0)


def batch_upload(ts: KVCommands, batch_id: str, size_bytes: int = 1_000_000,
                 ttl_s: int = FIRST_LEVEL_TTL_S) -> Pattern:
    """The whole sequence for one file: init, upload, attach, drop (7 + 28 + 13 + 26 = 74 round trips)."""
    yield from init_batch(ts, batch_id, ttl_s)
    yield from add_file(ts, batch_id, 0, size_bytes, ttl_s=ttl_s)
    yield from read_batch(ts, batch_id, 0)
    yield from drop_batch(ts, batch_id, 0, size_bytes)


def batch_upload_phases(ts: KVCommands, batch_id: str, size_bytes: int = 1_000_000,
                        ttl_s: int = FIRST_LEVEL_TTL_S) -> Iterator[tuple[str, Pattern]]:
    """The same sequence split into named phases ``(phase, pattern)``, for per-phase request names."""
    yield "init", init_batch(ts, batch_id, ttl_s)
    yield "add", add_file(ts, batch_id, 0, size_bytes, ttl_s=ttl_s)
    yield "read", read_batch(ts, batch_id, 0)
    yield "drop", drop_batch(ts, batch_id, 0, size_bytes)
