"""One validator for every number and every YAML text that comes from a user.

- :func:`number` — YAML fields (scenarios, target loads), ``--set`` values and CLI options: rejects
  booleans, NaN and ±infinity, and anything above a sane upper bound (:data:`BOUNDS` by field name,
  else :data:`MAX_NUMBER`), so no later ``int()``/``range()``/allocation overflows or hangs.
- :func:`load_yaml` — a file's text as UTF-8 (one line if it is not), at most :data:`MAX_YAML_BYTES`,
  parsed with the safe loader and **without anchors or aliases** (a "billion laughs" file is refused
  before it expands).
- :func:`short` — a value for an error message, cut to a few dozen characters (a huge value is never
  formatted whole).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml

from rcapcore.errors import BadInput

MAX_NUMBER = 1e12
"""Upper bound of any number without its own entry in :data:`BOUNDS`."""
MAX_YAML_BYTES = 1_000_000
"""Largest scenario or target-load file read (bytes)."""

BOUNDS: dict[str, float] = {
    # load shape (per run)
    "users": 100_000, "processes": 256, "spawn_rate": 100_000, "rate": 10_000_000,
    "drain_s": 3_600, "seed": 2**63 - 1,
    # key spaces and sizes: a Zipf picker holds one float per key, so 10 M keys ≈ 80 MB at most
    "keyspace": 10_000_000, "value_bytes": 512 * 1024 * 1024, "upload_file_bytes": 512 * 1024 * 1024,
    "mget_keys": 10_000, "zipf_s": 100,
    # emulated cluster
    "nodes": 1_000, "producers": 10_000, "publishers": 10_000, "threads": 10_000, "kv_users": 10_000,
    "vcs_docs": 100_000, "dbs_ids": 100_000, "works": 1_000_000_000, "works_per_producer": 1_000_000_000,
    "processing_ms": 3_600_000, "work_processing_ms": 3_600_000,
    # target loads (analysis only, but they feed int() and exp())
    "documents": 1e12,
    "documents_growth_per_year": 10,  # a fraction per year: ×11 a year at most
}


def short(value: Any, limit: int = 40) -> str:
    """``repr(value)`` cut to ``limit`` characters."""
    text = repr(value) if not isinstance(value, str) else repr(value[: limit + 1])
    return text if len(text) <= limit else text[:limit] + "…"


def _field(where: str) -> str:
    """The field name at the end of a location such as ``scenario x: params.keyspace``."""
    tail = where.rsplit(":", 1)[-1].strip()
    return tail.rsplit(".", 1)[-1].split("[", 1)[0].lstrip("-").replace("-", "_")


def number(value: Any, where: str, *, integer: bool = False, minimum: float | None = None,
           maximum: float | None = None) -> float | int:
    """``value`` (a number, or text holding one) as a finite ``float`` (``int`` if ``integer``) within
    bounds; else one-line :class:`BadInput` naming ``where``. The default maximum comes from
    :data:`BOUNDS` for the field ``where`` ends with, else :data:`MAX_NUMBER`."""
    if isinstance(value, bool) or value is None:
        raise BadInput(f"{where}: expected {'an integer' if integer else 'a number'}, got {short(value)}")
    if isinstance(value, str):
        text = value.strip()
        try:
            value = int(text) if integer and len(text) <= 30 else float(text)
        except ValueError:
            raise BadInput(f"{where}: expected {'an integer' if integer else 'a number'}, got {short(value)}") from None
    if not isinstance(value, (int, float)):
        raise BadInput(f"{where}: expected {'an integer' if integer else 'a number'}, got {short(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise BadInput(f"{where}: {value!r} is not a finite number")
    if integer and isinstance(value, float):
        if not value.is_integer():
            raise BadInput(f"{where}: expected an integer, got {short(value)}")
    high = maximum if maximum is not None else BOUNDS.get(_field(where), MAX_NUMBER)
    if abs(value) > high:  # compared before int(): a 300-digit int or 1e300 never reaches arithmetic
        raise BadInput(f"{where}: {short(value)} is above the upper bound {high:,.0f}")
    if minimum is not None and value < minimum:
        raise BadInput(f"{where}: must be at least {minimum:g}, got {short(value)}")
    return int(value) if integer else float(value)


class _NoAliasLoader(yaml.SafeLoader):
    """The safe loader, refusing anchors (``&a``) and aliases (``*a``)."""

    def compose_node(self, parent, index):  # noqa: ANN001
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise _AnchorRefused(event.start_mark)
        return super().compose_node(parent, index)


class _AnchorRefused(Exception):
    def __init__(self, mark: Any) -> None:
        super().__init__("anchor")
        self.mark = mark


def yaml_text(text: str, where: str) -> Any:
    """Parse YAML ``text`` (anchors and aliases refused); ``BadInput`` ``where:line: …`` on errors."""
    try:
        return yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506  (a SafeLoader subclass)
    except _AnchorRefused as exc:
        raise BadInput(f"{where}:{exc.mark.line + 1}: YAML anchors and aliases (&name, *name) are not "
                       "accepted") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise BadInput(f"{where}{line}: invalid YAML: {short(problem, 200)}") from None
    except RecursionError:
        raise BadInput(f"{where}: YAML nested too deeply") from None


def read_text(path: str | Path, what: str, max_bytes: int = MAX_YAML_BYTES) -> str:
    """A user file's text (UTF-8, at most ``max_bytes``); ``BadInput`` naming ``what`` and the file."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise BadInput(f"cannot read {what} {path}: {exc.strerror}") from None
    if len(data) > max_bytes:
        raise BadInput(f"{what} {path} is larger than {max_bytes:,} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadInput(f"{what} {path} is not UTF-8 text (byte {exc.start}); is it the right file?") from None


def load_yaml(path: str | Path, what: str) -> Any:
    """:func:`read_text` + :func:`yaml_text`."""
    return yaml_text(read_text(path, what), str(path))
