"""WorkManager model against a real redis-server: key names, lifecycle, de-duplication, inner commands,
NOSCRIPT reload, cancel/reschedule, audit, and memory per pending work."""

from __future__ import annotations

import pytest
import redis
from redis.crc import key_slot

from rcapcore.nuxeo.keys import WorkQueueKeys
from rcapcore.nuxeo.payloads import PayloadFactory, work_type
from rcapcore.nuxeo.scripts import SCRIPTS, WORK_SCRIPT_NAMES
from loadgen.nuxeo.workmanager import Counters, WorkManagerClient, WorkQueueCommands

Q = "default"


def _keys(client) -> set[bytes]:
    return set(client.scan_iter(match="*", count=1000))


def _commandstats(client) -> dict[str, int]:
    return {name.removeprefix("cmdstat_"): int(v["calls"])
            for name, v in client.info("commandstats").items()}


def _lifecycle(wm: WorkManagerClient, work_id: str, payload: bytes) -> None:
    wm.schedule(Q, work_id, payload)
    popped = wm.pop(Q)
    assert popped is not None and popped.work_id == work_id and popped.payload == payload
    wm.running(Q, work_id, payload)
    wm.completed(Q, work_id)


def test_key_names_with_nuxeo_prefix_are_the_spec_names():
    keys = WorkQueueKeys.build("default", prefix="nuxeo:")
    assert keys.script_keys() == (
        "nuxeo:work:data", "nuxeo:work:state", "nuxeo:work:count:default", "nuxeo:work:sched:default",
        "nuxeo:work:queue:default", "nuxeo:work:run:default", "nuxeo:work:done:default",
        "nuxeo:work:cancel:default")
    op = WorkQueueCommands("default", prefix="nuxeo:").schedule("12.34", b"payload")
    assert op.name == "EVALSHA scheduling-work"
    assert op.args[:3] == ("EVALSHA", SCRIPTS["scheduling-work"].sha.encode(), b"8")
    assert op.args[3:11] == tuple(k.encode() for k in keys.script_keys())
    assert op.args[11:] == (b"12.34", b"Q", b"payload")


def test_each_script_has_its_own_request_name():
    q = WorkQueueCommands("q1")
    ops = [q.schedule("1", b"p"), q.pop(), q.running("1", b"p"), q.completed("1"), q.cancel_scheduled("1"),
           q.cancel_running("1", b"p"), q.init_queue(), q.metrics()]
    assert [op.name for op in ops] == [f"EVALSHA {n}" for n in WORK_SCRIPT_NAMES]
    assert len({op.args[1] for op in ops}) == len(WORK_SCRIPT_NAMES)


def test_hashtag_keys_share_one_slot_and_default_keys_do_not():
    tagged = WorkQueueKeys.build("default", prefix="rcap:", hashtag=True)
    assert tagged.data == "rcap:{work}:data" and tagged.queue == "rcap:{work}:queue:default"
    assert len({key_slot(k.encode()) for k in tagged.script_keys()}) == 1
    plain = WorkQueueKeys.build("default", prefix="rcap:")
    assert len({key_slot(k.encode()) for k in plain.script_keys()}) > 1


def test_full_lifecycle_leaves_only_the_count_hash(standalone_client):
    wm = WorkManagerClient(standalone_client, prefix="nuxeo:")
    wm.load_scripts()
    work_id, payload = PayloadFactory(seed=1).work("fulltextExtractor")
    _lifecycle(wm, work_id, payload)
    assert _keys(standalone_client) == {b"nuxeo:work:count:default"}
    assert standalone_client.hgetall("nuxeo:work:count:default") == {
        b"nuxeo:work:sched:default": b"0", b"nuxeo:work:run:default": b"0",
        b"nuxeo:work:done:default": b"1", b"nuxeo:work:cancel:default": b"0"}
    assert wm.counters(Q) == Counters(0, 0, 1, 0) == wm.metrics(Q)


