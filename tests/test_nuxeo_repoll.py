"""Worker re-polls (spec Corrections 3): a worker thread pops again right after each completed work.
Measured on the workmanager scenario against a real redis-server and compared with what ``derive_mix`` (and
so the sizing) counts (``mix.repoll_pops_per_work``)."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import replace

import pytest

from rcapcore.nuxeo.keys import WorkQueueKeys
from rcapcore.nuxeo.mix import SPEC_REPOLL_POPS_PER_WORK, BusinessLoad, WorkShare, derive_mix
from loadgen.scenarios import load_scenario
from loadgen.workloads.workmanager import workmanager_queues
from locust_runner import LOCUSTFILE, locust_env


def _snapshot(client, queues, prefix):
    evalsha = int(client.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0))
    done = 0
    for q in queues:
        keys = WorkQueueKeys.build(q, prefix)
        done += int(client.hget(keys.count, keys.counter_fields()[2]) or 0)
    return evalsha, done, time.monotonic()


def measure_repoll(topo, tmp_path, rate: float = 100.0, window_s: float = 10.0,
                   warmup_s: float = 2.0) -> tuple[float, float]:
    """Extra pop-work per completed work beyond the lifecycle's one and ``derive_mix``'s idle polls:
    ``(measured, modelled)``."""
    scenario = load_scenario("workmanager", {"rate": str(rate), "nodes": "1", "producers": "2",
                                             "processing_ms": "20", "drain_s": "0.5"})
    shares, _ = workmanager_queues(scenario)
    argv = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "-u", str(scenario.users),
            "-r", str(scenario.users), "-t", f"{int(warmup_s + window_s + 12)}s", "--only-summary",
            "--loglevel", "WARNING", "--exit-code-on-error", "0"]
    client = topo.client()
    proc = subprocess.Popen(argv, env=locust_env(scenario, topo.target, tmp_path), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while _snapshot(client, (), scenario.prefix)[0] == 0:  # Locust's start-up is slow on a busy machine
            assert time.monotonic() < deadline, "the workmanager run never started"
            time.sleep(0.2)
        time.sleep(warmup_s)
        e0, d0, t0 = _snapshot(client, {q for q, _, _ in shares}, scenario.prefix)
        time.sleep(window_s)
        e1, d1, t1 = _snapshot(client, {q for q, _, _ in shares}, scenario.prefix)
        assert proc.poll() is None, "the load process ended before the window did"
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=60)
        client.close()
    works_per_s = (d1 - d0) / (t1 - t0)
    pops_per_s = (e1 - e0) / (t1 - t0) - 3 * works_per_s  # schedule, running, completed: one each per work
    total = sum(s for _, _, s in shares)
    mix = derive_mix(BusinessLoad(nuxeo_version=scenario.nuxeo_version, nodes=1, docs_per_s=works_per_s,
                                  work_processing_ms=20.0, repoll_pops_per_work=0.0,
                                  work_shares=tuple(WorkShare(q, s / total, t) for q, t, s in shares)))
    predicted = mix.ops_per_s_by_name()["EVALSHA pop-work"]  # lifecycle pops + idle polls
    extra = (pops_per_s - predicted) / works_per_s
    modelled = derive_mix(replace(mix.load, repoll_pops_per_work=None)).evalsha_per_work - 4
    print(f"{works_per_s:.1f} works/s: {pops_per_s:.1f} pop-work/s, {predicted:.1f} without re-polls → "
          f"measured {extra:+.2f} pop-work per work, model {modelled:+.2f}, spec {SPEC_REPOLL_POPS_PER_WORK:+.1f}")
    return extra, modelled


def test_worker_repolls_measured_on_the_workmanager_scenario_match_the_mix(topology_factory, tmp_path):
    measured, modelled = measure_repoll(topology_factory("standalone"), tmp_path)
    # between the spec's estimate (+0.5) and one extra pop per work, and what derive_mix/sizing count
    assert SPEC_REPOLL_POPS_PER_WORK - 0.1 <= measured <= 1.0
    assert measured == pytest.approx(modelled, abs=0.15)
