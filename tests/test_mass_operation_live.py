"""Mass operation with live indexing in the same queue (spec Corrections 4, 10), on a real redis-server."""

from __future__ import annotations

from rcapcore.latency import decode
from loadgen.scenarios import load_scenario
from loadgen.workloads import plan
from rcapcore.nuxeo.queues import LIVE_WAIT_REQUEST
from locust_runner import read_counters, read_latency, run_locust


def test_producers_are_capped_at_one_per_node():
    s = load_scenario("mass-operation", {"producers": "4", "nodes": "2"})
    burst = next(i for i in plan(s) if i.name == "BurstProducer")
    assert burst.count == 2 and burst.rate_per_user * burst.count == s.params.schedule_rate


def test_live_indexing_waits_behind_the_reindex_buckets(standalone_target, standalone_client, tmp_path):
    # 200 buckets at 100/s, drained at 20 buckets/s by 2 threads (100 ms each); live works: 10/s of 5 ms
    overrides = {"works": "200", "schedule_rate": "100", "consume_rate": "20", "threads": "2", "producers": "1",
                 "live_indexing_per_s": "10", "live_processing_ms": "5", "drain_s": "0.5"}
    run_locust("mass-operation", overrides, standalone_target, tmp_path, seconds=4)
    rows = [r for r in read_latency(tmp_path) if r["op"] == LIVE_WAIT_REQUEST and r["kind"] == "measured"]
    assert rows, "no live indexing work was popped"
    waits_max_us = max(decode(r["hdr"]).get_max_value() for r in rows)
    # alone, a live work would wait about its 5 ms; behind the buckets it waits for the ones ahead of it
    assert waits_max_us > 1_000_000
    w = read_counters(tmp_path)["works"]
    assert w["scheduled"] > 200  # the buckets plus live works, same queue
    assert standalone_client.hlen("rcap:work:data") == w["pending"]