def test_lifecycle_runs_32_inner_commands(standalone_client):
    wm = WorkManagerClient(standalone_client)
    wm.load_scripts()
    work_id, payload = PayloadFactory(seed=2).work("indexing")
    standalone_client.config_resetstat()
    _lifecycle(wm, work_id, payload)
    stats = _commandstats(standalone_client)
    inner = {k: v for k, v in stats.items() if k not in ("evalsha", "config|resetstat", "info")}
    assert stats["evalsha"] == 4
    assert inner == {"sadd": 2, "sismember": 3, "hset": 4, "lpush": 1, "rpop": 1, "srem": 2, "hget": 1,
                     "hdel": 2, "hincrby": 16}
    assert sum(inner.values()) == 32


def test_schedule_deduplicates_by_id(standalone_client):
    wm = WorkManagerClient(standalone_client)
    wm.load_scripts()
    factory = PayloadFactory(seed=3)
    work_id, payload = factory.work("pictureViews", work_id="default:doc-1:file:content:pictureView")
    first = wm.schedule(Q, work_id, payload)
    second = wm.schedule(Q, work_id, factory.payload(work_id, 1190))
    assert first == second == Counters(1, 0, 0, 0)
    keys = wm.commands(Q).keys
    assert standalone_client.llen(keys.queue) == 1
    assert standalone_client.hget(keys.data, work_id) == payload  # the first payload is kept


def test_pop_of_a_running_duplicate_requeues_it(standalone_client):
    wm = WorkManagerClient(standalone_client)
    wm.load_scripts()
    keys = wm.commands(Q).keys
    work_id, payload = PayloadFactory(seed=4).work("fulltextExtractor")
    wm.schedule(Q, work_id, payload)
    assert wm.state(Q, work_id) == "Q"
    assert wm.pop(Q).work_id == work_id
    assert wm.state(Q, work_id) == "R"
    wm.running(Q, work_id, payload)
    wm.schedule(Q, work_id, payload)  # same id scheduled again while it runs
    assert wm.pop(Q) is None  # not run twice concurrently...
    assert standalone_client.lrange(keys.queue, 0, -1) == [work_id.encode()]  # ...but back in the FIFO
    assert wm.counters(Q) == Counters(1, 1, 0, 0)
    wm.completed(Q, work_id)  # re-scheduled meanwhile: data and state are kept
    assert standalone_client.hexists(keys.data, work_id)
    again = wm.pop(Q)
    assert again is not None and again.work_id == work_id
    wm.completed(Q, work_id)
    assert wm.state(Q, work_id) is None
    assert wm.counters(Q) == Counters(0, 0, 2, 0)
    assert _keys(standalone_client) == {keys.count.encode()}


def test_noscript_reloads_and_retries_once(standalone_client):
    wm = WorkManagerClient(standalone_client)
    wm.load_scripts()
    standalone_client.script_flush()
    op = wm.commands(Q).metrics()
    try:
        standalone_client.execute_command(*op.args)
        raise AssertionError("EVALSHA should fail after SCRIPT FLUSH")
    except redis.exceptions.NoScriptError:
        pass
    work_id, payload = PayloadFactory(seed=5).work("computeDigest")
    assert wm.schedule(Q, work_id, payload) == Counters(1, 0, 0, 0)
    assert standalone_client.script_exists(SCRIPTS["scheduling-work"].sha) == [True]


def test_cancel_scheduled_and_reschedule_running(standalone_client):
    wm = WorkManagerClient(standalone_client)
    wm.load_scripts()
    factory = PayloadFactory(seed=6)
    a, pa = factory.work("fulltextExtractor")
    b, pb = factory.work("fulltextExtractor")
    wm.schedule(Q, a, pa)
    wm.schedule(Q, b, pb)
    assert wm.cancel_scheduled(Q, b) == Counters(1, 0, 0, 1)
    assert wm.cancel_scheduled(Q, b) == Counters(1, 0, 0, 1)  # already gone: a read
    assert wm.pop(Q).work_id == a
    assert wm.cancel_running(Q, a, pa) == Counters(1, 0, 0, 2)  # back in the queue, counted canceled
    assert wm.pop(Q).work_id == a


