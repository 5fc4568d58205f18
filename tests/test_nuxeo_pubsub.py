"""PubSub model against a real redis-server: channels, message shapes and sizes, fan-out to every node,
end-to-end latency from the stamp, losses per publisher."""

from __future__ import annotations

import pytest

from rcapcore.errors import BadInput
from loadgen.nuxeo.pubsub import PubSubCommands, PubSubNode, decode_message
from rcapcore.nuxeo.payloads import (CACHEINVAL_FLOOR_BYTES, CACHEINVAL_MEAN_BYTES, DBS_ID_BYTES, VCS_EXTRA_DOC_BYTES,
                                     VCS_ONE_DOC_BYTES)


def test_channel_names_and_message_shapes():
    c = PubSubCommands("7", prefix="nuxeo:")
    vcs, dbs, inval = c.vcs(), c.dbs(ids=3), c.cacheinval(60)
    assert [op.args[1] for op in (vcs, dbs, inval)] == [b"nuxeo:vcs:default", b"nuxeo:dbs:default",
                                                      b"nuxeo:cacheinval"]
    assert [op.name for op in (vcs, dbs, inval)] == ["PUBLISH vcs", "PUBLISH dbs", "PUBLISH cacheinval"]
    assert vcs.args[2].startswith(b"7:\xac\xed\x00\x05")
    assert len(vcs.args[2]) == 2 + VCS_ONE_DOC_BYTES
    assert len(c.vcs(docs=10).args[2]) == 2 + VCS_ONE_DOC_BYTES + 9 * VCS_EXTRA_DOC_BYTES
    assert dbs.args[2].startswith(b"7:,") and len(dbs.args[2]) == 2 + 3 * DBS_ID_BYTES
    assert dbs.args[2].count(b",") == 3
    assert len(inval.args[2]) == 2 + 60 and b"/" in inval.args[2]
    seqs = [decode_message(op.args[1], op.args[2], "nuxeo:").seq for op in (vcs, dbs, inval)]
    assert seqs == [1, 2, 3]


def test_cacheinval_sizes_match_the_mean_the_mix_uses():
    c = PubSubCommands("1", seed=3)
    sizes = [len(c.cacheinval().args[2]) - 2 for _ in range(4000)]
    assert min(sizes) == CACHEINVAL_FLOOR_BYTES and max(sizes) <= 100
    assert abs(sum(sizes) / len(sizes) - CACHEINVAL_MEAN_BYTES) < 1.5


def test_stamp_round_trip_gives_latency():
    c = PubSubCommands("n1")
    op = c.dbs(sent_ns=1_000_000_000)
    d = decode_message(op.args[1], op.args[2], "rcap:", received_ns=1_000_250_000)
    assert (d.topic, d.publisher, d.seq, d.latency_us) == ("dbs:default", "n1", 1, 250.0)
    assert decode_message(b"rcap:other", b"n1:hello", "rcap:") is None


def test_node_id_must_not_contain_the_separator():
    with pytest.raises(BadInput):
        PubSubCommands("a:b")


def test_every_node_receives_every_message(standalone_client):
    nodes = [PubSubNode(standalone_client, f"node{i}", seed=i) for i in range(3)]
    try:
        for n in nodes:
            n.subscribe()
        per_node = 20
        for n in nodes:
            for i in range(per_node):
                receivers = n.publish(("vcs", "dbs", "cacheinval")[i % 3])
                assert receivers == len(nodes)
        published = sum(n.published for n in nodes)
        for n in nodes:
            assert n.wait_for(published, timeout_s=10)
        for n in nodes:
            s = n.stats
            assert s.received == published and s.unstamped == 0
            for p in nodes:
                assert s.lost_from(p.node_id, p.published) == 0
                assert s.max_seq_by_publisher[p.node_id] == per_node
            assert len(s.latencies_us) == published and min(s.latencies_us) > 0
    finally:
        for n in nodes:
            n.close()
    assert standalone_client.pubsub_numpat() == 0  # subscriptions released
