"""Load-generator efficiency, side by side with redis-benchmark against the same server in the same run.

1. Throughput: ``redis-benchmark -c 50 -d 1024 -t set`` vs one rcap Locust process running ``kv-set-1k``
   (50 users, closed loop). rcap's figure is the mean of the full seconds of its ``latency.jsonl``.
2. Latency: ``redis-benchmark -c 1 -t get`` p50 vs rcap's ``GET`` p50 with one user (closed loop).

Each measurement is repeated (``--reps``, default 3) alternating the tools; the medians and ratios
are printed (and written as JSON with ``--json``). The CPU time of the rcap process and of
redis-server is sampled so the report says which one was the bottleneck.

    .venv/bin/python benchmarks/loadgen_throughput.py [--reps 3] [--seconds 10] [--json out.json]
"""

from __future__ import annotations

import argparse
import bisect
import csv
import io
import itertools
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from loadgen import topology  # noqa: E402
from rcapcore.latency import decode, new_histogram  # noqa: E402
from loadgen.scenarios import load_scenario  # noqa: E402

LOCUSTFILE = ROOT / "loadgen" / "locustfile.py"
PLAIN_LOCUSTFILE = ROOT / "benchmarks" / "plain_redispy_locustfile.py"


def machine() -> dict:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": psutil.cpu_count(logical=True), "python": platform.python_version(),
            "date": time.strftime("%Y-%m-%d %H:%M %Z")}


