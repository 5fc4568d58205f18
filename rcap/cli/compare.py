"""``rcap show RUN`` and ``rcap compare A B``: one run's per-op table; the before/after of a change."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rcapcore.errors import BadInput


def register(sub: argparse._SubParsersAction) -> None:
    show = sub.add_parser(
        "show", help="one run's per-op table (count, errors, ops/s, p50–p99.9 µs, server CPU and memory)",
        description="Print the per-operation table of a recorded run: count, errors, steady ops/s, measured "
                    "(and open-loop corrected) percentiles in µs, the server's CPU and peak used_memory.",
        epilog="example: rcap show data/runs/20261203T101500Z-kv-1a2b")
    show.add_argument("run", metavar="RUN", help="run directory")
    show.add_argument("--json", action="store_true", help="print summary.json's per-op figures as JSON")
    show.add_argument("--hlog", metavar="DIR",
                      help="also write the run's µs histograms as HdrHistogram logs (one .hlog per op and kind)")
    show.set_defaults(handler=_show)

    cmp_ = sub.add_parser(
        "compare", help="A/B comparison of two runs (or two sets of repeated runs), with confidence intervals",
        description="For each operation, the change B − A in steady ops/s and in p50, p90, p99, p99.9 (µs), "
                    "with bootstrap confidence intervals; '*' marks a change larger than the noise. With one "
                    "run per side the noise is within-run; give several runs per side (rcap bench --repeat K, "
                    "then --a/--b with their directories) to include run-to-run noise.",
        epilog="examples:\n  rcap compare data/runs/RUN_A data/runs/RUN_B\n"
               "  rcap compare --a data/runs/A1 data/runs/A2 data/runs/A3 --b data/runs/B1 data/runs/B2 data/runs/B3 --json",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    cmp_.add_argument("runs", nargs="*", metavar="RUN", help="RUN_A RUN_B (one run per side)")
    cmp_.add_argument("--a", nargs="+", default=[], metavar="RUN", help="side A: one or more run directories")
    cmp_.add_argument("--b", nargs="+", default=[], metavar="RUN", help="side B: one or more run directories")
    cmp_.add_argument("--corrected", action="store_true", help="compare coordinated-omission corrected latency")
    cmp_.add_argument("--confidence", type=float, default=0.95, help="interval level (default 0.95)")
    cmp_.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (default 1000)")
    cmp_.add_argument("--json", action="store_true", help="print the comparison as JSON")
    cmp_.set_defaults(handler=_compare)


def _run_at(path: str):
    from analysis.runs import load_run  # noqa: PLC0415
    from rcapcore.rundata import MANIFEST, is_run_dir  # noqa: PLC0415

    p = Path(path)
    if not is_run_dir(p):
        raise BadInput(f"{path} is not a run directory (no {MANIFEST})")
    try:
        return load_run(p)
    except (ValueError, OSError) as exc:  # a truncated or corrupt file
        raise BadInput(f"{path}: cannot read the run ({type(exc).__name__}: {str(exc)[:120]})") from None


def _show(args: argparse.Namespace) -> int:
    from analysis.compare import op_table, server_figures  # noqa: PLC0415

    run = _run_at(args.run)
    if args.hlog:
        from analysis.hdrlog import write_hlogs  # noqa: PLC0415

        out = Path(args.hlog)
        if out.exists() and not out.is_dir():
            raise BadInput(f"--hlog {args.hlog}: exists and is not a directory")
        if out.resolve().is_relative_to(run.path.resolve()):
            raise BadInput("--hlog must be outside the run directory (runs are never edited)")
        files = write_hlogs(run, out)
        sys.stderr.write(f"rcap: wrote {len(files)} HdrHistogram logs to {out}\n")
    if args.json:
        print(json.dumps({"run_id": run.id, "status": run.status, "ops": run.summary.get("ops", {}),
                          "total": run.summary.get("total", {}), "server": server_figures(run)}, indent=1))
    else:
        print(op_table(run))
    return 0


def _compare(args: argparse.Namespace) -> int:
    from analysis.compare import compare  # noqa: PLC0415
    from rcapcore.latency import CORRECTED, MEASURED  # noqa: PLC0415

    a, b = list(args.a), list(args.b)
    if args.runs:
        if a or b or len(args.runs) != 2:
            raise BadInput("give RUN_A RUN_B, or --a RUN… --b RUN…")
        a, b = [args.runs[0]], [args.runs[1]]
    if not a or not b:
        raise BadInput("give RUN_A RUN_B, or --a RUN… --b RUN…")
    if not (10 <= args.resamples <= 100_000):
        raise BadInput(f"--resamples takes 10 to 100000, got {args.resamples}")
    if not (0.5 <= args.confidence < 1):  # also rejects NaN
        raise BadInput(f"--confidence must be in [0.5, 1), got {args.confidence}")
    result = compare([_run_at(p) for p in a], [_run_at(p) for p in b],
                     kind=CORRECTED if args.corrected else MEASURED, confidence=args.confidence,
                     n_boot=args.resamples)
    if not result.ops:
        raise BadInput("the runs have no operation in common")
    if args.json:
        print(json.dumps(result.to_dict(), indent=1))
    else:
        print(result.table())
    for w in result.warnings:
        if args.json:
            sys.stderr.write(f"rcap: warning: {w}\n")
    return 0
