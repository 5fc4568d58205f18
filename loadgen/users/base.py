"""What every rcap Locust user shares in one load process: the run context, the workload counters,
the paced/closed loop, and the stop protocol (producers stop first, consumers finish in-flight work).
"""

from __future__ import annotations

import itertools
import os
import random
import time
from collections import defaultdict, deque
from typing import Any, Callable

import gevent
from gevent.event import Event
from locust.exception import StopUser

from loadgen.clients import RedisClient, RedisUser, RequestFailed, router_factory
from loadgen.histograms import LatencyRecorder
from loadgen.pacing import Pacer
from loadgen.scenarios import Scenario


QUIET_S = 0.2
"""While winding down, deliveries count as finished after this long (s) without one."""


class WorkloadCounters:
    """Cumulative counts of this process (works scheduled/completed, messages published/delivered)."""

    def __init__(self) -> None:
        self.totals: defaultdict[str, int] = defaultdict(int)
        self.per_subscriber: defaultdict[str, int] = defaultdict(int)
        self.per_queue: defaultdict[str, defaultdict[str, int]] = defaultdict(lambda: defaultdict(int))

    def snapshot(self) -> dict[str, Any]:
        return {"totals": dict(self.totals), "per_subscriber": dict(self.per_subscriber),
                "per_queue": {q: dict(c) for q, c in self.per_queue.items()}}


def merge_counters(snapshots: list[dict[str, Any]]) -> dict[str, Any]:
    """Sum several processes' :meth:`WorkloadCounters.snapshot`."""
    out = WorkloadCounters()
    for snap in snapshots:
        for k, v in snap.get("totals", {}).items():
            out.totals[k] += v
        for k, v in snap.get("per_subscriber", {}).items():
            out.per_subscriber[k] += v
        for q, c in snap.get("per_queue", {}).items():
            for k, v in c.items():
                out.per_queue[q][k] += v
    return out.snapshot()


class RunContext:
    """Per load process: scenario, target, recorder, counters and the stop protocol.

    ``stopping`` is set when the run winds down: producers and publishers stop, consumers finish the
    work they hold (``busy`` counts them) and subscribers keep reading until quiet.
    """

    def __init__(self, scenario: Scenario, target: Any, recorder: LatencyRecorder, environment: Any = None) -> None:
        self.scenario = scenario
        self.target = target
        self.recorder = recorder
        self.environment = environment
        self.counters = WorkloadCounters()
        self.stopping = Event()
        self.busy = 0
        self.last_delivery_s = 0.0
        self.hashtag = target.sharded or bool(getattr(scenario.params, "hashtag", False))
        self._new_router = router_factory(target)
        self._ids = itertools.count()
        self.pools: list | None = None
        self._pool_rr = 0
        self.waiters: defaultdict[str, deque[Event]] = defaultdict(deque)
        """Idle consumers per queue, woken by a local schedule (Nuxeo's ``notEmpty.signal()``)."""

    def restart(self) -> None:
        """A new test starts (Locust web UI): producing is allowed again."""
        self.stopping.clear()
        self.busy = 0

    def new_client(self) -> RedisClient:
        router = self._new_router()
        client = RedisClient(self.environment, self.recorder, router)
        if getattr(self.scenario, "pool", "persistent") == "nuxeo" and not router.sharded:
            client.pool = self.next_pool()
        return client

    def next_pool(self) -> Any:
        """``pool: nuxeo``: the emulated node pool of the next user (users spread over the nodes)."""
        if self.pools is None:
            from loadgen.clients import Connection  # noqa: PLC0415
            from loadgen.users.pool import node_pools  # noqa: PLC0415

            p = self.scenario.params
            nodes = getattr(p, "nodes", None) or getattr(p, "gc_nodes", 1)
            router = self._new_router()  # unsharded: endpoint() is where the pools connect now
            self.pools = node_pools(nodes, lambda: Connection(router.endpoint()), self.target.kind,
                                    self.counters.totals)
        pool = self.pools[self._pool_rr % len(self.pools)]
        self._pool_rr += 1
        return pool

    def next_index(self) -> int:
        """A process-unique user number (for seeds and node ids)."""
        return next(self._ids)

    def rng(self) -> random.Random:
        return random.Random(hash((self.scenario.seed, os.getpid(), self.next_index())))

    def node_id(self, role: str) -> str:
        """A node id unique across processes and hosts, without ':' (Nuxeo's message separator)."""
        return f"{role}{os.getpid()}x{self.next_index()}"

    def wake_one(self, queue_id: str) -> None:
        waiters = self.waiters.get(queue_id)
        while waiters:
            ev = waiters.popleft()
            if not ev.is_set():
                ev.set()
                return

    def wind_down(self, timeout_s: float) -> None:
        """Stop producing, then wait (≤ ``timeout_s``) for in-flight works and deliveries to finish."""
        if self.stopping.is_set():
            return
        self.stopping.set()
        for waiters in self.waiters.values():
            while waiters:
                waiters.popleft().set()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            quiet = time.monotonic() - self.last_delivery_s > QUIET_S
            if self.busy == 0 and quiet:
                return
            gevent.sleep(0.02)


class RcapUser(RedisUser):
    """Base of rcap's users: a body run in closed loop or paced at ``rate_per_user`` until the run stops."""

    abstract = True
    rate_per_user: float | None = None
    """Open loop: this user's share of the global rate (ops/s); ``None`` = closed loop."""

    def loop(self, body: Callable[[], Any]) -> None:
        """Run ``body`` until the run winds down; failed requests are already counted, so go on."""
        client = self.redis
        stopping = self.ctx.stopping
        pacer = Pacer(self.rate_per_user, self.ctx.rng()) if self.rate_per_user else None
        client.open_loop = pacer is not None
        record = self.ctx.recorder.record_generator_lag
        while not stopping.is_set():
            if pacer is not None:
                client.lag_ns = pacer.wait(client.served_ns)
                client.served_ns = 0
                if stopping.is_set():
                    break
                record(pacer.generator_lag_ns // 1000)
            try:
                if body() is False:
                    break
            except RequestFailed:
                pass
        stopping.wait()  # a producer that reached its quota keeps its slot until the run winds down
        raise StopUser()