def children_cpu_s() -> float:
    """CPU seconds (user + system) used so far by this process's finished children."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def redis_benchmark(port: int, args: list[str]) -> dict:
    exe = shutil.which("redis-benchmark")
    n = int(args[args.index("-n") + 1])
    cpu0 = children_cpu_s()
    out = subprocess.run([exe, "-h", "127.0.0.1", "-p", str(port), "--csv", *args],
                         capture_output=True, text=True, timeout=300, check=True).stdout
    cpu = children_cpu_s() - cpu0
    rows = list(csv.DictReader(io.StringIO(out)))
    row = rows[-1]
    return {"rps": float(row["rps"]), "p50_us": float(row["p50_latency_ms"]) * 1000.0,
            "cpu_us_per_op": 1e6 * cpu / n}


def redis_cpu_s(client) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def sample_cpu(proc: psutil.Popen) -> list[tuple[float, float, float]]:
    """Every 0.25 s until ``proc`` ends: (epoch s, its CPU s so far, whole-machine busy % since last sample)."""
    samples = []
    psutil.cpu_percent(interval=None)
    while proc.poll() is None:
        try:
            t = proc.cpu_times()
            samples.append((time.time(), t.user + t.system, psutil.cpu_percent(interval=None)))
        except psutil.NoSuchProcess:
            break
        time.sleep(0.25)
    return samples


def cpu_us_per_op(samples: list[tuple[float, float, float]], ops_at: "callable", t_from: float, t_to: float) -> float:
    """Steady-state CPU per request: CPU used between two samples inside [t_from, t_to] over the requests
    completed between them (``ops_at(t)`` = cumulative requests at epoch ``t``)."""
    window = [x for x in samples if t_from <= x[0] <= t_to]
    if len(window) < 2:
        return float("nan")
    ops = ops_at(window[-1][0]) - ops_at(window[0][0])
    return 1e6 * (window[-1][1] - window[0][1]) / ops if ops > 0 else float("nan")


def rcap_run(topo, name: str, overrides: dict[str, str], seconds: int, run_dir: Path) -> dict:
    """One Locust process; returns ops/s (mean of full seconds), GET/SET p50 µs and CPU use."""
    scenario = load_scenario(name, overrides)
    env = dict(os.environ, RCAP_SCENARIO=scenario.to_json(), RCAP_RUN_DIR=str(run_dir),
               RCAP_TARGET=json.dumps(topo.target.to_dict(with_password=True)))
    argv = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "-u", str(scenario.users),
            "-r", str(scenario.users), "-t", f"{seconds}s", "--only-summary", "--loglevel", "WARNING",
            "--exit-code-on-error", "0"]
    client = topo.client()
    try:
        cpu0 = redis_cpu_s(client)
        t0 = time.monotonic()
        proc = psutil.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        samples = sample_cpu(proc)
        err = proc.stderr.read().decode(errors="replace")
        if proc.returncode != 0:
            raise RuntimeError(f"locust failed: {err[-1000:]}")
        wall = time.monotonic() - t0
        redis_cpu = (redis_cpu_s(client) - cpu0) / wall
    finally:
        client.close()
    per_second: dict[int, int] = {}
    hists: dict[str, object] = {}
    for line in (run_dir / "latency.jsonl").read_text().splitlines():
        r = json.loads(line)
        if r["kind"] != "measured":
            continue
        per_second[r["t"]] = per_second.get(r["t"], 0) + r["count"]
        hists.setdefault(r["op"], new_histogram()).add(decode(r["hdr"]))
    full = sorted(per_second)[2:-1]  # skip spawn and the partial last second
    # steady state only (no Locust start-up): rcap CPU between the first and last full second
    cumulative = list(itertools.accumulate(per_second[t] for t in sorted(per_second)))
    ticks = sorted(per_second)

    def ops_at(t: float) -> float:  # requests completed by epoch t (whole seconds)
        i = bisect.bisect_right(ticks, int(t) - 1)
        return cumulative[i - 1] if i else 0

    window = [x for x in samples if full and full[0] <= x[0] <= full[-1] + 1]
    busy = 100.0 * (window[-1][1] - window[0][1]) / (window[-1][0] - window[0][0]) if len(window) > 1 else float("nan")
    ops = sum(per_second[t] for t in full)
    return {"ops_per_s": ops / max(1, len(full)),
            "cpu_us_per_op": cpu_us_per_op(samples, ops_at, full[0], full[-1] + 1) if full else float("nan"),
            "p50_us": {op: h.get_value_at_percentile(50) for op, h in hists.items()},
            "loadgen_cpu_pct": busy,
            "machine_cpu_pct": statistics.median(x[2] for x in window) if window else float("nan"),
            "redis_cpu_pct": 100.0 * redis_cpu}


def plain_redispy_run(topo, seconds: int, run_dir: Path) -> dict:
    """The textbook Locust User around redis-py (50 users, SET 1 KB): ops/s over the full seconds of
    Locust's stats history, and CPU per request over the same window."""
    host, port = topo.target.hosts[0]
    env = dict(os.environ, RCAP_BENCH_HOST=host, RCAP_BENCH_PORT=str(port))
    run_dir.mkdir(parents=True, exist_ok=True)
    proc = psutil.Popen([sys.executable, "-m", "locust", "-f", str(PLAIN_LOCUSTFILE), "--headless", "-u", "50",
                         "-r", "50", "-t", f"{seconds}s", "--only-summary", "--loglevel", "WARNING",
                         "--exit-code-on-error", "0", "--csv", str(run_dir / "plain"), "--csv-full-history"],
                        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    samples = sample_cpu(proc)
    rows = [r for r in csv.DictReader(io.StringIO((run_dir / "plain_stats_history.csv").read_text()))
            if r["Name"] == "Aggregated"]
    points = sorted((int(r["Timestamp"]), int(r["Total Request Count"])) for r in rows)
    started = [p for p in points if p[1] > 0]
    steady = started[1:-1] if len(started) > 3 else started
    ticks = [p[0] for p in points]

    def ops_at(t: float) -> float:
        i = bisect.bisect_right(ticks, t)
        return points[i - 1][1] if i else 0

    if len(steady) < 2:
        return {"ops_per_s": float("nan"), "cpu_us_per_op": float("nan")}
    rate = (steady[-1][1] - steady[0][1]) / (steady[-1][0] - steady[0][0])
    return {"ops_per_s": rate, "cpu_us_per_op": cpu_us_per_op(samples, ops_at, steady[0][0], steady[-1][0])}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)

    results: dict = {"machine": machine(), "reps": args.reps, "seconds": args.seconds,
                     "throughput": {"redis_benchmark": [], "rcap": [], "plain_redispy_locust": []}, "latency": {"redis_benchmark": [], "rcap": []}}
    with tempfile.TemporaryDirectory(prefix="rcap-bench-") as tmp:
        with topology.running("standalone", base_dir=Path(tmp) / "lab") as topo:
            port = topo.target.hosts[0][1]
            for rep in range(args.reps):
                rb = redis_benchmark(port, ["-c", "50", "-d", "1024", "-t", "set", "-n", str(40_000 * args.seconds)])
                results["throughput"]["redis_benchmark"].append(rb)
                rc = rcap_run(topo, "kv-set-1k", {}, args.seconds, Path(tmp) / f"set{rep}")
                results["throughput"]["rcap"].append(rc)
                print(f"rep {rep + 1}: SET redis-benchmark {rb['rps']:,.0f}/s ({rb['cpu_us_per_op']:.1f} µs CPU/op)  "
                      f"rcap {rc['ops_per_s']:,.0f}/s ({rc['cpu_us_per_op']:.1f} µs CPU/op, {rc['loadgen_cpu_pct']:.0f}% "
                      f"of a core; redis {rc['redis_cpu_pct']:.0f}%, machine {rc['machine_cpu_pct']:.0f}% busy)", flush=True)
                pl = plain_redispy_run(topo, args.seconds, Path(tmp) / f"plain{rep}")
                results["throughput"]["plain_redispy_locust"].append(pl)
                print(f"rep {rep + 1}: SET plain Locust User + redis-py {pl['ops_per_s']:,.0f}/s "
                      f"({pl['cpu_us_per_op']:.1f} µs CPU/op)", flush=True)
                rb = redis_benchmark(port, ["-c", "1", "-t", "get", "-n", "50000"])
                results["latency"]["redis_benchmark"].append(rb)
                rc = rcap_run(topo, "kv", {"users": "1", "rate": "null", "mix": "{get: 1}", "keyspace": "1",
                                           "drain_s": "0.2"}, max(5, args.seconds // 2), Path(tmp) / f"get{rep}")
                results["latency"]["rcap"].append(rc)
                print(f"rep {rep + 1}: GET p50 redis-benchmark {rb['p50_us']:.0f} µs  rcap {rc['p50_us']['GET']} µs",
                      flush=True)
    med = statistics.median
    set_rb = med(r["rps"] for r in results["throughput"]["redis_benchmark"])
    set_rc = med(r["ops_per_s"] for r in results["throughput"]["rcap"])
    get_rb = med(r["p50_us"] for r in results["latency"]["redis_benchmark"])
    get_rc = med(r["p50_us"]["GET"] for r in results["latency"]["rcap"])
    cpu_rc = med(r["loadgen_cpu_pct"] for r in results["throughput"]["rcap"])
    us_rb = med(r["cpu_us_per_op"] for r in results["throughput"]["redis_benchmark"])
    us_rc = med(r["cpu_us_per_op"] for r in results["throughput"]["rcap"])
    cpu_redis = med(r["redis_cpu_pct"] for r in results["throughput"]["rcap"])
    cpu_machine = med(r["machine_cpu_pct"] for r in results["throughput"]["rcap"])
    set_plain = med(r["ops_per_s"] for r in results["throughput"]["plain_redispy_locust"])
    us_plain = med(r["cpu_us_per_op"] for r in results["throughput"]["plain_redispy_locust"])
    results["summary"] = {"set_redis_benchmark_ops_per_s": set_rb, "set_rcap_ops_per_s": set_rc,
                          "set_ratio": set_rc / set_rb, "set_plain_redispy_locust_ops_per_s": set_plain,
                          "set_cpu_us_per_op_plain_redispy_locust": us_plain, "get_p50_redis_benchmark_us": get_rb,
                          "get_p50_rcap_us": get_rc, "get_p50_ratio": get_rc / get_rb,
                          "rcap_cpu_pct": cpu_rc, "redis_cpu_pct_during_rcap": cpu_redis,
                          "set_cpu_us_per_op_redis_benchmark": us_rb, "set_cpu_us_per_op_rcap": us_rc,
                          "machine_cpu_pct_during_rcap": cpu_machine, "rcap_one_core_ceiling_ops_per_s": 1e6 / us_rc}
    m = results["machine"]
    print(f"\nmachine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, {m['date']}")
    print(f"median of {args.reps}: SET 1 KB  redis-benchmark -c 50: {set_rb:,.0f} ops/s   rcap kv-set-1k (1 process, "
          f"50 users): {set_rc:,.0f} ops/s   ratio {set_rc / set_rb:.2f}")
    print(f"             SET 1 KB  plain Locust User around redis-py (50 users): {set_plain:,.0f} ops/s   "
          f"({us_plain:.0f} µs CPU/op)   rcap / plain = {set_rc / set_plain:.1f}×")
    print(f"             GET p50   redis-benchmark -c 1: {get_rb:.0f} µs   rcap 1 user: {get_rc} µs   "
          f"ratio {get_rc / get_rb:.2f}")
    print(f"             CPU per SET (client process, user+sys incl. its kernel networking): redis-benchmark "
          f"{us_rb:.1f} µs   rcap {us_rc:.1f} µs (steady state) → rcap ceiling on one free core ≈ {1e6 / us_rc:,.0f} ops/s")
    if cpu_rc >= 90:
        bottleneck = "the load generator (its core is saturated)"
    elif cpu_machine >= 90:
        bottleneck = "the machine (both cores busy: Redis, rcap, the kernel and other processes)"
    else:
        bottleneck = "Redis / the round trip (rcap has CPU to spare)"
    print(f"during rcap SET runs: rcap {cpu_rc:.0f}% of a core, redis-server {cpu_redis:.0f}%, machine {cpu_machine:.0f}% "
          f"busy → bottleneck: {bottleneck}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
