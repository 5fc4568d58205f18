"""Local Redis topologies (standalone, sentinel, enterprise stand-in, cluster), targets by URL, and prefix
safety. The only code that spawns redis-server, sentinels or haproxy.

    from loadgen import topology
    with topology.running("sentinel", down_after_ms=1000) as topo:
        client = topo.client()
"""

from loadgen.topology.binaries import AllocatorWarning, RedisBinary, find_redis_server
from loadgen.topology.lab import Topology, down, down_all, get, reap, running, status, up
from loadgen.topology.model import Node
from loadgen.topology.registry import NAMES
from loadgen.topology.targets import Target, check, connect, redact, server_nodes

__all__ = ["AllocatorWarning", "NAMES", "Node", "RedisBinary", "Target", "Topology", "check", "connect",
           "down", "down_all", "find_redis_server", "get", "reap", "redact", "running", "server_nodes",
           "status", "up"]
