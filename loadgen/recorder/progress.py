"""The live progress line (stderr) and the follower of ``latency.jsonl`` that feeds it.

One line, refreshed every second: elapsed/remaining time, ops/s and p99 (µs) of the last complete
second, the master's used_memory, and the WorkManager backlog (works scheduled, not yet completed).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console
from rich.live import Live
from rich.text import Text

from rcapcore.latency import decode


@dataclass
class SecondStats:
    """What the client side did in one wall-clock second (all operations merged)."""

    t: int
    ops: int
    errors: int
    p99_us: int | None


class LatencyFollower:
    """Reads the lines appended to ``latency.jsonl`` since the last call (the Locust side writes it).

    Only complete lines are consumed, so a line being written is read at the next poll.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._pos = 0
        self._buf = ""

    def poll(self) -> list[dict]:
        if not self.path.exists():
            return []
        with open(self.path, encoding="utf-8") as fh:
            fh.seek(self._pos)
            chunk = fh.read()
            self._pos = fh.tell()
        self._buf += chunk
        *lines, self._buf = self._buf.split("\n")
        out = []
        for line in lines:
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return out


def per_second(records: list[dict]) -> list[SecondStats]:
    """Merge measured records by second (all ops): count, errors and p99 (µs)."""
    by_t: dict[int, list[dict]] = {}
    for rec in records:
        if rec.get("kind", "measured") == "measured":
            by_t.setdefault(int(rec["t"]), []).append(rec)
    out = []
    for t in sorted(by_t):
        hist = None
        for rec in by_t[t]:
            if rec.get("hdr"):
                h = decode(rec["hdr"])
                if hist is None:
                    hist = h
                else:
                    hist.add(h)
        p99 = hist.get_value_at_percentile(99.0) if hist is not None and hist.get_total_count() else None
        out.append(SecondStats(t=t, ops=sum(int(r.get("count", 0)) for r in by_t[t]),
                               errors=sum(int(r.get("errors", 0)) for r in by_t[t]), p99_us=p99))
    return out


def _fmt_bytes(n: float | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _fmt_s(s: float) -> str:
    s = max(int(s), 0)
    return f"{s // 60}:{s % 60:02d}"


def format_line(*, label: str, elapsed_s: float, duration_s: float | None, ops_per_s: float | None,
                p99_us: float | None, used_memory_bytes: float | None, backlog: int | None,
                errors: int = 0) -> str:
    """The progress line's text."""
    remaining = f" / -{_fmt_s(duration_s - elapsed_s)}" if duration_s else ""
    parts = [
        f"{label} {_fmt_s(elapsed_s)}{remaining}",
        f"{ops_per_s:,.0f} ops/s" if ops_per_s is not None else "- ops/s",
        f"p99 {p99_us:,.0f} µs" if p99_us is not None else "p99 - µs",
        f"used_memory {_fmt_bytes(used_memory_bytes)}",
        f"backlog {backlog:,}" if backlog is not None else "backlog -",
    ]
    if errors:
        parts.append(f"errors {errors:,}")
    return " | ".join(parts)


class ProgressLine:
    """A single live line on stderr (rich). Off when ``enabled`` is false; when stderr is not a
    terminal, rich prints only the final state, so logs stay short."""

    def __init__(self, enabled: bool = True, stream: TextIO | None = None) -> None:
        self.enabled = enabled
        self._console = Console(file=stream or sys.stderr, highlight=False, soft_wrap=True)
        if not self._console.is_terminal:  # logs: never crop the line to rich's default 80 columns
            self._console = Console(file=stream or sys.stderr, highlight=False, soft_wrap=True, width=240)
        self._live: Live | None = None
        self.last_text = ""

    def __enter__(self) -> "ProgressLine":
        if self.enabled:
            self._live = Live(Text(""), console=self._console, auto_refresh=False, transient=False)
            self._live.start()
        return self

    def update(self, **fields: Any) -> str:
        self.last_text = format_line(**fields)
        if self._live is not None:
            self._live.update(Text(self.last_text), refresh=True)
        return self.last_text

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
            if not self._console.is_terminal:  # rich leaves the final render without its newline
                self._console.line()

    def warn(self, message: str) -> None:
        """A warning line printed above the live line."""
        self._console.print(f"rcap: warning: {message}", markup=False, highlight=False)
