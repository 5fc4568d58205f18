"""Open-loop pacing: a global target rate, smooth arrivals, latency from each operation's intended start.

The global rate (ops/s, works/s or messages/s, across all users and worker processes) is split
evenly over the paced users: each takes ``rate / users``, so a worker process takes the share of
the users Locust gave it. Each user's intended start times are evenly spaced
(``t0 + phase + k × interval``) with a random phase, so that the sum over users is smooth rather
than a burst every interval. When a user falls behind it does not sleep and does not skip: it
catches up.

Coordinated-omission correction charges an operation only the time it waited behind a slow
*server*, never the load generator's own slack (timer overshoot of ``gevent.sleep``, ≈0.6 ms;
CPU starvation of the generator). The pacer keeps the schedule an ideal generator would have
followed: it starts an iteration at ``max(intended start, ideal end of the previous iteration)``,
where the ideal end adds the time the previous iteration's requests actually spent at the server
(their measured service times). ``ideal start − intended start`` is the *charged lag*, added to the
corrected latency of every request of the iteration (as wrk2 does). ``actual start − ideal start``
is the *generator lag*, recorded apart (``generator lag`` in ``latency.jsonl``) so a reader sees
when rcap, not Redis, fell behind.
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
        self._ideal_ns: int | None = None  # ideal start of the previous iteration
        self.generator_lag_ns = 0
        """How late the current iteration started compared with an ideal generator (ns, ≥ 0)."""

    def wait(self, served_ns: int = 0) -> int:
        """Sleep until the next intended start; return the charged lag in ns (≥ 0).

        ``served_ns`` is the time the previous iteration's requests spent at the server (the sum of
        their measured service times, ns). The generator's own lateness is left in
        :attr:`generator_lag_ns`.
        """
        intended = self._next_ns
        self._next_ns = intended + self.interval_ns
        prev = self._ideal_ns
        ideal = intended if prev is None else max(intended, prev + served_ns)
        self._ideal_ns = ideal
        now = _perf_ns()
        if intended > now:
            gevent.sleep((intended - now) / 1e9)
            now = _perf_ns()
        self.generator_lag_ns = max(0, now - ideal)
        return ideal - intended


def share(rate: float | None, users: int) -> float | None:
    """Each paced user's rate (ops/s) for a global ``rate`` over ``users`` users; ``None`` = closed loop."""
    if rate is None:
        return None
    return rate / max(1, users)
