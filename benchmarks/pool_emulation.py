"""``pool: nuxeo`` vs one persistent connection per user (spec Corrections 8), side by side, plain TCP and TLS.

The workmanager scenario (one 2021 node: 38 worker threads + producers, open loop) runs alternately with
each pool mode against the same redis-server; for each run: p50/p99 of every request (µs, client side,
merged per-second HDR histograms of the full seconds), redis-server CPU (used_cpu_sys + used_cpu_user, s
per s), connections accepted, and the pools' opened/closed counts.

    .venv/bin/python benchmarks/pool_emulation.py [--reps 2] [--seconds 8] [--rate 400] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from loadgen import topology  # noqa: E402
from rcapcore.latency import decode, new_histogram  # noqa: E402
from loadgen.scenarios import load_scenario  # noqa: E402
from locust_runner import LOCUSTFILE, locust_env, read_counters, read_latency  # noqa: E402


def one_run(topo, pool: str, seconds: int, rate: float, out: Path) -> dict:
    scenario = load_scenario("workmanager", {"pool": pool, "rate": str(rate), "nodes": "1", "producers": "4",
                                             "processing_ms": "5", "drain_s": "0.5"})
    client = topo.client()
    info0 = client.info()
    t0 = time.monotonic()
    argv = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "-u", str(scenario.users),
            "-r", str(scenario.users), "-t", f"{seconds}s", "--only-summary", "--loglevel", "WARNING",
            "--exit-code-on-error", "0"]
    proc = subprocess.run(argv, env=locust_env(scenario, topo.target, out), capture_output=True, text=True,
                          timeout=seconds + 60)
    wall = time.monotonic() - t0
    info1 = client.info()
    client.close()
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-2000:])
    recs = [r for r in read_latency(out) if r["kind"] == "measured" and r.get("hdr")]
    secs = sorted({r["t"] for r in recs})[1:-1]  # full seconds only
    hist = new_histogram()
    for r in recs:
        if r["t"] in secs:
            hist.add(decode(r["hdr"]))
    cpu = (info1["used_cpu_sys"] + info1["used_cpu_user"] - info0["used_cpu_sys"] - info0["used_cpu_user"]) / wall
    totals = read_counters(out).get("totals", {})
    return {"pool": pool, "p50_us": hist.get_value_at_percentile(50), "p99_us": hist.get_value_at_percentile(99),
            "requests_per_s": hist.get_total_count() / max(1, len(secs)), "server_cpu_s_per_s": cpu,
            "connections_accepted": info1["total_connections_received"] - info0["total_connections_received"],
            "pool_opened": totals.get("pool_connections_opened", 0),
            "pool_closed": totals.get("pool_connections_closed", 0),
            "max_in_flight": totals.get("pool_max_in_flight_per_node", 0)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--rate", type=float, default=400.0)
    ap.add_argument("--json")
    a = ap.parse_args()
    results = []
    for tls in (False, True):
        base = Path(tempfile.mkdtemp(prefix="rcap-pool-"))
        topo = topology.up("standalone", base_dir=base, tls=tls)
        try:
            for rep in range(a.reps):
                for pool in (("persistent", "nuxeo") if rep % 2 == 0 else ("nuxeo", "persistent")):
                    out = base / f"{pool}-{rep}"
                    out.mkdir()
                    results.append({"tls": tls, "rep": rep, **one_run(topo, pool, a.seconds, a.rate, out)})
        finally:
            topo.down()
    print(f"{'tls':5} {'pool':11} {'p50 µs':>7} {'p99 µs':>7} {'req/s':>7} {'srv CPU':>8} {'accepted':>8} "
          f"{'opened':>7} {'closed':>7} {'inflight':>8}")
    summary = []
    for tls in (False, True):
        for pool in ("persistent", "nuxeo"):
            rs = [r for r in results if r["tls"] == tls and r["pool"] == pool]
            med = {k: statistics.median(r[k] for r in rs) for k in rs[0] if k not in ("tls", "pool", "rep")}
            summary.append({"tls": tls, "pool": pool, **med})
            print(f"{str(tls):5} {pool:11} {med['p50_us']:7.0f} {med['p99_us']:7.0f} {med['requests_per_s']:7.0f} "
                  f"{med['server_cpu_s_per_s']:8.3f} {med['connections_accepted']:8.0f} {med['pool_opened']:7.0f} "
                  f"{med['pool_closed']:7.0f} {med['max_in_flight']:8.0f}")
    if a.json:
        Path(a.json).write_text(json.dumps({"runs": results, "medians": summary}, indent=1))


if __name__ == "__main__":
    main()
