"""``rcap bench`` and ``rcap sweep``: thin wrappers around :mod:`rcap.bench`.

The last line of stdout is the run (or sweep) directory, also after a failed or interrupted run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rcapcore.errors import BadInput
from rcapcore.paths import RUNS
from loadgen.scenarios import parse_sets
from loadgen.topology.targets import read_password
from rcapcore.topologies import NAMES


def _number_list(kind: type, label: str):
    def parse(text: str) -> list:
        try:
            values = [kind(v) for v in text.split(",") if v.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"{label} takes a comma-separated list of numbers, not {text!r}") from None
        if not values or any(v <= 0 for v in values):
            raise argparse.ArgumentTypeError(f"{label} values must be positive: {text!r}")
        return values
    return parse


def _share(text: str) -> float:
    from rcapcore.validate import number  # noqa: PLC0415

    try:
        return number(text, "--max-error-ratio", minimum=0.0, maximum=1.0)
    except BadInput as exc:
        raise argparse.ArgumentTypeError(str(exc).split(": ", 1)[-1]) from None


def _epilog() -> str:
    from rcap.cli import EXIT_CODES  # noqa: PLC0415  (one table of exit statuses, shown here and in rcap --help)

    return ("The last line of stdout is the run (or sweep) directory. Exit status: "
            + "; ".join(f"{code} {text}" for code, text in EXIT_CODES) + ".")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("scenario", help="scenario name (data/scenarios/NAME.yaml) or path to a YAML file")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--target", metavar="URL",
                       help="redis://, rediss://, redis+sentinel:// or redis+cluster:// (no password in it)")
    where.add_argument("--topology", choices=NAMES, default="standalone",
                       help="embedded topology started for the run when no --target (default: standalone)")
    p.add_argument("--rate", type=float, help="open loop: target rate in ops/s (or works/s) over all users")
    p.add_argument("--duration", default="60s", help="run time per bench, e.g. 60s, 2m (default 60s)")
    p.add_argument("--processes", type=int, help="Locust processes (-1 = one per core)")
    p.add_argument("--spawn-rate", type=float, help="users started per second (default: all at once)")
    p.add_argument("--set", dest="sets", action="append", metavar="KEY=VALUE",
                   help="override a scenario parameter (repeatable)")
    p.add_argument("--out", default=str(RUNS), help="where run directories go (default data/runs)")
    p.add_argument("--prefix", help="key prefix (default: the scenario's, normally rcap:)")
    p.add_argument("--reuse-prefix", action="store_true",
                   help="run even if keys exist under the prefix: their names are recorded at start (SCAN; "
                        "refused above 100,000 keys) and cleanup deletes only keys not in that list. The "
                        "workload may still write to a pre-existing key whose name it uses, and a key another "
                        "client creates under the prefix during the run is deleted with the run's")
    p.add_argument("--password-file", help="file whose first line is the password (else RCAP_PASSWORD)")
    p.add_argument("--tls-ca", help="CA bundle to verify the server (rediss://)")
    p.add_argument("--tls-cert", help="client certificate (mTLS)")
    p.add_argument("--tls-key", help="client private key (mTLS)")
    p.add_argument("--maxmemory", help="embedded topology: maxmemory, e.g. 256mb")
    p.add_argument("--maxmemory-policy", help="embedded topology: eviction policy (default noeviction)")
    p.add_argument("--persistence", choices=("none", "rdb", "aof"), help="embedded topology: persistence")
    p.add_argument("--max-error-ratio", type=_share, default=0.01, metavar="SHARE",
                   help="share of failed requests (0..1, default 0.01 = 1 %%) above which a run is recorded "
                        "'degraded' with its causes (READONLY, NOPERM, max clients …) and rcap exits with "
                        "status 3; models and reports then leave it out unless told to include it")
    p.add_argument("--no-progress", action="store_true", help="no live progress line")
    p.add_argument("--metrics-port", type=int, metavar="PORT",
                   help="serve live OpenMetrics (Prometheus) series on this port during the run")
    p.add_argument("--metrics-host", default="127.0.0.1", metavar="HOST",
                   help="address for --metrics-port (default 127.0.0.1, loopback only)")


def register(sub: argparse._SubParsersAction) -> None:
    bench = sub.add_parser("bench", help="run one benchmark and record it under data/runs/", epilog=_epilog())
    _common(bench)
    bench.add_argument("--users", type=int, help="concurrent users (default: the scenario's)")
    bench.add_argument("--keep", action="store_true",
                       help="leave the keys (and the embedded topology) in place for inspection")
    bench.add_argument("--repeat", type=int, default=1, metavar="K",
                       help="record K runs one after another (for `rcap compare` with run-to-run noise)")
    dist = bench.add_argument_group("distributed load (Locust master + workers on other machines, docs/distributed.md)")
    dist.add_argument("--expect-workers", type=int, metavar="N",
                      help="be Locust's master: wait for N workers (rcap worker …) and record the run as usual")
    dist.add_argument("--master-bind-host", default="*", metavar="HOST",
                      help="interface the master listens on for workers (default *, all)")
    dist.add_argument("--master-bind-port", type=int, default=5557, metavar="PORT", help="(default 5557)")
    dist.add_argument("--workers-timeout", default="120s", metavar="DURATION",
                      help="how long to wait for the workers before the run fails (default 120s)")
    bench.set_defaults(handler=bench_handler)

    worker = sub.add_parser(
        "worker", help="a Locust worker for a distributed rcap bench (needs only the [loadgen] install)",
        description="Start a Locust worker that connects to `rcap bench … --expect-workers N` on another "
                    "machine. The master sends the scenario and the target's URL when the run starts; the "
                    "password comes from this machine's --password-file or RCAP_PASSWORD, TLS files from "
                    "its own --tls-* options. Plain `locust -f loadgen/locustfile.py --worker …` works too.")
    worker.add_argument("--master-host", required=True, metavar="HOST")
    worker.add_argument("--master-port", type=int, default=5557, metavar="PORT")
    worker.add_argument("--processes", type=int, help="Locust worker processes on this machine (-1 = one per core)")
    worker.add_argument("--password-file", help="file whose first line is the target's password (else RCAP_PASSWORD)")
    worker.add_argument("--tls-ca", help="CA bundle to verify the server (rediss://)")
    worker.add_argument("--tls-cert", help="client certificate (mTLS)")
    worker.add_argument("--tls-key", help="client private key (mTLS)")
    worker.set_defaults(handler=worker_handler)

    sweep = sub.add_parser("sweep", help="run a series of benchmarks (users or rates) into one directory",
                           epilog=_epilog())
    _common(sweep)
    sweep.add_argument("--users", type=_number_list(int, "--users"),
                       help="users per run, e.g. 1,2,4,8,16,32,64 (with --rates: one fixed value)")
    sweep.add_argument("--rates", type=_number_list(float, "--rates"), help="ops/s per run, e.g. 1000,2000,4000")
    sweep.set_defaults(handler=sweep_handler)

    clean = sub.add_parser(
        "cleanup", help="delete the keys a killed run (or a --keep run) created, and only those",
        description="Delete, with SCAN + UNLINK, the keys under RUN_DIR's prefix that were not there when the "
                    "run started (their names are recorded with --reuse-prefix; without it the prefix was "
                    "empty). Refused when the run already cleaned up. A key another client created under the "
                    "prefix since the run started is deleted too.")
    clean.add_argument("run_dir", metavar="RUN_DIR", help="the run directory (data/runs/<run-id>)")
    clean.add_argument("--target", metavar="URL",
                       help="the run's target (default: the URL in its manifest; an embedded topology must be up)")
    clean.add_argument("--password-file", help="file whose first line is the password (else RCAP_PASSWORD)")
    clean.add_argument("--tls-ca", help="CA bundle to verify the server (rediss://)")
    clean.add_argument("--tls-cert", help="client certificate (mTLS)")
    clean.add_argument("--tls-key", help="client private key (mTLS)")
    clean.set_defaults(handler=cleanup_handler)


def _options(args: argparse.Namespace) -> dict:
    from rcap.bench import parse_duration  # noqa: PLC0415

    topo_opts = {k: v for k, v in (("maxmemory", args.maxmemory), ("maxmemory_policy", args.maxmemory_policy),
                                    ("persistence", args.persistence)) if v is not None}
    if topo_opts and args.target:
        raise BadInput(f"--{next(iter(topo_opts)).replace('_', '-')} applies to an embedded topology, "
                       "not to --target")
    return {
        "target": args.target, "topology": args.topology, "duration_s": parse_duration(args.duration),
        "processes": args.processes, "spawn_rate": args.spawn_rate, "overrides": parse_sets(args.sets),
        "out": Path(args.out), "prefix": args.prefix, "reuse_prefix": args.reuse_prefix,
        "password": read_password(args.password_file), "tls_ca": args.tls_ca, "tls_cert": args.tls_cert,
        "tls_key": args.tls_key, "progress": not args.no_progress, "topology_options": topo_opts,
        "max_error_ratio": args.max_error_ratio,
        "metrics_port": args.metrics_port, "metrics_host": args.metrics_host,
        **_distributed(args),
    }


def _distributed(args: argparse.Namespace) -> dict:
    from rcap.bench import parse_duration  # noqa: PLC0415

    if getattr(args, "expect_workers", None) is None:
        return {}
    return {"expect_workers": args.expect_workers, "master_bind_host": args.master_bind_host,
            "master_bind_port": args.master_bind_port, "workers_timeout_s": parse_duration(args.workers_timeout)}


def worker_handler(args: argparse.Namespace) -> int:
    """Run a Locust worker on rcap's locustfile until the master ends the run (Ctrl-C stops it)."""
    import subprocess  # noqa: PLC0415

    from rcap.bench import LOCUSTFILE  # noqa: PLC0415

    if not 1 <= args.master_port <= 65535:
        raise BadInput(f"--master-port must be a TCP port, not {args.master_port}")
    if args.password_file:
        read_password(args.password_file)  # a bad file is one line now, not a worker that fails later
    argv = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--worker", "--master-host", args.master_host,
            "--master-port", str(args.master_port), "--loglevel", "WARNING"]
    if args.processes:
        argv += ["--processes", str(args.processes)]
    for opt, value in (("--password-file", args.password_file), ("--redis-tls-ca", args.tls_ca),
                       ("--redis-tls-cert", args.tls_cert), ("--redis-tls-key", args.tls_key)):
        if value:
            argv += [opt, value]
    try:
        return subprocess.call(argv)
    except KeyboardInterrupt:  # Locust got the same Ctrl-C and stops on its own
        return 130


