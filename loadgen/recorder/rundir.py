"""The run directory ``data/runs/<run-id>/``: the one writer of its files.

Schema: ``data/README.md``. A run directory is written once; :meth:`RunDir.seal` makes every
file read-only when the run ends, whatever its status.
"""

from __future__ import annotations

import json
import math
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

from rcapcore.redaction import redact_value

MANIFEST = "manifest.json"
SUMMARY = "summary.json"
LATENCY = "latency.jsonl"
COUNTERS = "counters.json"
EVENTS = "events.jsonl"
WORKLOAD = "workload.jsonl"
SERVER_DIR = "server"
LOCUST_CSV_PREFIX = "locust"  # Locust's --csv writes locust_stats.csv, locust_stats_history.csv, ...
SWEEP = "sweep.json"

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
MIN_SCANNED_SECRET_LEN = 8
"""Shortest secret the final check searches run files for (shorter ones match measurements by chance)."""


def utc_iso(epoch_s: float) -> str:
    """ISO-8601 UTC timestamp (second resolution) for an epoch time in seconds."""
    return datetime.fromtimestamp(epoch_s, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_id(label: str, now_s: float | None = None) -> str:
    """A sortable, unique id: ``20261125T171928Z-<label>-<4 hex>``."""
    stamp = datetime.fromtimestamp(now_s or time.time(), tz=timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{_SAFE.sub('_', label)[:40]}-{secrets.token_hex(2)}"


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, bytes):
        return obj.decode("utf-8", "replace")
    return str(obj)


def dumps(obj: Any, indent: int | None = None) -> str:
    """JSON text of ``obj``, with any URL inside a string value redacted (no password reaches a file)
    and ``NaN``/``Infinity`` written as ``null`` (they are not JSON)."""
    return json.dumps(_clean(obj), default=_json_default, indent=indent, sort_keys=indent is not None,
                      allow_nan=False)


def _clean(obj: Any) -> Any:
    if isinstance(obj, str):
        return redact_value(obj)
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def write_json(path: Path, obj: Any) -> None:
    """Write JSON atomically (temporary file + rename), so a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(dumps(obj, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


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
        line = dumps(record) + "\n"
        with self._lock, open(self.path / name, "a", encoding="utf-8") as fh:
            fh.write(line)

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


def scrub_tree(directory: Path, secret_values: Iterable[str], skip_suffixes: tuple[str, ...] = ()) -> list[Path]:
    """Mask secrets found in the text files under ``directory``; return the files changed.

    JSON (``.json``, ``.ipynb``) and JSON-lines files are masked inside parsed string values only, so they
    stay valid; other text files line by line; files with ``skip_suffixes`` (a PDF's compressed bytes) and
    secrets shorter than :data:`MIN_SCANNED_SECRET_LEN` are left alone. The one scrubber of run
    directories (:meth:`RunDir.scrub_secrets`) and reports (``analysis.report.scrub_secrets``)."""
    needles = [s for s in secret_values if s and len(s) >= MIN_SCANNED_SECRET_LEN]
    fixed: list[Path] = []
    if not needles:
        return fixed
    for path in sorted(p for p in directory.rglob("*") if p.is_file() and p.suffix not in skip_suffixes):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if not any(n in text for n in needles):
            continue
        if path.suffix in (".json", ".jsonl", ".ipynb"):
            new = _mask_json_text(text, needles, lines=path.suffix == ".jsonl")
        else:
            new = text
            for n in needles:
                new = new.replace(n, "***")
        if new != text:
            path.write_text(new, encoding="utf-8")
            fixed.append(path)
    return fixed


def _mask_value(obj: Any, needles: list[str]) -> Any:
    if isinstance(obj, str):
        for n in needles:
            obj = obj.replace(n, "***")
        return obj
    if isinstance(obj, list):
        return [_mask_value(v, needles) for v in obj]
    if isinstance(obj, dict):
        return {_mask_value(k, needles): _mask_value(v, needles) for k, v in obj.items()}
    return obj


def _mask_json_text(text: str, needles: list[str], *, lines: bool) -> str:
    """``text`` (JSON, or JSON lines) with the needles masked inside string values only; a part that
    does not parse or holds no needle is kept byte for byte."""
    parts = text.splitlines(keepends=True) if lines else [text]
    out = []
    for part in parts:
        if any(n in part for n in needles):
            try:
                value = json.loads(part)
            except json.JSONDecodeError:
                out.append(part)
                continue
            masked = _mask_value(value, needles)
            if masked != value:
                end = "\n" if part.endswith("\n") else ""
                part = (dumps(masked) if lines else dumps(masked, indent=2)) + end
        out.append(part)
    return "".join(out)


def node_file_name(host: str, port: int) -> str:
    """File stem of a node's server series: ``127.0.0.1_6379`` (stable across failovers)."""
    return f"{_SAFE.sub('_', host)}_{port}"
