"""One shard's works/s ceiling: the CPU model's prediction vs the saturation probe vs an independent tool.

In one session, on one standalone ``redis-server`` started by ``loadgen.topology``:

1. the suite's light-load WorkManager sweep (``workmanager``, open loop 100/300/1000 works/s, 4 nodes'
   consumer threads) — what ``make report`` records;
2. the suite's saturation probe (``work-lifecycle``, closed loop, unpipelined, 2..64 connections, stopped
   at ≥ 90 % main-thread utilization or when works/s stops growing);
3. the independent reference: ``redis-benchmark -c 50`` replaying each of the lifecycle's four EVALSHA
   (same scripts, same keys, same payload size, ids from ``__rand_int__``), one phase per script, with the
   main thread's CPU read from INFO around each phase. A lifecycle takes one call of each, so the
   reference's works/s is 1 / Σ (1 / EVALSHA/s of phase i), and its CPU per work Σ CPU per call.

Printed: the CPU model fitted on the light-load sweep alone (the prediction from light load, extrapolated),
fitted on sweep + probe (what the report uses), the probe's and the reference's measurements, the errors,
and rcap's closed-loop EVALSHA/s against redis-benchmark's (goal ≥ 0.9). Predictions are compared at the
main-thread utilization each measurement reached (a shared machine rarely gives Redis a whole core) and
at 100 %.

    .venv/bin/python benchmarks/saturation_probe.py [--seconds 5] [--requests 200000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from analysis import throughput as tp  # noqa: E402
from analysis.runs import load_sweep  # noqa: E402
from loadgen import topology  # noqa: E402
from rcap import bench  # noqa: E402
from rcapcore.nuxeo.payloads import work_type  # noqa: E402
from rcapcore.nuxeo.scripts import load_scripts  # noqa: E402
from loadgen.nuxeo.workmanager import WorkQueueCommands  # noqa: E402
from rcap.suite import probe_done  # noqa: E402
from loadgen.workloads.work_lifecycle import PROBE_USERS  # noqa: E402

PREFIX = "nuxeo:"


def main_thread_cpu_s(client) -> float:
    info = client.info("cpu")
    if "used_cpu_sys_main_thread" in info:
        return float(info["used_cpu_sys_main_thread"]) + float(info["used_cpu_user_main_thread"])
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


def reference(topo, requests: int, clients: int) -> dict:
    """redis-benchmark replaying the lifecycle's four EVALSHA, one phase each."""
    client = topo.client()
    load_scripts(client.execute_command)
    cmds = WorkQueueCommands("default", PREFIX, False)
    payload = b"x" * work_type("fulltextExtractor").size_bytes
    rid = "w__rand_int__"
    phases = [("scheduling-work", cmds.schedule(rid, payload).args), ("pop-work", cmds.pop().args),
              ("running-work", cmds.running(rid, payload).args), ("completed-work", cmds.completed(rid).args)]
    host, port = topo.target.hosts[0]
    out = {}
    for name, args in phases:
        argv = ["redis-benchmark", "-h", host, "-p", str(port), "-c", str(clients), "-n", str(requests),
                "-r", "100000000", "--csv", *[a.decode() if isinstance(a, bytes) else str(a) for a in args]]
        cpu0, t0 = main_thread_cpu_s(client), time.monotonic()
        proc = subprocess.run(argv, check=True, capture_output=True, text=True)
        cpu1, t1 = main_thread_cpu_s(client), time.monotonic()
        rps = float(proc.stdout.strip().splitlines()[-1].split(",")[1].strip('"'))
        out[name] = {"evalsha_per_s": rps, "cpu_us_per_call": (cpu1 - cpu0) * 1e6 / requests,
                     "utilization": (cpu1 - cpu0) / (t1 - t0)}
    works = 1 / sum(1 / p["evalsha_per_s"] for p in out.values())
    cpu_us = sum(p["cpu_us_per_call"] for p in out.values())
    return {"phases": out, "works_per_s": works, "evalsha_per_s": 4 * works, "cpu_us_per_work": cpu_us,
            # time-weighted utilization over the four phases (each takes 1/rate_i of a work's time)
            "utilization": sum(p["utilization"] / p["evalsha_per_s"] for p in out.values()) * works,
            "keys_after": client.dbsize()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5.0, help="per sweep or probe step (the suite's 8 and 5 s)")
    ap.add_argument("--requests", type=int, default=200_000, help="redis-benchmark requests per phase")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--nice", type=int, default=-10,
                    help="niceness for redis-server, rcap and redis-benchmark (as root; 0 = leave): the machine is "
                         "shared, and a Redis ceiling needs Redis to get its core")
    ap.add_argument("--out", type=Path, default=None, help="keep the runs here (default: a temporary folder)")
    args = ap.parse_args()
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp, topology.running("standalone", base_dir=os.path.join(tmp, "rcap")) as topo:
        url = topo.target.url
        if args.nice and os.geteuid() == 0:  # this process (so its children: Locust, redis-benchmark) and Redis
            os.setpriority(os.PRIO_PROCESS, 0, args.nice)
            os.setpriority(os.PRIO_PROCESS, topo.nodes[0].pid, args.nice)
        common = dict(target=url, out=args.out or Path(tmp) / "runs", progress=False)
        light = load_sweep(bench.run_sweep("workmanager", rates=[100, 300, 1000], duration_s=max(args.seconds, 8),
                                           overrides={"nodes": "4"}, **common))
        probe = load_sweep(bench.run_sweep("work-lifecycle", users=list(PROBE_USERS), duration_s=args.seconds,
                                           until=probe_done, **common))
        ref = reference(topo, args.requests, args.clients)
    light_pts = [p for p in map(tp.load_point, light.runs) if p]
    probe_pts = [p for p in map(tp.load_point, probe.runs) if p]
    both = light_pts + probe_pts
    m_light, m_all = tp.fit_work_model(light_pts), tp.fit_work_model(both)  # what rcap model ceiling fits
    top = max(probe_pts, key=lambda p: p.works_per_s)

    def err(pred: float, meas: float) -> float:
        return 100 * (pred - meas) / meas

    result = {
        "machine": {"cores": os.cpu_count(), "nice": args.nice, "load_average_start": load, "load_average_end": os.getloadavg()[0]},
        "light_points": [p.to_dict() for p in light_pts], "probe_points": [p.to_dict() for p in probe_pts],
        "probe_stopped": probe.manifest.get("stopped_early"),
        "model_light": m_light.to_dict(), "model_all": m_all.to_dict(), "reference": ref,
        "probe_top": top.to_dict(),
        "rcap_vs_reference_evalsha": 4 * top.works_per_s / ref["evalsha_per_s"],
        "checks": {
            "light→probe (at probe U)": err(m_light.throughput_at(top.utilization), top.works_per_s),
            "light→reference (at ref U)": err(m_light.throughput_at(ref["utilization"]), ref["works_per_s"]),
            "all→reference (at ref U)": err(m_all.throughput_at(ref["utilization"]), ref["works_per_s"]),
            "light ceiling vs ref CPU ceiling": err(m_light.ceiling_per_s, 1e6 / ref["cpu_us_per_work"]),
            "all ceiling vs ref CPU ceiling": err(m_all.ceiling_per_s, 1e6 / ref["cpu_us_per_work"]),
        },
    }
    print(f"machine: {os.cpu_count()} cores, load average {load:.2f} → {os.getloadavg()[0]:.2f} (shared), "
          f"nice {args.nice}")
    for p in both:
        print(f"  {p.workload:>15} users={p.concurrency!s:>3} closed={p.closed_loop!s:5} U={100 * p.utilization:5.1f} % "
              f"works/s={p.works_per_s:8,.0f} requests/s={p.requests_per_s:8,.0f} "
              f"µs/work={1e6 * p.utilization / p.works_per_s if p.works_per_s else float('nan'):6.1f}")
    print(f"  probe stopped: {result['probe_stopped']}")
    for name, m in (("light only", m_light), ("sweep+probe", m_all)):
        print(f"model {name}: busy {m.busy_us:.1f} µs + turn {m.turn_us:.1f} µs, U0 {100 * m.idle_utilization:.1f} %, "
              f"ceiling {m.ceiling_per_s:,.0f} works/s (×{m.extrapolation:.1f} the top measured) — {m.method}")
    print(f"reference redis-benchmark -c {args.clients}: {ref['works_per_s']:,.0f} works/s "
          f"({ref['evalsha_per_s']:,.0f} EVALSHA/s) at U {100 * ref['utilization']:.0f} %, "
          f"{ref['cpu_us_per_work']:.1f} µs CPU/work → {1e6 / ref['cpu_us_per_work']:,.0f} works/s at 100 %")
    for name, ph in ref["phases"].items():
        print(f"    {name:>16}: {ph['evalsha_per_s']:9,.0f}/s, {ph['cpu_us_per_call']:.1f} µs CPU/call, "
              f"U {100 * ph['utilization']:.0f} %")
    print(f"rcap probe top: {top.works_per_s:,.0f} works/s at U {100 * top.utilization:.0f} % "
          f"({top.concurrency} users); rcap/redis-benchmark EVALSHA/s = {result['rcap_vs_reference_evalsha']:.2f}")
    for k, v in result["checks"].items():
        print(f"  error {k}: {v:+.1f} %")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
