"""KV store model against a real redis-server: the §2.1 operations, CAS semantics with TTL, and the
§2.3 batch-upload sequence (Corrections 2: 7 + 28 + 13 + 26 round trips)."""

from __future__ import annotations

from collections import Counter

import pytest

from rcapcore.nuxeo.keys import kv_namespace
from rcapcore.nuxeo.kv import KVClient, KVCommands, compare_and_set, drive, lock_commands, nominal_steps
from rcapcore.nuxeo.transientstore import (BLOBSIZE_KEY, PHASES, batch_upload, batch_upload_phases,
                                          transient_store)


def test_store_namespaces_follow_nuxeo_rule():
    assert kv_namespace("default", "nuxeo:") == "nuxeo:kv:"
    assert kv_namespace("bulk", "nuxeo:") == "nuxeo:bulk:"
    assert transient_store(prefix="nuxeo:").namespace == "nuxeo:transient_BatchManagerCache:"
    assert KVCommands("bulk", "rcap:").get("status:1").args == ("GET", b"rcap:bulk:status:1")
    assert lock_commands(prefix="nuxeo:").get("doc-1").args == ("GET", b"nuxeo:lock:default:doc-1")


def test_plain_operations(standalone_client):
    kv = KVClient(standalone_client, store="default")
    kv.put("a", "1")
    kv.put("b", b"x" * 100, ttl_s=30)
    assert kv.get("a") == b"1" and 0 < standalone_client.ttl("rcap:kv:b") <= 30
    assert kv.mget(["a", "missing", "b"]) == [b"1", None, b"x" * 100]
    assert kv.add_and_get("a", 41) == 42
    kv.set_ttl("a", 60)
    assert standalone_client.ttl("rcap:kv:a") > 0
    kv.set_ttl("a", 0)  # PERSIST
    assert standalone_client.ttl("rcap:kv:a") == -1
    kv.put("a", None)  # DEL
    assert kv.get("a") is None
    assert all(k.startswith(b"rcap:kv:") for k in standalone_client.scan_iter())


def test_compare_and_set_semantics(standalone_client):
    kv = KVClient(standalone_client)
    kv.load_scripts()
    assert kv.compare_and_set("k", None, None)  # absent
    assert kv.compare_and_set("k", None, "v1", ttl_s=100)
    assert 0 < standalone_client.ttl("rcap:kv:k") <= 100  # the follow-up EXPIRE
    assert not kv.compare_and_set("k", None, "v2")  # present: not set
    assert not kv.compare_and_set("k", None, None)
    assert not kv.compare_and_set("k", "wrong", "v2")
    assert kv.compare_and_set("k", "v1", "v2")
    assert kv.get("k") == b"v2" and standalone_client.ttl("rcap:kv:k") == -1  # SET dropped the TTL
    assert not kv.compare_and_set("k", "v1", None)
    assert kv.compare_and_set("k", "v2", None)  # compare-and-del
    assert kv.get("k") is None


def test_cas_with_ttl_is_two_round_trips_only_when_it_applies(standalone_client):
    kv = KVClient(standalone_client)
    kv.load_scripts()
    sent = []

    def execute(op):
        sent.append(op.name)
        return kv.execute(op)

    assert drive(compare_and_set(kv.commands, "lock", None, "node=1", ttl_s=10), execute)
    assert not drive(compare_and_set(kv.commands, "lock", None, "node=2", ttl_s=10), execute)
    assert sent == ["EVALSHA compare-null-and-set", "EXPIRE", "EVALSHA compare-null-and-set"]


