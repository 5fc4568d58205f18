"""PubSub users in a real Locust run: every message reaches every emulated node."""

from __future__ import annotations

from locust_runner import read_counters, read_latency, run_locust


def test_received_equals_published_times_nodes(standalone_target, standalone_client, tmp_path):
    overrides = {"nodes": "3", "publishers": "2", "rate": "300", "topics": "{vcs: 1, dbs: 1, cacheinval: 1}"}
    run_locust("pubsub", overrides, standalone_target, tmp_path, seconds=4)
    m = read_counters(tmp_path)["messages"]
    assert m["published"] > 300  # ~3 s of publishing at 300 messages/s
    assert m["nodes"] == 3
    assert m["delivered"] == m["published"] * 3 == m["expected_deliveries"]
    assert m["lost"] == 0 and m["publish_receivers"] == m["published"] * 3
    assert all(s["received"] == m["published"] and s["lost"] == 0 for s in m["per_subscriber"].values())
    latency = read_latency(tmp_path)
    deliveries = sum(r["count"] for r in latency if r["op"] == "pubsub delivery" and r["kind"] == "measured")
    assert deliveries == m["delivered"]
    assert {"PUBLISH vcs", "PUBLISH dbs", "PUBLISH cacheinval"} <= {r["op"] for r in latency}
    assert not list(standalone_client.scan_iter(match="rcap:*"))  # PubSub leaves no keys
