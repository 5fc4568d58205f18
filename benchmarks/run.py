"""``make bench``: run every benchmark of the project, side by side with its reference, and print the
results (medians, ratios, machine). Results go to ``BENCHMARKS.md`` by hand; raw JSON is written to
``$TMPDIR/rcap-bench/`` (outside the repository).

    .venv/bin/python benchmarks/run.py [--quick]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = Path(tempfile.gettempdir()) / "rcap-bench"

# (script, arguments, quick arguments); scripts that do not exist yet are skipped
BENCHMARKS = [
    ("loadgen_throughput.py", ["--reps", "3", "--seconds", "10"], ["--reps", "1", "--seconds", "5"]),
    ("validate_models.py", [], []),
    ("long_run_analysis.py", ["--reps", "3"], ["--reps", "1", "--seconds", "600"]),
]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one short repetition each (a smoke run, not results)")
    args = ap.parse_args(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    failed = []
    for script, full, quick in BENCHMARKS:
        path = HERE / script
        if not path.exists():
            print(f"== {script}: not present, skipped")
            continue
        extra = quick if args.quick else full
        if script == "loadgen_throughput.py":
            extra = [*extra, "--json", str(RESULTS / "loadgen_throughput.json")]
        print(f"== {script} {' '.join(extra)}", flush=True)
        if subprocess.run([sys.executable, str(path), *extra], check=False).returncode != 0:
            failed.append(script)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
