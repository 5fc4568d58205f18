"""Analysing a recorded 1-hour run: ``analysis.runs.load_run`` (every frame) plus ``rcap model memory``.

Synthesises the run with ``synth_long_run.py`` in a temporary folder (≈18,000 latency rows, 10,800
server samples, 3,600 backlog samples), then times, ``--reps`` times each, in fresh processes:
``load_run`` building ``latency``, ``server``, ``workload`` and ``events``; and ``rcap model memory
--runs <run> --works 1000000 --payload 1500``. Prints wall-clock medians (s) and the process CPU time,
which a shared machine inflates less. Goal (issue 11): both together within 10 s.

    .venv/bin/python benchmarks/long_run_analysis.py [--reps 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
LOAD = ("from analysis.runs import load_run; r = load_run({path!r}); "
        "print(len(r.latency), len(r.server), len(r.workload), len(r.events))")


def _timed(argv: list[str]) -> tuple[float, float, str]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout.strip()
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=3600, help="length of the synthetic run (s)")
    args = ap.parse_args()
    sys.path.insert(0, str(HERE))
    from synth_long_run import synthesise  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as tmp:
        run = synthesise(Path(tmp) / "long-run", args.seconds)
        rcap = str(Path(sys.executable).with_name("rcap"))
        results = {"load_run": [], "model memory": []}
        for _ in range(args.reps):
            results["load_run"].append(_timed([sys.executable, "-c", LOAD.format(path=str(run))]))
            results["model memory"].append(_timed([rcap, "model", "memory", "--runs", str(run), "--works", "1000000",
                                                   "--payload", "1500"]))
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} (shared with other jobs)")
        total_wall = total_cpu = 0.0
        for name, rows in results.items():
            wall, cpu = statistics.median(r[0] for r in rows), statistics.median(r[1] for r in rows)
            total_wall, total_cpu = total_wall + wall, total_cpu + cpu
            print(f"{name:>13}: median wall {wall:5.2f} s, CPU {cpu:5.2f} s  ({rows[-1][2]})")
        print(f"{'total':>13}: median wall {total_wall:5.2f} s, CPU {total_cpu:5.2f} s (goal ≤ 10 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
