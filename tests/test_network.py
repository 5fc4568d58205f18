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
