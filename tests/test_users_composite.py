"""nuxeo-cluster (traffic derived from business inputs) and mass-operation (a burst outrunning the
consumers) in real Locust runs."""

from __future__ import annotations

from loadgen.workloads import plan
from locust_runner import read_counters, read_latency, run_locust


def test_nuxeo_cluster_sends_every_kind_of_traffic(standalone_target, standalone_client, tmp_path):
    overrides = {"nodes": "2", "docs_per_s": "40", "uploads_per_s": "2", "cache_invalidations_per_s": "10",
                 "drain_s": "1"}
    scenario, _ = run_locust("nuxeo-cluster", overrides, standalone_target, tmp_path, seconds=5)
    ops = {r["op"] for r in read_latency(tmp_path) if r["count"]}
    assert {"EVALSHA scheduling-work", "EVALSHA pop-work", "EVALSHA running-work", "EVALSHA completed-work",
            "PUBLISH vcs", "PUBLISH cacheinval", "pubsub delivery", "GET", "pattern batch-upload"} <= ops
    c = read_counters(tmp_path)
    assert c["messages"]["nodes"] == 2 and c["messages"]["lost"] == 0
    assert c["works"]["lost"] == 0 and c["works"]["completed"] > 0
    planned = sum(i.count * i.rate_per_user for i in plan(scenario) if i.role == "producer")
    assert planned == 40 * 3  # works/s derived from 40 docs/s × 3 works per doc
    assert 0.5 * planned * 3 < c["works"]["scheduled"] < 1.1 * planned * 5  # ~4 s of it
    assert standalone_client.get("rcap:lock:default:x") is None  # lock checks are reads only


def test_mass_operation_backlog_grows_at_lambda_minus_mu(standalone_target, standalone_client, tmp_path):
    overrides = {"works": "400", "schedule_rate": "100", "consume_rate": "20", "threads": "2", "producers": "2",
                 "work_type": "indexing", "drain_s": "1"}
    run_locust("mass-operation", overrides, standalone_target, tmp_path, seconds=4)
    w = read_counters(tmp_path)["works"]
    assert w["scheduled"] > 200 and w["completed"] < w["scheduled"] / 2
    assert w["pending"] == w["scheduled"] - w["completed"] and w["lost"] == 0
    assert standalone_client.hlen("rcap:work:data") == w["pending"]  # the backlog holds its payloads
