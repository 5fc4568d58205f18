"""Scenario files: every shipped one loads; mistakes are one-line BadInput errors."""

from __future__ import annotations

import pytest

from rcapcore.errors import BadInput
from loadgen.scenarios import Scenario, available, load_scenario, scenario_from_json
from loadgen.workloads.base import Dist
from loadgen.workloads.kv import KvParams
from loadgen.workloads.workmanager import WorkManagerParams
from loadgen.workloads import plan

SHIPPED = ("workmanager", "kv", "pubsub", "nuxeo-cluster", "mass-operation", "kv-set-1k")


def test_every_required_scenario_ships_and_loads():
    assert set(SHIPPED) <= set(available())
    for name in available():
        s = load_scenario(name)
        assert isinstance(s, Scenario) and s.name == name and s.prefix == "rcap:"
        assert s.users == sum(item.count for item in plan(s))
        assert scenario_from_json(s.to_json()) == s


def test_typed_params():
    wm = load_scenario("workmanager")
    assert isinstance(wm.params, WorkManagerParams) and isinstance(wm.params.processing_ms, Dist)
    from rcapcore.nuxeo.versions import profile

    # the version's idle threads all run (profile_queues), plus the producers
    assert wm.users == wm.params.producers + wm.params.nodes * profile(wm.nuxeo_version).idle_polling_threads()
    kv = load_scenario("kv", {"keyspace": "500", "params.mget_keys": "3", "rate": "null", "users": "7"})
    assert isinstance(kv.params, KvParams)
    # users counts the KV users; the GC scanner of each node comes on top
    assert (kv.params.keyspace, kv.params.mget_keys, kv.rate, kv.users) == (500, 3, None, 7 + kv.params.gc_nodes)
    one_k = load_scenario("kv-set-1k")
    assert one_k.params.value_bytes == 1024 and one_k.rate is None


def test_nuxeo_cluster_is_derived_from_business_inputs():
    small = load_scenario("nuxeo-cluster", {"nodes": "1", "docs_per_s": "10"})
    big = load_scenario("nuxeo-cluster", {"nodes": "4", "docs_per_s": "200"})
    rate = lambda s, role: sum(i.count * (i.rate_per_user or 0) for i in plan(s) if i.role == role)  # noqa: E731
    assert rate(big, "producer") == pytest.approx(20 * rate(small, "producer"))
    assert sum(i.count for i in plan(big) if i.role == "subscriber") == 4
    assert big.users > small.users  # four nodes' worker threads


def test_unknown_scenario_name():
    with pytest.raises(BadInput, match="unknown scenario 'nope'.*workmanager"):
        load_scenario("nope")


def test_invalid_yaml_names_file_and_line(tmp_path):
    bad = tmp_path / "broken.yaml"
    bad.write_text("workload: kv\nusers: 3\nparams:\n  mix: {get: 1\n  keyspace: 10\n")
    with pytest.raises(BadInput) as err:
        load_scenario(str(bad))
    msg = str(err.value)
    assert str(bad) in msg and ":5" in msg and "\n" not in msg


@pytest.mark.parametrize("overrides, pattern", [
    ({"colour": "red"}, "unknown --set key 'colour'"),
    ({"users": "-3"}, "users must be >= 1"),
    ({"users": "many"}, "expected an integer"),
    ({"rate": "0"}, "rate must be > 0"),
    ({"keyspace": "0"}, "keyspace must be >= 1"),
    ({"key_distribution": "pareto"}, "key_distribution"),
    ({"mix": "{fly: 1}"}, "unknown kv operation"),
    ({"value_bytes": "{kind: uniform, min: 10, max: 5}"}, "max .* below min"),
    ({"prefix": "a*b"}, "glob"),
])
def test_nonsense_values_are_bad_input(overrides, pattern):
    with pytest.raises(BadInput, match=pattern):
        load_scenario("kv", overrides)


def test_fixed_user_counts_cannot_be_overridden():
    with pytest.raises(BadInput, match="users is fixed"):
        load_scenario("pubsub", {"users": "99"})
    assert load_scenario("pubsub", {"nodes": "6"}).users == 6 + load_scenario("pubsub").params.publishers


def test_unknown_fields_in_file(tmp_path):
    f = tmp_path / "x.yaml"
    f.write_text("workload: workmanager\nparams:\n  producerz: 3\n")
    with pytest.raises(BadInput, match="unknown field.*producerz"):
        load_scenario(str(f))
    f.write_text("workload: redis-magic\n")
    with pytest.raises(BadInput, match="workload must be one of"):
        load_scenario(str(f))
    f.write_text("workload: workmanager\nparams:\n  queues: [{queue_id: q, threads: 1, work_type: nope, share: 1}]\n")
    with pytest.raises(BadInput, match="unknown work type"):
        load_scenario(str(f))
