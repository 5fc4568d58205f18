"""Copy-on-write of a fork (BGSAVE, AOF rewrite) while a WorkManager load writes, against the sizing's assumption.

The node RAM reserves ``cow_write_fraction`` (0.5) × maxmemory × fragmentation for a fork's copy-on-write
(``analysis.memory.recommend_memory``). This probe measures what Redis itself reports (``rdb_last_cow_size``,
``aof_last_cow_size``) for a backlog of ``--works`` pending reindex buckets (20.7 KB, the example target's) while
Nuxeo-like traffic runs at each ``--rate``: per 4 works, one reindex bucket scheduled and three small works
(1.5 KB) through their whole lifecycle, plus a bucket consumed every 25 works, with Nuxeo's scripts.

One standalone redis-server on loopback (``loadgen.topology``), no persistence configured: the probe starts each
fork itself. The COW is reported as a share of ``used_memory_rss`` at the fork.

Usage: .venv/bin/python benchmarks/cow_probe.py [--works 20000] [--rate 160 --rate 1600] [--reps 3]
Prints a Markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.validate_models import machine  # noqa: E402
from loadgen import topology  # noqa: E402
from loadgen.nuxeo.workmanager import WorkManagerClient  # noqa: E402
from rcapcore.nuxeo.payloads import PayloadFactory  # noqa: E402

PREFIX = "rcap:cow:"
BUCKET_BYTES, SMALL_BYTES = 20_700, 1_500


def fill(client, works: int) -> None:
    """``works`` reindex buckets scheduled in queue ``elasticSearchIndexing``, pipelined."""
    wm, pf = WorkManagerClient(client, prefix=PREFIX), PayloadFactory(0)
    wm.load_scripts()
    p = client.pipeline(transaction=False)
    for i in range(works):
        p.execute_command(*wm.commands("elasticSearchIndexing").schedule(f"b{i}", pf.payload(f"b{i}", BUCKET_BYTES)).args)
        if i % 500 == 499:
            p.execute()
    p.execute()


def load(topo, rate: float, stop: threading.Event, done: dict) -> None:
    """Paced Nuxeo-like writes at ``rate`` works/s until ``stop``."""
    c = topo.client()
    wm, pf = WorkManagerClient(c, prefix=PREFIX), PayloadFactory(1)
    i, t0 = 0, time.perf_counter()
    while not stop.is_set():
        if i % 4 == 0:
            wm.schedule("elasticSearchIndexing", f"n{rate:g}.{i}", pf.payload(f"n{rate:g}.{i}", BUCKET_BYTES))
        else:
            wm.schedule("common", f"s{rate:g}.{i}", pf.payload(f"s{rate:g}.{i}", SMALL_BYTES))
            wm.run_one("common")
        if i % 25 == 0:
            wm.run_one("elasticSearchIndexing")
        i += 1
        lag = t0 + i / rate - time.perf_counter()
        if lag > 0:
            time.sleep(lag)
    done["works_per_s"] = i / (time.perf_counter() - t0)
    c.close()


def fork_once(client, kind: str) -> dict:
    """One BGSAVE or BGREWRITEAOF; the COW Redis reports and the RSS at the fork."""
    info = client.info()
    rss = info["used_memory_rss"]
    if kind == "bgsave":
        client.bgsave()
        flag, cow, secs = "rdb_bgsave_in_progress", "rdb_last_cow_size", "rdb_last_bgsave_time_sec"
    else:
        client.bgrewriteaof()
        flag, cow, secs = "aof_rewrite_in_progress", "aof_last_cow_size", "aof_last_rewrite_time_sec"
    time.sleep(0.05)
    while client.info("persistence")[flag]:
        time.sleep(0.05)
    p = client.info("persistence")
    return {"rss_bytes": rss, "cow_bytes": p[cow], "fork_s": p[secs], "cow_share": p[cow] / rss}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--works", type=int, default=20_000)
    ap.add_argument("--rate", type=float, action="append", metavar="WORKS_PER_S")
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    rates = args.rate or [160.0, 1600.0]
    rows = []
    with tempfile.TemporaryDirectory() as base, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with topology.running("standalone", name="cow", base_dir=base) as topo:
            c = topo.client()
            fill(c, args.works)
            for rate in rates:
                stop, done = threading.Event(), {}
                th = threading.Thread(target=load, args=(topo, rate, stop, done), daemon=True)
                th.start()
                time.sleep(2)
                got = {k: [fork_once(c, k) for _ in range(args.reps)] for k in ("bgsave", "aofrewrite")}
                stop.set()
                th.join()
                for kind, ms in got.items():
                    rows.append({"rate": rate, "achieved": done["works_per_s"], "kind": kind,
                                 "rss": statistics.median(m["rss_bytes"] for m in ms),
                                 "fork_s": statistics.median(m["fork_s"] for m in ms),
                                 "cow": statistics.median(m["cow_bytes"] for m in ms),
                                 "share": statistics.median(m["cow_share"] for m in ms)})
            c.close()
    m = machine()
    print(f"Machine: {m['cpu']}, {m['cores']} cores shared with other tenants (load avg {m['load_avg'][0]:.1f}); "
          f"{args.works:,} pending 20.7 KB buckets; median of {args.reps} forks per row.\n")
    print("| load (works/s, achieved) | fork | RSS at the fork | fork lasted | COW (Redis) | COW / RSS | model's assumption |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['rate']:g} ({r['achieved']:.0f}) | {r['kind']} | {r['rss'] / 2**20:,.0f} MiB | {r['fork_s']} s | "
              f"{r['cow'] / 2**20:.1f} MiB | {100 * r['share']:.2f} % | 50 % |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
