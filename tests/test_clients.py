"""The lean Redis client against real redis-server processes: replies, µs recording, errors,
NOSCRIPT reload, reconnection, and every target kind (standalone, sentinel, enterprise TLS+password,
cluster). Runs without Locust (no monkey-patching): gevent sockets block through the hub."""

from __future__ import annotations

import pytest

from loadgen.clients import ConnectionLost, RedisClient, RequestFailed, router_factory
from loadgen.histograms import LatencyRecorder
from rcapcore.nuxeo.kv import KVCommands
from loadgen.nuxeo.workmanager import Counters, WorkQueueCommands


def _client(target, recorder):
    return RedisClient(None, recorder, router_factory(target)(), reconnect_backoff_s=0.0)


def _drained(recorder):
    _, seconds = recorder.drain(final=True)
    measured, errors = {}, {}
    for s in seconds:
        for op, counts in s.measured.items():
            measured.setdefault(op, []).extend(v for v, c in counts.items() for _ in range(c))
        for op, n in s.errors.items():
            errors[op] = errors.get(op, 0) + n
    return measured, errors


def test_replies_and_microsecond_samples(standalone_target, standalone_client):
    rec = LatencyRecorder()
    client = _client(standalone_target, rec)
    kv = KVCommands(prefix="rcap:")
    client.call(kv.set("a", b"x" * 1024))
    assert client.call(kv.get("a")) == b"x" * 1024
    assert client.call(kv.mget(["a", "missing"])) == [b"x" * 1024, None]
    assert standalone_client.strlen("rcap:kv:a") == 1024
    measured, errors = _drained(rec)
    assert sorted(measured) == ["GET", "MGET", "SET"] and not errors
    assert all(1 <= v < 1_000_000 for vs in measured.values() for v in vs)  # µs, not ms or ns
    client.drop_connections()


def test_error_reply_is_a_failed_request(standalone_target, standalone_client):
    rec = LatencyRecorder()
    client = _client(standalone_target, rec)
    standalone_client.set("rcap:kv:text", "abc")
    with pytest.raises(RequestFailed, match="not an integer"):
        client.call(KVCommands(prefix="rcap:").incrby("text", 1))
    assert client.call(KVCommands(prefix="rcap:").get("text")) == b"abc"  # the connection is still good
    measured, errors = _drained(rec)
    assert errors == {"INCRBY": 1} and "INCRBY" not in measured and len(measured["GET"]) == 1


def test_noscript_loads_the_script_and_retries_once(standalone_target, standalone_client):
    rec = LatencyRecorder()
    client = _client(standalone_target, rec)
    standalone_client.script_flush()
    counters = client.call(WorkQueueCommands("default", "rcap:").metrics())
    assert counters == Counters(0, 0, 0, 0)
    assert client.call(WorkQueueCommands("default", "rcap:").metrics()) == counters  # loaded now
    measured, errors = _drained(rec)
    assert errors == {"EVALSHA metrics-work-queue": 1}
    assert len(measured["SCRIPT LOAD"]) == 1 and len(measured["EVALSHA metrics-work-queue"]) == 2


def test_lost_connection_is_an_error_and_the_next_call_reconnects(standalone_target, standalone_client):
    rec = LatencyRecorder()
    client = _client(standalone_target, rec)
    my_id = client.command("CLIENT ID", "CLIENT", "ID")
    standalone_client.client_kill_filter(_id=my_id)
    with pytest.raises(ConnectionLost):
        client.command("PING", "PING")
    assert client.command("PING", "PING") == b"PONG"
    assert client.command("CLIENT ID", "CLIENT", "ID") != my_id
    measured, errors = _drained(rec)
    assert errors == {"PING": 1} and len(measured["PING"]) == 1


@pytest.mark.parametrize("kind", ["sentinel", "enterprise", "cluster"])
def test_every_target_kind(kind, topology_factory):
    opts = {"password": "s3cret-pw"} if kind == "enterprise" else {}
    topo = topology_factory(kind, **opts)
    target = topo.target
    rec = LatencyRecorder()
    client = _client(target, rec)
    kv = KVCommands(prefix="rcap:")
    for i in range(40):  # many keys: in a cluster they land on every master
        client.call(kv.set(f"k{i}", b"%d" % i))
    assert [client.call(kv.get(f"k{i}")) for i in range(40)] == [b"%d" % i for i in range(40)]
    wm = WorkQueueCommands("default", "rcap:", hashtag=(kind == "cluster"))
    assert client.call(wm.schedule("w1", b"payload")).scheduled == 1
    popped = client.call(wm.pop())
    assert popped.counters.running == 1
    measured, errors = _drained(rec)
    assert set(errors) <= {"EVALSHA scheduling-work", "EVALSHA pop-work"}  # NOSCRIPT on a fresh server
    assert len(measured["SET"]) == 40 and measured.get("SCRIPT LOAD")
    client.drop_connections()
    admin = topo.client()
    try:
        if kind == "cluster":
            assert admin.dbsize(target_nodes=admin.PRIMARIES) >= 40
        else:
            assert admin.get("rcap:kv:k39") == b"39"
    finally:
        admin.close()


def test_readonly_reply_drops_the_connection(standalone_target, standalone_client):
    # a master demoted by a failover answers READONLY: the next call must reconnect (and re-resolve)
    rec = LatencyRecorder()
    client = _client(standalone_target, rec)
    first = client.command("CLIENT ID", "CLIENT", "ID")
    script = "return redis.error_reply('READONLY You can\\'t write against a read only replica.')"
    with pytest.raises(RequestFailed, match="READONLY"):
        client.command("EVAL", "EVAL", script, 0)
    assert client.command("CLIENT ID", "CLIENT", "ID") != first
