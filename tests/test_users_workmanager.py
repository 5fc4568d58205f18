"""WorkManager users in a real Locust run against a real redis-server: every work scheduled is
completed exactly once, and the keys left behind are the spec's."""

from __future__ import annotations

from rcapcore.nuxeo.keys import WorkQueueKeys
from locust_runner import read_counters, read_latency, run_locust


def test_producers_stop_consumers_drain_every_work_completed_once(standalone_target, standalone_client, tmp_path):
    overrides = {"producers": "2", "works_per_producer": "60", "rate": "100", "nodes": "2",
                 "processing_ms": "2", "duplicate_ratio": "0", "profile_queues": "false",
                 "queues": "[{queue_id: default, threads: 2, work_type: fulltextExtractor, share: 0.5},"
                           " {queue_id: elasticSearchIndexing, threads: 1, work_type: indexing, share: 0.5}]"}
    scenario, _ = run_locust("workmanager", overrides, standalone_target, tmp_path, seconds=5)
    n = 2 * 60

    # the counters hash, read through the same field names Nuxeo uses
    totals = {"sched": 0, "run": 0, "done": 0}
    for q in ("default", "elasticSearchIndexing"):
        keys = WorkQueueKeys.build(q, "rcap:")
        sched, run, done, cancel = (int(v or 0) for v in standalone_client.hmget(keys.count, keys.counter_fields()))
        totals["sched"] += sched
        totals["run"] += run
        totals["done"] += done
        assert cancel == 0
        assert standalone_client.llen(keys.queue) == 0
    assert totals == {"sched": 0, "run": 0, "done": n}
    assert standalone_client.hlen("rcap:work:data") == 0 and standalone_client.hlen("rcap:work:state") == 0

    # what the run leaves: only the count hashes, named as in spec §1.1
    left = sorted(k.decode() for k in standalone_client.scan_iter(match="rcap:*"))
    assert left == ["rcap:work:count:default", "rcap:work:count:elasticSearchIndexing"]
    assert standalone_client.hkeys("rcap:work:count:default") and all(
        f.decode().startswith("rcap:work:") for f in standalone_client.hkeys("rcap:work:count:default"))

    c = read_counters(tmp_path)
    assert c["works"]["scheduled"] == n and c["works"]["completed"] == n
    assert c["works"]["pending"] == 0 and c["works"]["lost"] == 0
    ops = {r["op"] for r in read_latency(tmp_path)}
    assert {"EVALSHA scheduling-work", "EVALSHA pop-work", "EVALSHA running-work",
            "EVALSHA completed-work"} <= ops
    measured = sum(r["count"] for r in read_latency(tmp_path)
                   if r["op"] == "EVALSHA completed-work" and r["kind"] == "measured")
    assert measured == n
    corrected = [r for r in read_latency(tmp_path) if r["kind"] == "corrected"]
    assert {r["op"] for r in corrected} == {"EVALSHA scheduling-work"}  # only producers are paced


def test_duplicate_ids_are_deduplicated_by_the_sched_set(standalone_target, standalone_client, tmp_path):
    overrides = {"producers": "1", "works_per_producer": "200", "rate": "null", "nodes": "1",
                 "processing_ms": "0", "duplicate_ratio": "0.5", "profile_queues": "false",
                 "queues": "[{queue_id: default, threads: 0, work_type: fulltextExtractor, share: 1}]"}
    run_locust("workmanager", overrides, standalone_target, tmp_path, seconds=3)
    c = read_counters(tmp_path)
    sent, dups = c["works"]["scheduled"], c["works"]["duplicates_sent"]
    assert sent == 200 and dups > 20
    keys = WorkQueueKeys.build("default", "rcap:")
    # no consumer: every duplicate was still queued, so the sched set collapsed it
    assert standalone_client.llen(keys.queue) == sent - dups == standalone_client.scard(keys.sched)
    assert standalone_client.hlen("rcap:work:data") == sent - dups


def test_cluster_runs_use_hash_tags_and_are_labelled_what_if(topology_factory, tmp_path):
    topo = topology_factory("cluster")
    overrides = {"producers": "1", "works_per_producer": "30", "rate": "60", "nodes": "1", "processing_ms": "1", "profile_queues": "false",
                 "queues": "[{queue_id: default, threads: 2, work_type: fulltextExtractor, share: 1}]"}
    run_locust("workmanager", overrides, topo.target, tmp_path, seconds=3)
    c = read_counters(tmp_path)
    assert "what_if" in c and "hash" in c["what_if"]
    assert c["works"]["completed"] == 30 and c["works"]["lost"] == 0
    admin = topo.client()
    try:
        keys = sorted(k.decode() for k in admin.scan_iter(match="rcap:*", target_nodes=admin.PRIMARIES))
        assert keys == ["rcap:{work}:count:default"]
        assert int(admin.hget(keys[0], "rcap:{work}:done:default")) == 30
    finally:
        admin.close()


def test_work_lifecycle_users_run_whole_lifecycles_unpipelined(standalone_target, standalone_client, tmp_path):
    run_locust("work-lifecycle", {"users": "4", "drain_s": "1"}, standalone_target, tmp_path, seconds=3)
    c = read_counters(tmp_path)
    assert c["works"]["completed"] > 100 and c["works"]["lost"] == 0 and c["works"]["pending"] == 0
    counts = {}
    for r in read_latency(tmp_path):
        if r["kind"] == "measured":
            counts[r["op"]] = counts.get(r["op"], 0) + r["count"]
    # one call of each script per work (a pop can find the queue emptied by another user: rare)
    assert counts["EVALSHA completed-work"] == c["works"]["completed"]
    assert counts["EVALSHA scheduling-work"] >= counts["EVALSHA completed-work"] >= 0.95 * counts["EVALSHA pop-work"]
    assert standalone_client.hlen("rcap:work:data") == 0
