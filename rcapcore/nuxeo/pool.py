"""Nuxeo's Jedis connection pool (spec Corrections 8, §5.2, §5.3): how many connections a node opens.

Server mode (standalone, Redis Enterprise): ``nuxeo.redis.maxTotal`` 16 / ``maxIdle`` 8 per node, the
PubSub subscriber's connection *included* (it is borrowed and never returned), so at most 15 commands are
in flight per node; a connection returned while 8 are idle is closed, and reopened on the next burst
(connection churn). Sentinel mode ignores both settings: Jedis's ``JedisPoolConfig`` defaults (commons-pool
8 / 8) apply.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_TOTAL = 16
MAX_IDLE = 8
SENTINEL_MAX_TOTAL = 8  # commons-pool defaults, used as is by JedisSentinelPool in Nuxeo
SENTINEL_MAX_IDLE = 8
PUBSUB_CONNECTIONS = 1  # PSUBSCRIBE <prefix>* holds one pool connection for good


@dataclass(frozen=True)
class NodePool:
    """One Nuxeo node's pool: ``max_total`` connections including the PubSub one, ``max_idle`` kept open."""

    max_total: int
    max_idle: int

    @property
    def command_connections(self) -> int:
        """Connections left for commands: at most this many commands in flight per node."""
        return self.max_total - PUBSUB_CONNECTIONS


def node_pool(topology: str = "standalone") -> NodePool:
    """The pool a node really gets on ``topology`` (``sentinel`` ignores maxTotal/maxIdle)."""
    if topology == "sentinel":
        return NodePool(SENTINEL_MAX_TOTAL, SENTINEL_MAX_IDLE)
    return NodePool(MAX_TOTAL, MAX_IDLE)
