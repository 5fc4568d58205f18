"""Repeatability: run one experiment N times with the same seed and report the spread of its numbers.

The seed fixes the input (ids, payloads, messages, timeline), so the spread is the system's own
variation (scheduling, elections, timers). The repeat's ``result.json`` holds, for every numeric field
the runs share, the median, min and max, plus the list of run ids.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Callable

from loadgen.recorder.rundir import RunDir, utc_iso
from rcapcore.rundata import MANIFEST
from rcap.failover.record import RESULT

_NOT_MEASURES = {"seed", "t0", "status", "min_replicas_to_write", "min_replicas_max_lag_s", "wait_replicas",
                 "down_after_ms", "works", "maxmemory_bytes", "confirm_attempts"}


def _numbers(obj: dict, prefix: str = "") -> dict[str, float]:
    """Numeric fields of ``obj``, nested dicts flattened as ``outer.inner`` (lists skipped)."""
    out: dict[str, float] = {}
    for key, value in obj.items():
        if key in _NOT_MEASURES:
            continue
        if isinstance(value, dict):
            out.update(_numbers(value, f"{prefix}{key}."))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[f"{prefix}{key}"] = float(value)
    return out


def spread(results: list[dict]) -> dict[str, dict[str, float]]:
    """``{field: {"median", "min", "max", "n"}}`` over the numeric fields (None values skipped)."""
    fields: dict[str, list[float]] = {}
    for result in results:
        for key, value in _numbers(result).items():
            fields.setdefault(key, []).append(value)
    return {k: {"median": statistics.median(v), "min": min(v), "max": max(v), "n": len(v)}
            for k, v in sorted(fields.items())}


def repeat(run_once: Callable[[], Path], times: int, out: str | Path, label: str, *, log=None) -> Path:
    """Call ``run_once()`` (returns a result.json path) ``times`` times; write the spread to a run
    directory of its own and return its ``result.json`` path. Ctrl-C keeps the runs done so far."""
    say = log or (lambda _line: None)
    run = RunDir.create(out, f"{label}-x{times}")
    start_t = time.time()
    manifest = {"kind": "repeat", "run_id": run.path.name, "experiment": label, "times": times,
                "status": "running", "start_t": round(start_t, 3), "start": utc_iso(start_t), "runs": []}
    run.write_json(MANIFEST, manifest)
    results: list[dict] = []
    status = "complete"
    try:
        for i in range(times):
            say(f"repeat {i + 1}/{times}")
            path = run_once()
            result = json.loads(Path(path).read_text())
            results.append(result)
            manifest["runs"].append(result.get("run_id"))
            run.write_json(MANIFEST, manifest)
    except KeyboardInterrupt:
        status = "interrupted"
    summary = {"experiment": label, "repeat": times, "completed_runs": len(results), "status": status,
               "run_ids": manifest["runs"], "run_statuses": [r.get("status") for r in results],
               "spread": spread(results)}
    run.write_json(RESULT, summary)
    end_t = time.time()
    manifest.update(status=status, end_t=round(end_t, 3), end=utc_iso(end_t))
    run.write_json(MANIFEST, manifest)
    run.seal()
    return run.file(RESULT)
