"""Prefix safety on shared targets: count, refuse, and clean up keys under rcap's prefix only.

SCAN (never KEYS) and UNLINK; in a cluster every master is scanned. Never FLUSHDB or FLUSHALL.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from redis.cluster import RedisCluster

from rcapcore.errors import BadInput, TargetError

SCAN_COUNT = 1000  # keys per SCAN call: large enough to be quick, small enough not to block Redis
UNLINK_BATCH = 500


def match_pattern(prefix: str) -> str:
    """A SCAN MATCH pattern for keys that start with ``prefix`` (glob characters escaped)."""
    if not prefix:
        raise BadInput("the key prefix must not be empty (it keeps rcap away from other data)")
    return re.sub(r"([*?\[\]\\])", r"\\\1", prefix) + "*"


def scan_prefix(client, prefix: str) -> Iterator[bytes | str]:
    """Every key under ``prefix`` (all masters of a cluster)."""
    if isinstance(client, RedisCluster):
        for node in client.get_primaries():
            yield from client.scan_iter(match=match_pattern(prefix), count=SCAN_COUNT, target_nodes=node)
    else:
        yield from client.scan_iter(match=match_pattern(prefix), count=SCAN_COUNT)


def prefix_key_count(client, prefix: str) -> int:
    """Number of keys whose name starts with ``prefix``."""
    return sum(1 for _ in scan_prefix(client, prefix))


REUSE_KEY_CAP = 100_000
"""Most keys a prefix may hold for ``--reuse-prefix``: their names are snapshotted in rcap's memory
(≈ 100 bytes each) so that cleanup can spare them; above this, reuse is refused."""


def ensure_prefix_free(client, prefix: str, reuse: bool = False) -> int:
    """Refuse (``TargetError``) a target whose ``prefix`` already holds keys, unless ``reuse``.
    Returns the number of keys found."""
    return len(snapshot_prefix(client, prefix, reuse=reuse))


def snapshot_prefix(client, prefix: str, reuse: bool = False, cap: int = REUSE_KEY_CAP) -> frozenset:
    """The names of the keys already under ``prefix`` (SCAN, client side): the keys a run must never
    delete. Without ``reuse`` any key is refused (``TargetError``); with it, more than ``cap`` keys are."""
    found: set = set()
    for key in scan_prefix(client, prefix):
        if not reuse:
            count = prefix_key_count(client, prefix)  # a fresh, complete count for the message
            raise TargetError(f"{count} keys already exist under the prefix {prefix!r}: choose "
                              "another --prefix, pass --reuse-prefix to run beside them (their names are "
                              "recorded at start and never deleted), or, if a killed run left them, "
                              "rcap cleanup RUN_DIR")
        found.add(key)
        if len(found) > cap:
            raise TargetError(f"more than {cap:,} keys exist under the prefix {prefix!r}: too many to "
                              "snapshot for --reuse-prefix; choose another --prefix")
    return frozenset(found)


def cleanup_prefix(client, prefix: str, keep: frozenset | set = frozenset()) -> int:
    """UNLINK every key under ``prefix`` except those in ``keep`` (the keys present at start);
    returns how many were removed. A key another client created under the prefix during the run is
    removed too: the prefix is meant to be rcap's alone."""
    removed = 0
    batch: list = []
    for key in scan_prefix(client, prefix):
        if key in keep:
            continue
        batch.append(key)
        if len(batch) >= UNLINK_BATCH:
            removed += _unlink(client, batch)
            batch = []
    if batch:
        removed += _unlink(client, batch)
    return removed


def _unlink(client, keys: list) -> int:
    return int(client.unlink(*keys))  # RedisCluster splits a multi-key UNLINK per slot itself
