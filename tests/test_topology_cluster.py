"""Cluster topology: 3 masters + 3 replicas, all slots covered, reachable from its URL."""

from __future__ import annotations

import redis

from loadgen import topology
from loadgen.topology.keyspace import cleanup_prefix, prefix_key_count


def test_cluster_comes_up_and_spreads_keys(topology_factory):
    topo = topology_factory("cluster")
    assert topo.target.url.startswith("redis+cluster://")
    nodes = topology.server_nodes(topo.target)
    assert sorted(r for r, _, _ in nodes) == ["master"] * 3 + ["replica"] * 3
    client = topology.connect(topology.Target.parse(topo.target.url))
    client.mset_nonatomic({f"rcap:k{i}": i for i in range(300)})
    sizes = [redis.Redis(n.host, n.port).dbsize() for n in topo.nodes_with_role("master")]
    assert sum(sizes) == 300 and all(s > 0 for s in sizes)
    for _, host, port in nodes:
        info = redis.Redis(host, port, decode_responses=True).cluster("INFO")
        assert info["cluster_state"] == "ok" and info["cluster_slots_ok"] == "16384"
    assert prefix_key_count(client, "rcap:") == 300
    assert cleanup_prefix(client, "rcap:") == 300
    assert prefix_key_count(client, "rcap:") == 0
    client.close()
