"""The works/s ceiling of one shard with io-threads 1 and 2 (Valkey 8 and Redis 8 can move socket I/O off the
main thread; the Lua scripts still run on it).

Traffic: full WorkManager lifecycles (scheduling-work, pop-work, running-work + completed-work: the Nuxeo scripts)
one work per round trip, from several raw-RESP client processes, as Nuxeo's Jedis sends them (no batching).
Each server is started twice (io-threads 1, then 2) and the two are measured alternately, ``--rounds`` times,
so machine-load drifts hit both alike. Reports per server: works/s (median), the main thread's CPU per work,
and the ratio io2/io1.

This machine has 2 cores shared with the load generator (and other tenants): a second I/O thread competes with
the clients for the same cores, so the ratio here is a lower bound of what a dedicated server host would see.

Usage: .venv/bin/python benchmarks/io_threads.py [--server PATH ...] [--rounds 3] [--seconds 6] [--procs 6]
Prints a Markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.validate_models import _cpu, drop, lifecycle_batches, machine  # noqa: E402
from loadgen import topology  # noqa: E402
from loadgen.nuxeo.workmanager import WorkManagerClient  # noqa: E402
from loadgen.topology.binaries import describe  # noqa: E402


def _total_cpu(client) -> float:
    c = client.info("cpu")
    return c["used_cpu_sys"] + c["used_cpu_user"]


def measure(topo, procs: int, seconds: float) -> dict:
    """Unpaced single-work lifecycles from ``procs`` client processes for ``seconds``."""
    port = int(topo.target.url.rsplit(":", 1)[1].split("/")[0])
    probe = topo.client()
    q: mp.Queue = mp.Queue()
    workers = [mp.Process(target=lifecycle_batches, args=(port, "rcap:io:", 1, seconds, None, k + 1, q))
               for k in range(procs)]
    main0, tot0, t0 = _cpu(probe), _total_cpu(probe), time.monotonic()
    for w in workers:
        w.start()
    got = [q.get(timeout=seconds + 60) for _ in workers]
    for w in workers:
        w.join()
    dt = time.monotonic() - t0
    main, tot = _cpu(probe) - main0, _total_cpu(probe) - tot0
    done = sum(g[0] for g in got)
    drop(probe, "rcap:io:")
    probe.close()
    return {"works_per_s": done / dt, "main_cpu_us_per_work": main * 1e6 / done if done else None,
            "server_cpu_us_per_work": tot * 1e6 / done if done else None, "main_utilization": main / dt,
            "server_utilization": tot / dt, "client_cpu_us_per_work": sum(g[1] for g in got) * 1e6 / done}


def run_server(path: str, rounds: int, seconds: float, procs: int) -> dict:
    binary = describe(path, "explicit")
    res: dict = {"server": f"{binary.family} {binary.version} ({binary.allocator})", "io1": [], "io2": []}
    with tempfile.TemporaryDirectory() as base, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with topology.running("standalone", name="io1", base_dir=base, redis_server=path) as io1, \
                topology.running("standalone", name="io2", base_dir=base, redis_server=path, io_threads=2) as io2:
            for topo in (io1, io2):
                c = topo.client()
                WorkManagerClient(c, prefix="rcap:io:").load_scripts()
                c.close()
            measure(io1, procs, 2)  # warm-up
            measure(io2, procs, 2)
            for _ in range(rounds):
                res["io1"].append(measure(io1, procs, seconds))
                res["io2"].append(measure(io2, procs, seconds))
    for k in ("io1", "io2"):
        res[f"{k}_works_per_s"] = statistics.median(x["works_per_s"] for x in res[k])
    res["ratio"] = statistics.median(b["works_per_s"] / a["works_per_s"] for a, b in zip(res["io1"], res["io2"]))
    return res


def markdown(results: list[dict], m: dict, args) -> str:
    lines = [f"Machine: {m['cpu']}, {m['cores']} cores shared with the load generator and other tenants (load avg "
             f"{m['load_avg'][0]:.1f}); {args.procs} client processes, one work per round trip, {args.rounds} × "
             f"{args.seconds:g} s per setting, alternating.", "",
             "| server | io-threads 1: works/s | io-threads 2: works/s | ratio (median of pairs) | main-thread µs/work 1 → 2 | server CPU µs/work 1 → 2 |",
             "|---|---|---|---|---|---|"]
    for r in results:
        mc = [statistics.median(x["main_cpu_us_per_work"] for x in r[k]) for k in ("io1", "io2")]
        sc = [statistics.median(x["server_cpu_us_per_work"] for x in r[k]) for k in ("io1", "io2")]
        lines.append(f"| {r['server']} | {r['io1_works_per_s']:.0f} | {r['io2_works_per_s']:.0f} | ×{r['ratio']:.2f} | "
                     f"{mc[0]:.0f} → {mc[1]:.0f} | {sc[0]:.0f} → {sc[1]:.0f} |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--server", action="append", metavar="PATH", help="server binary (repeatable)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--procs", type=int, default=6)
    ap.add_argument("--json", metavar="OUT")
    args = ap.parse_args()
    servers = args.server or [topology.find_redis_server(warn=False).path]
    results = [run_server(p, args.rounds, args.seconds, args.procs) for p in servers]
    m = machine()
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"machine": m, "results": results}, fh, indent=1)
    print(markdown(results, m, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
