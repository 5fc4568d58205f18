"""Nuxeo version profiles (spec Corrections 1): the queues, the work-type → queue mapping, the transient
TTL, and the idle polling rate of one node measured on a real redis-server."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from rcapcore.errors import BadInput
from rcapcore.nuxeo.mix import BusinessLoad, derive_mix
from rcapcore.nuxeo.lts import check_version
from rcapcore.nuxeo.versions import SPEC_IDLE_POLLS_PER_S, profile
from loadgen.scenarios import load_scenario
from loadgen.workloads import plan
from locust_runner import LOCUSTFILE, locust_env


def test_profiles_follow_the_corrections():
    old, new = profile("10.10"), profile("2021")
    q_old = {q.queue_id: q for q in old.queues()}
    q_new = {q.queue_id: q for q in new.queues()}
    assert not q_old["common"].processing and not q_old["raclupdate"].processing
    assert q_new["common"].processing and q_new["common"].threads == 4 and q_new["raclupdate"].threads == 4
    assert "videoConversion" not in q_old and q_new["videoConversion"].threads == 2
    assert (old.queue_for("fulltextExtractor"), new.queue_for("fulltextExtractor")) == ("default", "common")
    assert (old.queue_for("listener"), new.queue_for("listener")) == ("default", "common")
    assert old.queue_for("reindexBucket") == new.queue_for("indexing") == "elasticSearchIndexing"
    assert (old.transient_ttl_s, new.transient_ttl_s) == (240 * 60, 4320 * 60)
    assert profile().version == "2021"  # the default: the last LTS with Redis


@pytest.mark.parametrize("bad", ["11.1", "2023", 10.1, "", None, True])
def test_other_versions_are_one_line_errors(bad):
    with pytest.raises(BadInput, match="nuxeo_version must be") as err:
        check_version(bad)
    assert "\n" not in str(err.value)


def test_scenarios_and_mix_take_the_version():
    s = load_scenario("nuxeo-cluster", {"nuxeo_version": "10.10"})
    assert s.nuxeo_version == "10.10" and load_scenario("nuxeo-cluster").nuxeo_version == "2021"
    assert '"nuxeo_version": "10.10"' in s.to_json()  # what the run manifest records
    with pytest.raises(BadInput, match="nuxeo_version"):
        load_scenario("kv", {"nuxeo_version": "9.10"})
    old = derive_mix(BusinessLoad(nodes=1, docs_per_s=10, nuxeo_version="10.10"))
    new = derive_mix(BusinessLoad(nodes=1, docs_per_s=10))
    assert {q.queue_id for q in new.queues if q.work_type == "fulltextExtractor"} == {"common"}
    assert {q.queue_id for q in old.queues if q.work_type == "fulltextExtractor"} == {"default"}
    consumers = lambda sc: sum(i.count for i in plan(sc) if i.role == "consumer")  # noqa: E731
    assert consumers(load_scenario("nuxeo-cluster", {"nodes": "1"})) - consumers(s) // s.params.nodes == 10


def _evalsha_calls(client) -> int:
    return int(client.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0))


def _wait_polling(client, timeout_s: float = 30.0) -> None:
    """Until the node's worker threads poll (Locust's start-up takes seconds on a busy machine)."""
    deadline = time.monotonic() + timeout_s
    while _evalsha_calls(client) == 0:
        assert time.monotonic() < deadline, "the idle node never polled"
        time.sleep(0.2)


def test_idle_node_polls_at_the_spec_rate_per_version(topology_factory, tmp_path):
    """One idle node per profile (no works scheduled), EVALSHA calls over 10 s of commandstats."""
    window_s, warmup_s = 10.0, 2.0
    runs = []
    for version in ("10.10", "2021"):
        topo = topology_factory("standalone")
        scenario = load_scenario("workmanager", {
            "nuxeo_version": version, "producers": "0", "nodes": "1", "profile_queues": "true",
            "queues": "[{work_type: indexing, share: 1}]", "drain_s": "0"})
        argv = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "-u", str(scenario.users),
                "-r", str(scenario.users), "-t", "60s", "--only-summary", "--loglevel", "WARNING",
                "--exit-code-on-error", "0"]
        run_dir = tmp_path / version
        run_dir.mkdir()
        proc = subprocess.Popen(argv, env=locust_env(scenario, topo.target, run_dir), stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        runs.append((version, topo.client(), proc))
    try:
        for _, c, _ in runs:
            _wait_polling(c)
        time.sleep(warmup_s)  # every thread has started its 1 s ± 0.2 s cycle
        start = [(_evalsha_calls(c), time.monotonic()) for _, c, _ in runs]
        time.sleep(window_s)
        end = [(_evalsha_calls(c), time.monotonic()) for _, c, _ in runs]
        for version, _, proc in runs:
            assert proc.poll() is None, f"{version}: the load process ended early: {proc.stderr.read()[-2000:]}"
    finally:
        for _, c, proc in runs:
            proc.terminate()
            proc.communicate(timeout=60)
            c.close()
    for (version, _, _), (n0, t0), (n1, t1) in zip(runs, start, end):
        rate = (n1 - n0) / (t1 - t0)
        print(f"nuxeo {version}: idle node {rate:.1f} pop-work/s (spec {SPEC_IDLE_POLLS_PER_S[version]:g})")
        assert rate == pytest.approx(SPEC_IDLE_POLLS_PER_S[version], rel=0.10), version


def test_work_payloads_follow_the_version():
    from rcapcore.nuxeo.payloads import work_type

    # spec §1.5: ≈1.04 KB in 10.10, ≈1.09 KB in 2021 (traceContext); types measured once do not change
    assert (work_type("computeDigest", "10.10").size_bytes, work_type("computeDigest").size_bytes) == (1040, 1090)
    assert work_type("fulltextExtractor", "10.10").size_bytes == 1060
    assert work_type("indexing", "10.10").size_bytes == work_type("indexing").size_bytes
    old = derive_mix(BusinessLoad(nodes=1, docs_per_s=10, nuxeo_version="10.10"))
    new = derive_mix(BusinessLoad(nodes=1, docs_per_s=10))
    size = lambda mix, t: next(q.payload_bytes for q in mix.queues if q.work_type == t)  # noqa: E731
    assert size(new, "fulltextExtractor") - size(old, "fulltextExtractor") == 50
