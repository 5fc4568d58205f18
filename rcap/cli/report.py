"""``rcap report`` (notebooks → HTML, PDF, sizing.json) and ``rcap suite`` (benchmarks, then the report)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rcapcore.errors import BadInput
from rcapcore.paths import REPORTS, RUNS
from loadgen.topology.targets import read_password
from rcapcore.topologies import names

DEFAULT_TARGET_LOAD = "data/targets/example.yaml"


def register(sub: argparse._SubParsersAction) -> None:
    rep = sub.add_parser(
        "report", help="execute the notebooks on recorded runs and write the sizing report",
        description="Execute notebooks 01-05 headless on recorded runs and write "
                    "OUT/<target-name>/sizing-report.html, sizing-report.pdf, sizing.json and the executed notebooks.")
    rep.add_argument("--target-load", required=True, metavar="FILE", help="target-load YAML (data/targets/*.yaml)")
    rep.add_argument("--runs", nargs="+", default=[], metavar="DIR",
                     help="run or sweep directories, or folders holding them (default: data/reference/)")
    rep.add_argument("--out", default=str(REPORTS), metavar="DIR", help="output folder (default: reports/)")
    rep.add_argument("--topology", choices=names(sized=True),
                     help="size for this topology instead of the one the target file asks for")
    rep.set_defaults(handler=_report)

    suite = sub.add_parser(
        "suite", help="benchmark (embedded local Redis by default), fit the models and write the report",
        description="Bring up the topology the target asks for (unless --target is given), run the benchmark "
                    "scenarios briefly with progress shown, then write the sizing report as `rcap report` does.")
    suite.add_argument("--target-load", default=DEFAULT_TARGET_LOAD, metavar="FILE",
                       help=f"target-load YAML (default: {DEFAULT_TARGET_LOAD})")
    suite.add_argument("--target", metavar="URL",
                       help="an existing Redis (redis://, rediss://, redis+sentinel://); "
                            "password from --password-file or RCAP_PASSWORD")
    suite.add_argument("--password-file", metavar="FILE", help="file holding the target's password")
    suite.add_argument("--tls-ca", metavar="FILE")
    suite.add_argument("--tls-cert", metavar="FILE")
    suite.add_argument("--tls-key", metavar="FILE")
    suite.add_argument("--runs-out", default=str(RUNS), metavar="DIR", help="where runs are recorded (default: data/runs/)")
    suite.add_argument("--out", default=str(REPORTS), metavar="DIR", help="report folder (default: reports/)")
    suite.add_argument("--scale", type=float, default=1.0, metavar="X",
                       help="multiply every benchmark duration by X (default 1: about 3 minutes of load)")
    suite.add_argument("--full", action="store_true",
                       help="the full profile (about 25 min): steps long enough for go-live p99 claims "
                            "(>= 10,000 requests per step); the default brief profile's p99 is indicative")
    suite.set_defaults(handler=_suite)


def _say(msg: str) -> None:
    sys.stderr.write(f"rcap: {msg}\n")
    sys.stderr.flush()


def _print_files(files) -> None:
    print(f"HTML        {files.html}")
    print(f"PDF         {files.pdf}")
    print(f"sizing.json {files.sizing_json}")
    print(f"notebooks   {files.notebooks[0].parent}")
    print(files.dir)


def _note_left_out(run_dirs) -> None:
    """Say which runs the report leaves out: degraded or unfinished ones (its sections use complete
    runs only)."""
    from rcapcore.rundata import UNUSABLE_STATUSES, open_runs  # noqa: PLC0415

    opened = open_runs(run_dirs, missing_ok=True)
    odd = [f"{p.name} ({s})" for p, s in opened.status.items() if s in UNUSABLE_STATUSES]
    if odd:
        _say(f"the report leaves out {len(odd)} degraded or unfinished run(s): {', '.join(odd[:5])}"
             f"{' …' if len(odd) > 5 else ''}")


def _report(args: argparse.Namespace) -> int:
    from analysis.report.build import ReportRequest, build_report

    request = ReportRequest(Path(args.target_load), tuple(Path(r) for r in args.runs), Path(args.out),
                            args.topology).resolved()  # bad input fails here, before any note
    if not args.runs:
        _say("no --runs given: reporting on the committed reference runs in data/reference/")
    _note_left_out(request.run_dirs)
    files = build_report(request, progress=_say)
    _say(f"report written in {files.seconds:.0f} s")
    _print_files(files)
    return 0


def _suite(args: argparse.Namespace) -> int:
    from analysis.report.build import ReportRequest, build_report
    from rcap import suite

    if args.scale <= 0:
        raise BadInput(f"--scale must be positive, not {args.scale}")
    from loadgen.recorder.rundir import check_out  # noqa: PLC0415

    check_out(args.runs_out)
    password = read_password(getattr(args, "password_file", None))
    result = suite.run_suite(Path(args.target_load), target_url=args.target, password=password,
                             tls=(args.tls_ca, args.tls_cert, args.tls_key), runs_out=Path(args.runs_out),
                             scale=args.scale, progress=_say, full=args.full)
    _say(f"benchmarks done in {result.seconds:.0f} s; writing the report")
    _note_left_out(result.run_dirs)
    files = build_report(ReportRequest(Path(args.target_load), tuple(result.run_dirs), Path(args.out),
                                       result.topology, secrets=(password,) if password else ()), progress=_say)
    _say(f"report written in {files.seconds:.0f} s (total {result.seconds + files.seconds:.0f} s)")
    _print_files(files)
    return 0
