"""The scheduled keyspace scans of one Nuxeo node (spec Corrections 9): every ``gc_period_s`` the KEYS of
:func:`rcapcore.nuxeo.scans.period_scans`, back to back, each its own request (its latency is the time it
blocked Redis plus the round trip).

Safety: the patterns start with the run's prefix; on a target rcap did not start (``topology:
external``) the scans are refused unless the scenario opts in (``keys_on_shared_target: true``), and
they are skipped on Redis Cluster (Nuxeo does not support it; KEYS is per node there).
"""

from __future__ import annotations

import gevent

from rcapcore.nuxeo.scans import period_scans
from loadgen.users.base import RcapUser


class KeyspaceScanner(RcapUser):
    abstract = True
    period_s = 900.0

    def on_start(self) -> None:
        ctx = self.ctx
        p = ctx.scenario.params
        self.ops = period_scans(ctx.scenario.prefix)
        self.rng = ctx.rng()
        self.refused = None
        if ctx.target.sharded:
            self.refused = "keys_scans_skipped_cluster"
        elif getattr(ctx.target, "topology", "external") == "external" and not getattr(p, "keys_on_shared_target",
                                                                                       False):
            self.refused = "keys_scans_refused_shared_target"
        self.first = True

    def scan_period(self) -> bool:
        ctx = self.ctx
        if self.refused:
            ctx.counters.totals[self.refused] += 1
            return False
        # nodes are not in phase: the first period starts at a random offset
        wait = self.rng.uniform(0, self.period_s) if self.first else self.period_s
        self.first = False
        if ctx.stopping.wait(wait):
            return False
        for op in self.ops:
            if ctx.stopping.is_set():
                return False
            self.redis.call(op)
            ctx.counters.totals["keys_scans"] += 1
        gevent.sleep(0)
        return True

    def run_scans(self) -> None:
        self.rate_per_user = None
        self.loop(self.scan_period)

    tasks = [run_scans]