def test_init_queue_recomputes_counters_from_the_sets(standalone_client):
    wm = WorkManagerClient(standalone_client)
    wm.load_scripts()
    keys = wm.commands(Q).keys
    factory = PayloadFactory(seed=7)
    for _ in range(3):
        wm.schedule(Q, *factory.work("fulltextExtractor"))
    wm.pop(Q)
    standalone_client.hset(keys.count, keys.sched, 99)  # e.g. counters left by a crashed node
    assert wm.init_queue(Q) == Counters(2, 1, 0, 0)
    assert wm.counters(Q) == Counters(2, 1, 0, 0)
    assert wm.run_one(Q) is not None and wm.run_one(Q) is not None and wm.run_one(Q) is None
    assert wm.counters(Q) == Counters(0, 1, 2, 0)  # the first popped work is still running


def test_audit_tells_where_each_work_is(standalone_client):
    wm = WorkManagerClient(standalone_client)
    wm.load_scripts()
    factory = PayloadFactory(seed=8)
    queued, pq = factory.work("fulltextExtractor")
    running, pr = factory.work("fulltextExtractor")
    done, pd = factory.work("fulltextExtractor")
    for wid, p in ((running, pr), (done, pd), (queued, pq)):
        wm.schedule(Q, wid, p)
    wm.pop(Q)  # running
    wm.pop(Q)  # done
    wm.completed(Q, done)
    keys = wm.commands(Q).keys
    standalone_client.hset(keys.data, "orphan", b"x")  # data without queue entry (e.g. after a failover)
    audit = wm.audit(Q, [queued, running, done, "orphan"])
    assert {wid: a.status for wid, a in audit.items()} == {
        queued: "scheduled", running: "running", done: "absent", "orphan": "orphaned"}
    assert audit[queued].queued and audit[queued].state == "Q" and audit[running].state == "R"


def test_memory_per_pending_work_is_in_the_spec_ballpark(standalone_client):
    """Spec §1.6 measured ≈1.54 KB per pending 1.1 KB work (50,000 works); we schedule 20,000."""
    wm = WorkManagerClient(standalone_client)
    wm.load_scripts()
    q = wm.commands(Q)
    factory = PayloadFactory(seed=9)
    size = work_type("fulltextExtractor").size_bytes
    n = 20_000
    before = standalone_client.info("memory")["used_memory"]
    pipe = standalone_client.pipeline(transaction=False)
    for i in range(n):
        wid = f"{10**12 + i}.{i}"
        pipe.execute_command(*q.schedule(wid, factory.payload(wid, size)).args)
        if i % 2000 == 1999:
            pipe.execute()
    pipe.execute()
    assert wm.counters(Q).scheduled == n
    per_work = (standalone_client.info("memory")["used_memory"] - before) / n
    print(f"\nRedis memory per pending {size} B work: {per_work:.0f} B ({per_work / size:.2f} × payload)")
    assert size < per_work < 2 * size


def test_hashtagged_lifecycle_runs_on_a_cluster(topology_factory):
    topo = topology_factory("cluster")
    client = topo.client()
    wm = WorkManagerClient(client, hashtag=True)
    wm.load_scripts()
    factory = PayloadFactory(seed=10)
    ids = []
    for _ in range(3):
        work_id, payload = factory.work("fulltextExtractor")
        ids.append(work_id)
        _lifecycle(wm, work_id, payload)
    assert wm.counters(Q) == Counters(0, 0, 3, 0)
    assert {a.status for a in wm.audit(Q, ids).values()} == {"absent"}
    # Nuxeo's own (untagged) keys span several slots: a cluster refuses the script
    with pytest.raises((redis.exceptions.RedisError, redis.exceptions.RedisClusterException), match="same key slot|CROSSSLOT"):
        WorkManagerClient(client).schedule(Q, *factory.work("fulltextExtractor"))
    client.close()
