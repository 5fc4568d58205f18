"""The run directory ``data/runs/<run-id>/``: the one owner of its files (written through
:mod:`rcapcore.rundata`, the run-data contract).

Schema: ``data/README.md``. A run directory is written once; :meth:`RunDir.seal` makes every
file read-only when the run ends, whatever its status.
"""

from __future__ import annotations

import os
import re
import secrets
import stat
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from rcapcore.rundata import EVENTS, MANIFEST, SERVER_DIR, SWEEP, append_jsonl, scrub_tree, write_json

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def utc_iso(epoch_s: float) -> str:
    """ISO-8601 UTC timestamp (second resolution) for an epoch time in seconds."""
    return datetime.fromtimestamp(epoch_s, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_id(label: str, now_s: float | None = None) -> str:
    """A sortable, unique id: ``20261125T171928Z-<label>-<4 hex>``."""
    stamp = datetime.fromtimestamp(now_s or time.time(), tz=timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{_SAFE.sub('_', label)[:40]}-{secrets.token_hex(2)}"


def check_out(out: str | Path) -> Path:
    """Check an output folder (``--out``) before anything starts: it must be a directory (or creatable
    under one), writable, and not inside an existing run directory (runs are immutable). One-line
    ``BadInput`` otherwise."""
    from rcapcore.errors import BadInput  # noqa: PLC0415

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise BadInput(f"--out {out} is a file, not a directory")
    probe = out
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise BadInput(f"--out {out}: {probe} is a file, not a directory")
    if probe.exists() and not os.access(probe, os.W_OK | os.X_OK):
        raise BadInput(f"--out {out}: {probe} is not writable")
    for folder in (out.resolve(), *out.resolve().parents):
        if (folder / MANIFEST).is_file():
            raise BadInput(f"--out {out} is inside the run directory {folder} (runs are immutable); "
                           "choose a folder outside it")
        if folder == out.resolve() and (folder / SWEEP).is_file():
            raise BadInput(f"--out {out} is a recorded sweep directory (immutable); choose another folder")
    return out


@dataclass
class RunDir:
    """One run's directory. Appends are thread-safe (the sampler and progress threads share it)."""

    path: Path
    secrets_to_scrub: list[str] = field(default_factory=list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def create(cls, out: str | Path, label: str, secrets_to_scrub: Iterable[str] = ()) -> "RunDir":
        """Create ``out/<new id>/`` (and ``out``); the id starts with the UTC time, so runs sort."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        while True:
            path = out / new_id(label)
            try:
                path.mkdir()
                break
            except FileExistsError:
                continue
        (path / SERVER_DIR).mkdir()
        return cls(path=path, secrets_to_scrub=[s for s in secrets_to_scrub if s])

    def file(self, name: str) -> Path:
        return self.path / name

    def write_json(self, name: str, obj: Any) -> None:
        write_json(self.path / name, obj)

    def append_jsonl(self, name: str, record: dict) -> None:
        with self._lock:
            append_jsonl(self.path / name, [record])

    def event(self, kind: str, t: float | None = None, **fields: Any) -> dict:
        """Append one event to ``events.jsonl``: ``{"t": epoch s, "kind": ..., **fields}``."""
        record = {"t": round(t if t is not None else time.time(), 3), "kind": kind, **fields}
        self.append_jsonl(EVENTS, record)
        return record

    def scrub_secrets(self) -> list[str]:
        """Last guard before sealing: mask a secret found inside a parsed JSON string value (or a line
        of a text file) and return the files where one was found.

        Secrets are kept out of run files at the source (redacted URLs, no password in configs,
        URLs redacted in error texts); this only catches an echo by a third party (Locust, a server
        error). It never replaces bytes blindly: JSON is parsed and re-serialized, so it stays valid,
        and secrets shorter than :data:`MIN_SCANNED_SECRET_LEN` are not searched at all (``0`` or
        ``redis`` occur in measurements by chance), so a weak password changes no byte of a run.
        """
        return [str(p.relative_to(self.path)) for p in scrub_tree(self.path, self.secrets_to_scrub)]

    def seal(self) -> None:
        """Make the run directory read-only: files 0444, directories 0555."""
        ro_file = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH
        ro_dir = ro_file | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH
        for tmp in self.path.rglob(".*.tmp"):
            tmp.unlink()
        for path in sorted(self.path.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            path.chmod(ro_dir if path.is_dir() else ro_file)
        self.path.chmod(ro_dir)


def node_file_name(host: str, port: int) -> str:
    """File stem of a node's server series: ``127.0.0.1_6379`` (stable across failovers)."""
    return f"{_SAFE.sub('_', host)}_{port}"
