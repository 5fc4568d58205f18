"""``pool: nuxeo``: emulate one Nuxeo node's Jedis pool (spec Corrections 8, §5.2) for the users of that node.

Each command borrows a connection and returns it: at most ``max_total − 1`` commands in flight per node
(the PubSub subscriber holds the 16th), a borrower waits when all are busy (commons-pool's
``blockWhenExhausted``), and a connection returned while ``max_idle`` are already idle is closed — the next
burst opens new ones (connection churn: TCP + AUTH/SELECT, and the TLS handshake with TLS). Sentinel
targets get Jedis's default 8/8 (Nuxeo ignores maxTotal/maxIdle there). Idle connections are reused last
in, first out, as commons-pool does. Not emulated: the evictor's PING every 30 s and QUIT after 60 s idle.

Pools are per load process: with ``--processes N`` each process emulates its share of the nodes' users
with its own pools (run ``pool: nuxeo`` with one process for Nuxeo's exact per-node limits).
"""

from __future__ import annotations

from collections import deque
from typing import Any, Callable

from gevent.lock import BoundedSemaphore

from rcapcore.nuxeo.pool import node_pool

POOL_MODES = ("persistent", "nuxeo")


class EmulatedNodePool:
    """Connections of one emulated node. ``borrow``/``give_back`` around every round trip."""

    def __init__(self, connect: Callable[[], Any], max_active: int, max_idle: int,
                 totals: dict | None = None) -> None:
        self._connect = connect
        self._totals = totals if totals is not None else {}
        self._slots = BoundedSemaphore(max_active)
        self._idle: deque = deque()
        self.max_active, self.max_idle = max_active, max_idle
        self.opened = 0
        self.closed = 0
        self.in_flight = 0
        self.max_in_flight = 0

    def borrow(self) -> Any:
        self._slots.acquire()
        try:
            conn = self._idle.pop() if self._idle else None
            if conn is None:
                conn = self._connect()
                self.opened += 1
                self._totals["pool_connections_opened"] = self._totals.get("pool_connections_opened", 0) + 1
        except BaseException:
            self._slots.release()
            raise
        self.in_flight += 1
        if self.in_flight > self.max_in_flight:
            self.max_in_flight = self.in_flight
            top = self._totals.get("pool_max_in_flight_per_node", 0)
            self._totals["pool_max_in_flight_per_node"] = max(top, self.in_flight)
        return conn

    def give_back(self, conn: Any, broken: bool = False) -> None:
        self.in_flight -= 1
        if broken or len(self._idle) >= self.max_idle:
            conn.close()
            self.closed += 1
            self._totals["pool_connections_closed"] = self._totals.get("pool_connections_closed", 0) + 1
        else:
            self._idle.append(conn)
        self._slots.release()

    def close(self) -> None:
        while self._idle:
            self._idle.pop().close()


def node_pools(nodes: int, connect: Callable[[], Any], target_kind: str,
               totals: dict | None = None) -> list[EmulatedNodePool]:
    """One pool per emulated node, with the limits Nuxeo really gets on this kind of target; ``totals``
    (the run's counters) gets ``pool_connections_opened``/``_closed`` and ``pool_max_in_flight_per_node``
    (summed over processes when merged)."""
    limits = node_pool(target_kind)
    return [EmulatedNodePool(connect, limits.command_connections, limits.max_idle, totals)
            for _ in range(max(1, nodes))]