def _run(fn, *a, after=None, **kw) -> int:
    from rcap.bench import RunFailed, RunInterrupted  # noqa: PLC0415

    try:
        path = fn(*a, **kw)
    except (RunFailed, RunInterrupted) as exc:
        if exc.run_dir is not None:
            sys.stdout.write(f"{exc.run_dir}\n")
            sys.stdout.flush()
        raise
    if after is not None:
        after(Path(path))
    sys.stdout.write(f"{path}\n")
    sys.stdout.flush()
    return 0


def bench_handler(args: argparse.Namespace) -> int:
    from rcap.bench import run_bench  # noqa: PLC0415

    if not 1 <= args.repeat <= 100:
        raise BadInput(f"--repeat takes 1 to 100 runs, got {args.repeat}")
    options = _options(args)
    for _ in range(args.repeat):
        code = _run(run_bench, args.scenario, users=args.users, rate=args.rate, keep=args.keep,
                    after=_print_op_table, **options)
        if code:
            return code
    return 0


def _print_op_table(path: Path) -> None:
    """The finished run's per-op table on stderr (stdout keeps the run directory as its last line)."""
    try:
        from analysis.compare import op_table  # noqa: PLC0415
        from analysis.runs import load_run  # noqa: PLC0415
    except ModuleNotFoundError as exc:  # a worker without the report extra: the run is recorded all the same
        from loadgen import DISTRIBUTION  # noqa: PLC0415

        sys.stderr.write(f"rcap: note: per-op table skipped ({exc.name} is not installed; "
                         f"pip install '{DISTRIBUTION}[report]' to get it)\n")
        return
    sys.stderr.write(op_table(load_run(path)) + "\n")


