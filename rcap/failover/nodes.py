"""Direct connections to the nodes of a local topology, and waiting for a failover to settle."""

from __future__ import annotations

import time

import redis

from loadgen.topology.lab import Node, Topology


def node_client(topo: Topology, node: Node, timeout_s: float = 2.0, **kwargs) -> redis.Redis:
    """A client for one data node or sentinel of ``topo`` (auth and TLS as the topology's nodes use)."""
    opts = topo.node_options()
    params: dict = {"host": node.host, "port": node.port, "socket_timeout": timeout_s,
                    "socket_connect_timeout": timeout_s, **kwargs}
    if node.role != "sentinel" and opts.password:
        params["password"] = opts.password
    if opts.tls:
        params.update(ssl=True, ssl_ca_certs=opts.tls.ca, ssl_certfile=opts.tls.cert, ssl_keyfile=opts.tls.key)
    return redis.Redis(**params)


def data_nodes(topo: Topology) -> list[Node]:
    return [n for n in topo.nodes if n.role in ("master", "replica")]


def sentinel_nodes(topo: Topology) -> list[Node]:
    return topo.nodes_with_role("sentinel")


def _info(topo: Topology, node: Node) -> dict | None:
    try:
        with node_client(topo, node, timeout_s=0.5) as client:
            return client.info("replication")
    except (redis.RedisError, OSError):
        return None


def sentinels_master(topo: Topology, service_name: str = "mymaster") -> set[tuple[str, int]]:
    """The master address each reachable sentinel reports (one element when they agree)."""
    seen = set()
    for node in sentinel_nodes(topo):
        try:
            with node_client(topo, node, timeout_s=0.5) as client:
                addr = client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", service_name)
            if addr:
                seen.add((_s(addr[0]), int(addr[1])))
        except (redis.RedisError, OSError):
            continue
    return seen


def settled(topo: Topology, service_name: str = "mymaster") -> Node | None:
    """The master if the group is stable: sentinels agree, it says it is master, and every other
    running data node is its replica with the link up."""
    masters = sentinels_master(topo, service_name)
    if len(masters) != 1:
        return None
    host, port = next(iter(masters))
    master = next((n for n in data_nodes(topo) if (n.host, n.port) == (host, port)), None)
    if master is None:
        return None
    info = _info(topo, master)
    if not info or info.get("role") != "master":
        return None
    for node in data_nodes(topo):
        if node.name == master.name or not node.alive():
            continue
        rinfo = _info(topo, node)
        if not rinfo or rinfo.get("role") != "slave" or rinfo.get("master_link_status") != "up" \
                or (rinfo.get("master_host"), int(rinfo.get("master_port", 0))) != (host, port):
            return None
    return master


def wait_settled(topo: Topology, timeout_s: float, service_name: str = "mymaster") -> Node | None:
    """Poll :func:`settled` until it names a master or ``timeout_s`` passes (None)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        master = settled(topo, service_name)
        if master is not None:
            return master
        time.sleep(0.1)
    return None


def _s(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
