"""Export a run's µs histograms as HdrHistogram interval logs (``.hlog``) for the standard HDR tools.

One file per operation and kind (``<op>.measured.hlog``, ``<op>.corrected.hlog``), untagged, so both the
Java ``HistogramLogProcessor`` and the Python ``hdrh.log.HistogramLogReader`` read them. Each interval
is one second of ``latency.jsonl``; its histogram is copied as recorded (compressed V2 encoding), so the
export is exact. Values are µs; the ``Interval_Max`` column is in ms (max value unit ratio 1000), and
Java's processor prints ms with ``-outputValueUnitRatio 1000``.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

from analysis.runs import Run
from rcapcore.latency import decode
from rcapcore.rundata import LATENCY
from rcapcore.latency import read_latency_lines

MAX_VALUE_UNIT_RATIO = 1000.0
"""µs → ms for the ``Interval_Max`` column."""


def _slug(op: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", op).strip("_") or "op"


def write_hlogs(run: Run, out_dir: str | Path) -> list[Path]:
    """Write one ``.hlog`` per op and kind of ``run`` into ``out_dir`` (created); returns the files."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    lines: dict[tuple[str, str], list[str]] = {}
    first_t: float | None = None
    for rec in read_latency_lines(run.path / LATENCY):
        if not rec.get("hdr") or not rec.get("count"):
            continue
        t = float(rec["t"])
        first_t = t if first_t is None else min(first_t, t)
        max_us = decode(rec["hdr"]).get_max_value()
        lines.setdefault((rec["op"], rec.get("kind", "measured")), []).append(
            f"{t:.3f},1.000,{max_us / MAX_VALUE_UNIT_RATIO:.3f},{rec['hdr']}\n")
    files = []
    for (op, kind), body in sorted(lines.items()):
        path = out_dir / f"{_slug(op)}.{kind}.hlog"
        start = datetime.fromtimestamp(first_t or 0, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        with open(path, "w", encoding="ascii", errors="replace") as fh:
            fh.write(f"#rcap run {run.id}, op {op!r}, {kind} latency in microseconds "
                     "(1 us .. 60 s, 3 significant digits)\n")
            fh.write("#[Histogram log format version 1.2]\n")
            fh.write(f"#[StartTime: {first_t or 0:.3f} (seconds since epoch), {start}]\n")
            fh.write('"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"\n')
            fh.writelines(body)
        files.append(path)
    return files


__all__ = ["write_hlogs"]