def sweep_handler(args: argparse.Namespace) -> int:
    from rcap.bench import run_sweep  # noqa: PLC0415

    if args.rates is not None:
        if args.rate is not None:
            raise BadInput("give either --rate (fixed) or --rates (swept), not both")
        if args.users is not None and len(args.users) > 1:
            raise BadInput("a sweep varies one thing: with --rates, --users takes one value")
        fixed_users = args.users[0] if args.users else None
        return _run(run_sweep, args.scenario, rates=args.rates, fixed_users=fixed_users, **_options(args))
    if args.users is None:
        raise BadInput("rcap sweep needs --users 1,2,4,… or --rates R1,R2,…")
    return _run(run_sweep, args.scenario, users=args.users, rate=args.rate, **_options(args))


def cleanup_handler(args: argparse.Namespace) -> int:
    from rcap.cleanup import plan  # noqa: PLC0415
    from loadgen.topology.keyspace import cleanup_prefix  # noqa: PLC0415
    from loadgen.topology.targets import Target, check, connect, describe_error  # noqa: PLC0415

    if not Path(args.run_dir).is_dir():
        raise BadInput(f"run directory not found: {args.run_dir}")
    prefix, keep, man = plan(args.run_dir)
    url = args.target or (man.target or {}).get("url")
    if not url:
        raise BadInput(f"{args.run_dir}: no target URL in the manifest; give --target")
    target = Target.parse(url, password=read_password(args.password_file), tls_ca=args.tls_ca,
                          tls_cert=args.tls_cert, tls_key=args.tls_key)
    check(target)
    client = connect(target)
    try:
        removed = cleanup_prefix(client, prefix, keep=keep)
    except Exception as exc:  # noqa: BLE001  (connection dropped mid-cleanup)
        raise BadInput(describe_error(target, exc)) from None
    finally:
        client.close()
    sys.stdout.write(f"removed {removed} keys under {prefix!r} created by run {man.run_id} "
                     f"({len(keep)} keys present at its start spared)\n")
    return 0
