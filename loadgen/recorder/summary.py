"""``summary.json``: whole-run latency percentiles (µs) and throughput per operation.

Built from ``latency.jsonl`` (one µs HdrHistogram per op per second, written by the Locust side),
so the percentiles are exact merges of the per-second histograms, never averages of percentiles.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hdrh.histogram import HdrHistogram

from rcapcore.rundata import COUNTERS, LATENCY
from rcapcore.latency import GENERATOR, decode, latency_stats, new_histogram, read_latency_lines


@dataclass
class _OpAcc:
    count: int = 0
    errors: int = 0
    measured: HdrHistogram | None = None
    corrected: HdrHistogram | None = None
    per_second: dict[int, int] = field(default_factory=dict)

    def add(self, rec: dict) -> None:
        hist = decode(rec["hdr"]) if rec.get("hdr") else None
        if rec.get("kind", "measured") == "corrected":
            if hist is not None:
                self.corrected = hist if self.corrected is None else _merged(self.corrected, hist)
            return
        self.count += int(rec.get("count", 0))
        self.errors += int(rec.get("errors", 0))
        t = int(rec.get("t", 0))
        self.per_second[t] = self.per_second.get(t, 0) + int(rec.get("count", 0))
        if hist is not None:
            self.measured = hist if self.measured is None else _merged(self.measured, hist)


def _merged(into: HdrHistogram, other: HdrHistogram) -> HdrHistogram:
    into.add(other)
    return into


def build_summary(run_path: Path) -> dict[str, Any]:
    """Summarise ``run_path/latency.jsonl`` and ``counters.json``.

    ``count``/``errors`` cover the whole run. ``ops_per_s`` is the steady rate: the mean over the
    run's complete seconds, i.e. every second of the file but the first and the last, which are
    partial (users starting, stopping). Runs shorter than 3 s use every second.
    """
    ops: dict[str, _OpAcc] = {}
    total = _OpAcc()
    lag = _OpAcc()
    first_t = last_t = None
    for rec in read_latency_lines(run_path / LATENCY):
        t = rec.get("t")
        if t is not None:
            first_t = t if first_t is None else min(first_t, t)
            last_t = t if last_t is None else max(last_t, t)
        if rec.get("kind") == GENERATOR:  # the load generator's own lag: not a request
            lag.add(rec)
            continue
        ops.setdefault(rec["op"], _OpAcc()).add(rec)
        total.add(rec)
    steady: tuple[int, int] | None = None
    if first_t is not None:
        steady = (int(first_t) + 1, int(last_t) - 1) if last_t - first_t >= 2 else (int(first_t), int(last_t))
    by_op = {name: _op_summary(acc, steady) for name, acc in sorted(ops.items())}
    counters_path = run_path / COUNTERS
    counters = json.loads(counters_path.read_text()) if counters_path.exists() else {}
    scans = _keys_scans(run_path) if any(name.startswith("KEYS ") for name in ops) else None
    return {
        "first_t": first_t,
        "last_t": last_t,
        "steady_first_t": steady[0] if steady else None,
        "steady_last_t": steady[1] if steady else None,
        "open_loop": any(acc.corrected is not None for acc in ops.values()),
        "ops": by_op,
        "total": _op_summary(total, steady),
        # open loop: how late paced iterations started because of rcap itself (µs), see loadgen.pacing
        "generator_lag": {"count": lag.count, **latency_stats(lag.measured)} if lag.measured else None,
        "counters": counters,
        **({"keys_scans": scans} if scans else {}),
    }


def _keys_scans(run_path: Path) -> dict[str, Any] | None:
    """Nuxeo's scheduled KEYS (spec Corrections 9): their latency, and the other requests' latency in the
    seconds with a scan against the other seconds (the spike the scans cause), µs."""
    recs = [r for r in read_latency_lines(run_path / LATENCY) if r.get("kind", "measured") == "measured"
            and r.get("hdr") and r.get("t") is not None]
    scan_s = {r["t"] for r in recs if r["op"].startswith("KEYS ")}
    scan, during, otherwise = new_histogram(), new_histogram(), new_histogram()
    for r in recs:
        h = decode(r["hdr"])
        if r["op"].startswith("KEYS "):
            scan.add(h)
        else:
            (during if r["t"] in scan_s else otherwise).add(h)
    if not scan.get_total_count():
        return None
    return {"scans": scan.get_total_count(), "scan": latency_stats(scan),
            "others_in_scan_seconds": latency_stats(during), "others_other_seconds": latency_stats(otherwise)}


def _op_summary(acc: _OpAcc, steady: tuple[int, int] | None) -> dict[str, Any]:
    rate = None
    if steady is not None:
        n = sum(c for t, c in acc.per_second.items() if steady[0] <= t <= steady[1])
        rate = round(n / (steady[1] - steady[0] + 1), 1)
    out: dict[str, Any] = {"count": acc.count, "errors": acc.errors, "ops_per_s": rate}
    out.update(latency_stats(acc.measured or new_histogram()))
    if acc.corrected is not None:
        out.update({f"corrected_{k}": v for k, v in latency_stats(acc.corrected).items()})
    return out
