"""Per-call CPU cost of ``RedisClient.execute`` (the load generator's hot path), in one process.

One standalone redis-server, one client, ``--calls`` pre-packed GETs in a closed loop; prints the
client process's CPU µs per call (user+system, includes its kernel TCP work) and the wall µs per call.
``--stub`` replaces the connection by one that does no I/O: what is left is ``execute``'s own Python
work per request (timing, recording, routing), the part a refactoring of the client can change.
Run it alternately against two checkouts (``PYTHONPATH=<checkout>``) to compare code versions side by side:

    .venv/bin/python benchmarks/client_hotpath.py [--calls 50000] [--stub] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from loadgen import clients, topology
from loadgen.histograms import LatencyRecorder


def new_client(target, recorder):
    return clients.RedisClient(None, recorder, clients.router_factory(target)())


def measure(client, calls: int) -> dict:
    packed = clients.pack_command(("GET", "rcap:hotpath"))
    for _ in range(2000):  # warm up: connection, caches
        client.execute("GET", packed)
    cpu0, t0 = time.process_time(), time.perf_counter()
    for _ in range(calls):
        client.execute("GET", packed)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
    return {"calls": calls, "cpu_us_per_call": 1e6 * cpu / calls, "wall_us_per_call": 1e6 * wall / calls}


class _NoIO:
    """A connection that answers at once (``--stub``)."""

    def send(self, packed: bytes) -> None:
        pass

    def read(self) -> bytes:
        return b"OK"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=50000)
    ap.add_argument("--stub", action="store_true", help="no I/O: execute()'s own cost only")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if args.stub:
        client = clients.RedisClient(None, LatencyRecorder(), clients.FixedRouter(lambda: None))
        client._conn = _NoIO()  # the cached connection execute() uses
        out = measure(client, args.calls)
    else:
        with topology.running("standalone") as topo:
            out = measure(new_client(topo.target, LatencyRecorder()), args.calls)
    out["code"] = str(Path(clients.__file__).resolve().parent.parent)
    print(json.dumps(out))
    if args.json:
        args.json.write_text(json.dumps(out))


if __name__ == "__main__":
    sys.exit(main())
