"""``rcap model memory|ceiling`` and ``rcap size``: what-if questions answered by the analysis models."""

from __future__ import annotations

import argparse
import json
import sys

from rcapcore.errors import BadInput


def register(sub: argparse._SubParsersAction) -> None:
    model = sub.add_parser("model", help="predictions of the memory and throughput models (JSON)")
    msub = model.add_subparsers(dest="model_command", metavar="MODEL", parser_class=sub._parser_class)
    msub.required = True

    m = msub.add_parser("memory", help="used_memory growth for N pending works of a payload size",
                        description="Predict the used_memory growth (bytes) of N pending WorkManager works, "
                                    "from the analytic model calibrated on the runs' memory samples.")
    m.add_argument("--runs", nargs="*", default=[], metavar="DIR", help="run directories to calibrate on")
    m.add_argument("--works", type=int, required=True, metavar="N", help="pending works")
    m.add_argument("--payload", type=int, required=True, metavar="BYTES", help="serialized work size (bytes)")
    m.add_argument("--server", default=None, metavar="SERVER",
                   help="server to size for: redis-7.0, redis-7.2, redis-7.4, redis-8.x, valkey-8.0, valkey-8.x … "
                        "(default: the runs' server, else redis-7.2)")
    m.add_argument("--redis-version", default=None, help="Redis version when no run gives it (same as --server redis-V)")
    m.add_argument("--allocator", default=None, help="jemalloc (8 B quantum), jemalloc-q16 (Debian) or libc")
    m.add_argument("--include-degraded", action="store_true", help=INCLUDE_HELP)
    m.set_defaults(handler=_memory)

    c = msub.add_parser("ceiling", help="works/s and ops/s ceilings of one shard (CPU per unit as a function of load)",
                        description="Main-thread CPU per work and per op (op = one client request) as a function "
                                    "of load, D(U) = busy + turn x (1 - U), fitted on the runs' INFO samples "
                                    "(docs/models.md); the ceiling is where the main thread is 100 %% busy. "
                                    "With light-load runs only, the model is extrapolated and says how far; "
                                    "with the saturation probe (work-lifecycle sweep) it is fitted up to "
                                    "saturation and checked against it.")
    c.add_argument("--runs", nargs="+", required=True, metavar="DIR", help="run (or sweep) directories")
    c.add_argument("--include-degraded", action="store_true", help=INCLUDE_HELP)
    c.set_defaults(handler=_ceiling)

    s = sub.add_parser("size", help="size a deployment for a target load",
                       description="Memory, CPU, network, disk, topology and instance types for a target-load YAML. "
                                   "Without --runs, documented defaults are used (the output says so).")
    s.add_argument("target", metavar="TARGET.yaml", help="target-load YAML, or a name under data/targets/")
    s.add_argument("--runs", nargs="*", default=[], metavar="DIR", help="runs whose measurements replace defaults")
    s.add_argument("--json", action="store_true", help="print sizing.json instead of the table")
    s.add_argument("--include-degraded", action="store_true", help=INCLUDE_HELP)
    s.set_defaults(handler=_size)


INCLUDE_HELP = ("also use runs recorded 'degraded' (more than --max-error-ratio of requests failed) or "
                "left 'running' (never finished); by default they are left out, with a note")


def _load_runs(paths: list[str], include_degraded: bool = False):
    """Run directories; a sweep directory stands for its complete steps. Degraded and unfinished
    runs are left out (one note on stderr) unless ``include_degraded``."""
    from analysis.runs import open_sweeps_and_runs  # noqa: PLC0415

    runs, _sweeps, _all, note = open_sweeps_and_runs(paths, include_degraded)
    if note:
        sys.stderr.write(f"rcap: {note}\n")
    return runs


def _memory(args: argparse.Namespace) -> int:
    from analysis import memory as mem  # noqa: PLC0415
    from analysis.validation import memory_observations  # noqa: PLC0415

    if args.works < 0 or args.payload < 1:
        raise BadInput("--works must be >= 0 and --payload >= 1 byte")
    runs = _load_runs(args.runs, args.include_degraded)
    obs, layout = memory_observations(runs, allocator=args.allocator) if runs else ([], None)
    if layout is None or args.redis_version or args.server:
        layout = mem.RedisLayout.for_version(args.server or args.redis_version or "7.2",
                                             mem.Allocator.parse(args.allocator or "jemalloc"))
    if runs and not obs:
        raise BadInput("the runs hold no WorkManager backlog samples (workload.jsonl) to calibrate on")
    if obs:
        pred = mem.calibrate(obs, layout).predict(args.works, args.payload)
    else:  # analytic model alone; its stated tolerance is 2 %
        b = mem.pending_works_bytes(args.works, mem.WorkShape(args.payload), layout)
        pred = {"bytes": b, "low": 0.98 * b, "high": 1.02 * b}
    print(json.dumps({k: round(v) for k, v in pred.items()}))
    return 0


def _ceiling(args: argparse.Namespace) -> int:
    from analysis.throughput import ceilings_from_runs  # noqa: PLC0415

    runs = _load_runs(args.runs, args.include_degraded)
    if not runs:
        raise BadInput("no complete run in the given directories")
    c = ceilings_from_runs(runs)
    out = {"works_per_s": round(c.works.ceiling_per_s), "ops_per_s": round(c.ops.ceiling_per_s),
           "op": "one client request (one round trip: a command or a script call)",
           "method": {"works": c.works.method, "ops": c.ops.method},
           "cpu_us_per_work": {"light_load": round(c.works.busy_us + c.works.turn_us, 1),
                               "saturated": round(c.works.busy_us, 1)},
           "cpu_us_per_op": {"light_load": round(c.ops.busy_us + c.ops.turn_us, 2),
                             "saturated": round(c.ops.busy_us, 2)},
           "measured_up_to": {"works": {"utilization": round(c.works.max_measured_utilization, 3),
                                        "works_per_s": round(c.works.max_measured_per_s)},
                              "ops": {"utilization": round(c.ops.max_measured_utilization, 3),
                                      "ops_per_s": round(c.ops.max_measured_per_s)}},
           "extrapolation": {"works": _times(c.works.extrapolation), "ops": _times(c.ops.extrapolation)}}
    v = c.validation()
    if v is not None:
        out["validation"] = {"predicted_works_per_s": round(v["predicted_works_per_s"]),
                             "measured_works_per_s": round(v["measured_works_per_s"]),
                             "at_utilization": round(v["at_utilization"], 3), "saturated": v["saturated"],
                             "error_pct": round(100 * v["error"], 1), "predicted_from": v["predicted_from"]}
    print(json.dumps(out))
    return 0


def _times(x: float) -> float | None:
    return round(x, 2) if x == x and x != float("inf") else None


def _size(args: argparse.Namespace) -> int:
    from analysis.sizing import size  # noqa: PLC0415
    from analysis.targets import load_target  # noqa: PLC0415

    rec = size(load_target(args.target), runs=_load_runs(args.runs, args.include_degraded) or None)
    if args.json:
        json.dump(rec.to_dict(), sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        print(rec.table())
    return 0
