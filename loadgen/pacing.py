"""Open-loop pacing: a global target rate, smooth arrivals, latency from each operation's intended start.

The global rate (ops/s, works/s or messages/s, across all users and worker processes) is split
evenly over the paced users: each takes ``rate / users``, so a worker process takes the share of
the users Locust gave it. Each user's intended start times are evenly spaced
(``t0 + phase + k × interval``) with a random phase, so that the sum over users is smooth rather
than a burst every interval. When a user falls behind (Redis or the load generator is slow) it does
not sleep and does not skip: it catches up, and the lag — how late the operation started compared
with its schedule — is added to the latency of its requests (coordinated-omission correction as
wrk2 does), next to the uncorrected service time.
"""

from __future__ import annotations

import random
import time

import gevent

_perf_ns = time.perf_counter_ns


class Pacer:
    """One user's schedule at ``rate_per_s`` (operations per second, > 0)."""

    def __init__(self, rate_per_s: float, rng: random.Random | None = None) -> None:
        if not rate_per_s > 0:
            raise ValueError(f"rate must be > 0, got {rate_per_s}")
        self.interval_ns = int(1e9 / rate_per_s)
        phase = (rng or random.Random()).random() * self.interval_ns
        self._next_ns = _perf_ns() + int(phase)

    def wait(self) -> int:
        """Sleep until the next intended start; return the lag in ns (≥ 0) of the actual start."""
        intended = self._next_ns
        self._next_ns = intended + self.interval_ns
        now = _perf_ns()
        if intended > now:
            gevent.sleep((intended - now) / 1e9)
            now = _perf_ns()
        return max(0, now - intended)


def share(rate: float | None, users: int) -> float | None:
    """Each paced user's rate (ops/s) for a global ``rate`` over ``users`` users; ``None`` = closed loop."""
    if rate is None:
        return None
    return rate / max(1, users)
