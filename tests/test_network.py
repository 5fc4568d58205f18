import pytest
import redis

from analysis import network as net


def test_pubsub_fanout_matches_bytes_on_a_real_subscriber(standalone_client):
    """The pmessage frame size is what a PSUBSCRIBE client actually reads from the socket."""
    sub = redis.Redis(**{k: standalone_client.connection_pool.connection_kwargs[k] for k in ("host", "port")})
    ps = sub.pubsub()
    ps.psubscribe("rcap:*")
    assert ps.get_message(timeout=2)["type"] == "psubscribe"
    before = standalone_client.info("stats")["total_net_output_bytes"]
    for _ in range(100):
        standalone_client.publish("rcap:vcs:default", b"x" * 500)
    got = [ps.get_message(timeout=2) for _ in range(100)]
    sent = standalone_client.info("stats")["total_net_output_bytes"] - before
    assert all(m and m["type"] == "pmessage" and len(m["data"]) == 500 for m in got)
    ps.close()
    sub.close()
    expected = 100 * net.pmessage_bytes("rcap:*", "rcap:vcs:default", 500)
    # the publisher's ":1\r\n" replies and the INFO reply ride on the same counter
    assert expected <= sent <= expected + 100 * 4 + 20_000
    assert net.pubsub_fanout_bytes_per_s(10, 500, 4, "rcap:*", "rcap:vcs:default") == 40 * (expected / 100)


def test_link_and_replication():
    assert net.replication_bytes_per_s(1e6, 2) == 2e6
    assert net.link_bits_per_s(1e6, 0.5) == pytest.approx(16e6)


def test_node_traffic_pubsub_fanout_and_link():
    """A PubSub-only load: the fan-out is every delivery's pmessage frame, counted here by hand from RESP
    (``*4``, ``$8 pmessage``, ``$7 nuxeo:*``, ``$17 nuxeo:vcs:default``, ``$100`` + 100 B), and nothing replicates
    without replicas."""
    frame = len(b"*4\r\n") + len(b"$8\r\npmessage\r\n") + len(b"$7\r\nnuxeo:*\r\n") \
        + len(b"$17\r\nnuxeo:vcs:default\r\n") + len(b"$100\r\n") + 100 + 2
    t = net.node_traffic(works_per_s=0, work_payload_bytes=0, other_ops_per_s=0, kv_value_bytes=0,
                         publishes_per_s=10, pubsub_message_bytes=100, pubsub_deliveries_per_s=40, replicas=0)
    assert t.pubsub_fanout_bytes_per_s == 40 * frame
    assert t.replication_bytes_per_s == 0
    assert t.out_bytes_per_s == t.pubsub_fanout_bytes_per_s  # nothing else goes out
    assert t.in_bytes_per_s > 10 * 100  # each PUBLISH carries its message plus framing
    assert t.link_gbps == pytest.approx(max(t.in_bytes_per_s, t.out_bytes_per_s) * 8 / 0.5 / 1e9)


def test_node_traffic_replicas_and_works():
    """Each replica receives the same stream; a work lifecycle replicates as measured (1.5 KB payload →
    10.66 KB to the replica, BENCHMARKS.md "Model validation")."""
    load = dict(works_per_s=100, work_payload_bytes=1500, other_ops_per_s=0, kv_value_bytes=0,
                publishes_per_s=0, pubsub_message_bytes=0, pubsub_deliveries_per_s=0)
    none, one, two = (net.node_traffic(**load, replicas=r) for r in (0, 1, 2))
    assert one.replication_bytes_per_s == pytest.approx(100 * 10_660)
    assert two.replication_bytes_per_s == pytest.approx(2 * one.replication_bytes_per_s)
    assert two.out_bytes_per_s - none.out_bytes_per_s == pytest.approx(two.replication_bytes_per_s)
    assert one.in_bytes_per_s == none.in_bytes_per_s  # replication is outgoing only
    assert none.in_bytes_per_s > 100 * 2 * 1500  # the payload reaches Redis twice per lifecycle
    mass = net.node_traffic(**load, replicas=0, mass_arrival_works_per_s=50, mass_consumed_works_per_s=20,
                            mass_payload_bytes=1000)
    assert mass.in_bytes_per_s - none.in_bytes_per_s > 50 * 1000
    assert mass.out_bytes_per_s - none.out_bytes_per_s == pytest.approx(20 * 1000)
