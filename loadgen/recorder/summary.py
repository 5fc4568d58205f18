"""``summary.json``: whole-run latency percentiles (µs) and throughput per operation.

Built from ``latency.jsonl`` (one µs HdrHistogram per op per second, written by the Locust side),
so the percentiles are exact merges of the per-second histograms, never averages of percentiles.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from hdrh.histogram import HdrHistogram

from loadgen.histograms import decode, new_histogram
from loadgen.recorder.rundir import COUNTERS, LATENCY

PERCENTILES = {"p50_us": 50.0, "p90_us": 90.0, "p99_us": 99.0, "p999_us": 99.9}


def latency_stats(hist: HdrHistogram) -> dict[str, float]:
    """Percentiles, max and mean of a µs histogram, in µs."""
    if hist.get_total_count() == 0:
        return {**{k: None for k in PERCENTILES}, "max_us": None, "mean_us": None}
    out: dict[str, Any] = {k: hist.get_value_at_percentile(p) for k, p in PERCENTILES.items()}
    out["max_us"] = hist.get_max_value()
    out["mean_us"] = round(hist.get_mean_value(), 1)
    return out


def read_latency_lines(path: Path) -> Iterator[dict]:
    """The complete lines of a ``latency.jsonl`` (a torn last line, from an interruption, is skipped)."""
    if not path.exists():
        return
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.endswith("\n"):
                break
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue


@dataclass
class _OpAcc:
    count: int = 0
    errors: int = 0
    measured: HdrHistogram | None = None
    corrected: HdrHistogram | None = None

    def add(self, rec: dict) -> None:
        hist = decode(rec["hdr"]) if rec.get("hdr") else None
        if rec.get("kind", "measured") == "corrected":
            if hist is not None:
                self.corrected = hist if self.corrected is None else _merged(self.corrected, hist)
            return
        self.count += int(rec.get("count", 0))
        self.errors += int(rec.get("errors", 0))
        if hist is not None:
            self.measured = hist if self.measured is None else _merged(self.measured, hist)


def _merged(into: HdrHistogram, other: HdrHistogram) -> HdrHistogram:
    into.add(other)
    return into


def build_summary(run_path: Path, load_window_s: float | None = None) -> dict[str, Any]:
    """Summarise ``run_path/latency.jsonl`` and ``counters.json``.

    ``ops_per_s`` divides each op's count by the load window in seconds: ``load_window_s`` when
    given (start to stop of the load), else the span of the seconds present in the file.
    """
    ops: dict[str, _OpAcc] = {}
    total = _OpAcc()
    first_t = last_t = None
    for rec in read_latency_lines(run_path / LATENCY):
        t = rec.get("t")
        if t is not None:
            first_t = t if first_t is None else min(first_t, t)
            last_t = t if last_t is None else max(last_t, t)
        ops.setdefault(rec["op"], _OpAcc()).add(rec)
        total.add(rec)
    window_s = load_window_s
    if window_s is None and first_t is not None:
        window_s = float(last_t - first_t + 1)
    by_op = {name: _op_summary(acc, window_s) for name, acc in sorted(ops.items())}
    counters_path = run_path / COUNTERS
    counters = json.loads(counters_path.read_text()) if counters_path.exists() else {}
    return {
        "window_s": round(window_s, 3) if window_s else window_s,
        "first_t": first_t,
        "last_t": last_t,
        "open_loop": any(acc.corrected is not None for acc in ops.values()),
        "ops": by_op,
        "total": _op_summary(total, window_s),
        "counters": counters,
    }


def _op_summary(acc: _OpAcc, window_s: float | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "count": acc.count,
        "errors": acc.errors,
        "ops_per_s": round(acc.count / window_s, 1) if window_s else None,
    }
    out.update(latency_stats(acc.measured or new_histogram()))
    if acc.corrected is not None:
        out.update({f"corrected_{k}": v for k, v in latency_stats(acc.corrected).items()})
    return out