def test_batch_upload_round_trips_on_real_redis(standalone_client):
    """Spec Corrections 2: 7 / 28 / 13 / 26 = 74 round trips; 34 GET, 17 DEL, 6 SETEX, 6 EXPIRE, 11 EVALSHA;
    10 keys after init + one file, with <batchId>.param.handler."""
    kv = KVClient(standalone_client, store="transient_BatchManagerCache")
    kv.load_scripts()
    ts = kv.commands
    expected = {"init": 7, "add": 28, "read": 13, "drop": 26}
    total: Counter[str] = Counter()
    server: Counter[str] = Counter()
    for phase, steps in batch_upload_phases(ts, "batchId-1", size_bytes=123_456):
        sent: list[str] = []

        def execute(op, sent=sent):
            sent.append(op.name)
            return kv.execute(op)

        standalone_client.config_resetstat()
        drive(steps, execute)
        stats = {k.removeprefix("cmdstat_"): int(v["calls"])
                 for k, v in standalone_client.info("commandstats").items()}
        assert len(sent) == expected[phase], phase
        by_cmd = Counter(name.split()[0] for name in sent)
        total.update(by_cmd)
        server.update({k: v for k, v in stats.items() if k in ("get", "del", "setex", "expire", "evalsha")})
        for cmd in ("SETEX", "EXPIRE", "EVALSHA"):  # never called from inside the CAS scripts
            assert stats.get(cmd.lower(), 0) == by_cmd.get(cmd, 0), (phase, cmd)
        # each CAS script reads its key once: the server sees one GET more per EVALSHA
        assert stats.get("get", 0) == by_cmd.get("GET", 0) + by_cmd.get("EVALSHA", 0), phase
        if phase == "init":
            assert standalone_client.get(ts.key("batchId-1.param.handler")) == b"default"
        if phase == "add":
            keys = {k.decode().removeprefix(ts.namespace)
                    for k in standalone_client.scan_iter(match=f"{ts.namespace}*")}
            assert len(keys) == 10 and "batchId-1.param.handler" in keys, keys
            assert standalone_client.get(ts.key(BLOBSIZE_KEY)) == b"123456"
    assert sum(total.values()) == 74
    assert total == {"GET": 34, "DEL": 17, "SETEX": 6, "EXPIRE": 6, "EVALSHA": 11}
    assert (server["evalsha"], server["setex"], server["expire"]) == (11, 6, 6)
    # only the shared size counter remains, back to 0
    assert list(standalone_client.scan_iter(match=f"{ts.namespace}*")) == [ts.key(BLOBSIZE_KEY)]
    assert standalone_client.get(ts.key(BLOBSIZE_KEY)) == b"0"


def test_batch_upload_ttl_follows_the_nuxeo_version(standalone_client):
    from rcapcore.nuxeo.versions import profile

    kv = KVClient(standalone_client, store="transient_BatchManagerCache")
    kv.load_scripts()
    for version, minutes in (("10.10", 240), ("2021", 4320)):  # spec §2.3: nuxeo.transientstore.ttl
        batch = f"batchId-{version}"
        kv.run(batch_upload_phases(kv.commands, batch, ttl_s=profile(version).transient_ttl_s).__next__()[1])
        ttl = standalone_client.ttl(kv.commands.key(f"{batch}.completed"))
        assert minutes * 60 - 5 <= ttl <= minutes * 60, (version, ttl)


def test_batch_upload_value_sizes_are_small(standalone_client):
    kv = KVClient(standalone_client, store="transient_BatchManagerCache")
    kv.load_scripts()
    steps = batch_upload_phases(kv.commands, "batchId-2")
    for phase, pattern in steps:
        kv.run(pattern)
        if phase == "add":
            break
    sizes = {k: standalone_client.strlen(k) for k in standalone_client.scan_iter()}
    assert all(1 <= s <= 200 for s in sizes.values()), sizes
    blob = [s for k, s in sizes.items() if k.endswith(b".blob.0")]
    assert blob and 150 <= blob[0] <= 200


def test_nominal_steps_match_the_spec_without_redis():
    ops = nominal_steps(batch_upload(transient_store(), "batchId-3"))
    assert len(ops) == 7 + 28 + 13 + 26
    assert PHASES == ("init", "add", "read", "drop")


@pytest.mark.parametrize("expected,value,names", [
    (None, None, ["GET"]),
    (None, "v", ["EVALSHA compare-null-and-set", "EXPIRE"]),
    ("e", None, ["EVALSHA compare-and-del"]),
    ("e", "v", ["EVALSHA compare-and-set", "EXPIRE"]),
])
def test_cas_variants_pick_the_right_script(expected, value, names):
    ops = nominal_steps(compare_and_set(KVCommands(), "k", expected, value, ttl_s=5))
    assert [op.name for op in ops] == names
