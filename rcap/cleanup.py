"""``rcap cleanup RUN_DIR``: delete the keys a killed (or ``--keep``) run left under its prefix, and only those.

A run that starts on a prefix holding keys (``--reuse-prefix``) records their names in
``prefix_keys_at_start.txt.gz`` (one hex-encoded name per line) before the load starts; cleanup spares
them. A run without reuse started on an empty prefix, so every key under it now was created by the run
or by another client writing under the same prefix since (the same documented limit as a run's own
cleanup). A run whose own cleanup happened (a ``cleanup`` event) is refused: the keys under its prefix
now belong to someone else.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from rcapcore.errors import BadInput
from rcapcore.rundata import EVENTS, MANIFEST, Manifest, read_manifest

SNAPSHOT = "prefix_keys_at_start.txt.gz"


def write_snapshot(run_path: Path, keys: frozenset) -> None:
    """Record the key names present under the prefix at start (``bytes``), for :func:`cleanup_run`."""
    with gzip.open(Path(run_path) / SNAPSHOT, "wt", encoding="ascii") as fh:
        for key in sorted(k if isinstance(k, bytes) else str(k).encode() for k in keys):
            fh.write(key.hex() + "\n")


def read_snapshot(run_path: Path) -> frozenset:
    with gzip.open(Path(run_path) / SNAPSHOT, "rt", encoding="ascii") as fh:
        return frozenset(bytes.fromhex(line.strip()) for line in fh if line.strip())


def plan(run_path: str | Path) -> tuple[str, frozenset, Manifest]:
    """``(prefix, keys to spare, manifest)`` for cleaning up after ``run_path``; ``BadInput`` if it must not."""
    run_path = Path(run_path)
    man = read_manifest(run_path)
    if not man.run_id or man.is_experiment:
        raise BadInput(f"{run_path} is not a bench run directory (no run manifest)")
    prefix = man.param("prefix") or (man.scenario or {}).get("prefix")
    if not prefix:
        raise BadInput(f"{run_path}/{MANIFEST} names no key prefix")
    events = run_path / EVENTS
    if events.is_file():
        for line in events.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                if json.loads(line).get("kind") == "cleanup":
                    raise BadInput(f"run {man.run_id} already cleaned its prefix {prefix!r}: the keys there "
                                   "now are not its own")
            except json.JSONDecodeError:
                continue
    keep: frozenset = frozenset()
    if man.param("keys_found_under_prefix"):
        if not (run_path / SNAPSHOT).is_file():
            raise BadInput(f"run {man.run_id} reused a prefix holding keys but has no {SNAPSHOT}: "
                           "which keys it created cannot be told apart; nothing deleted")
        keep = read_snapshot(run_path)
    return prefix, keep, man
