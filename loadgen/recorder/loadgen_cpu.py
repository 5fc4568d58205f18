"""The load generator's own CPU: is the measurement limited by Locust rather than by Redis?

A Locust process is single-threaded (gevent), so one process near 100 % of a core cannot send
faster, and its latencies include its own queueing. Each Locust process (master and the workers of
``--processes``) is sampled once a second with psutil.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

import psutil

BOUND_CPU_PERCENT = 90.0
WARMUP_SAMPLES = 2
"""Samples left out at the start (Locust imports and spawns users; its CPU is not the load's yet)."""
REMEDY = ("add Locust processes (--processes N, up to one per free core) or more load machines "
          "through Locust's master/worker mode (--master / --worker)")


@dataclass
class LoadgenCpu:
    """Per-second CPU (% of one core) of the busiest Locust process, over the run."""

    root_pid: int
    busiest_percent: list[float] = field(default_factory=list)
    host_percent: list[float] = field(default_factory=list)
    _procs: dict[int, psutil.Process] = field(default_factory=dict, repr=False)
    _calls: int = field(default=0, repr=False)

    def sample(self) -> float | None:
        """Sample every process of the Locust tree; return the busiest one's CPU % since the last call."""
        try:
            root = psutil.Process(self.root_pid)
            tree = [root, *root.children(recursive=True)]
        except psutil.Error:
            return None
        busiest = None
        for proc in tree:
            known = self._procs.setdefault(proc.pid, proc)
            try:
                pct = known.cpu_percent(None)  # first call per process returns 0.0 (no interval yet)
            except psutil.Error:
                continue
            busiest = pct if busiest is None else max(busiest, pct)
        host = psutil.cpu_percent(None)
        self._calls += 1
        # the first call only primes cpu_percent (0 by construction), the next ones are start-up
        if busiest is not None and self._calls > 1 + WARMUP_SAMPLES:
            self.busiest_percent.append(busiest)
            self.host_percent.append(host)
        return busiest

    @property
    def median_percent(self) -> float | None:
        return statistics.median(self.busiest_percent) if self.busiest_percent else None

    @property
    def bound(self) -> bool:
        """True when the busiest Locust process ran above 90 % of a core for most of the run."""
        med = self.median_percent
        return med is not None and med > BOUND_CPU_PERCENT

    @property
    def host_busy(self) -> bool:
        """True when the whole load machine ran above 90 % (Redis and Locust compete for its CPUs)."""
        return bool(self.host_percent) and statistics.median(self.host_percent) > BOUND_CPU_PERCENT

    def report(self) -> dict:
        return {
            "host_cpu_percent_median": round(statistics.median(self.host_percent), 1) if self.host_percent else None,
            "host_busy": self.host_busy,
            "busiest_process_cpu_percent_median": round(self.median_percent, 1) if self.busiest_percent else None,
            "busiest_process_cpu_percent_max": round(max(self.busiest_percent), 1) if self.busiest_percent else None,
            "samples": len(self.busiest_percent),
            "bound_threshold_percent": BOUND_CPU_PERCENT,
            "loadgen_bound": self.bound,
        }
