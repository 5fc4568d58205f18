"""Predictions land within their stated errors on real short runs (a small-scale validate_models.py).

A run directory is recorded by hand (workload backlog + used_memory samples while the Nuxeo scheduling
script fills a real redis-server), read back with ``analysis.runs``, calibrated, and used to predict a
5× larger backlog at a payload size the run did not use; the prediction must fall within 3 % and inside
its stated band.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from analysis import memory as mem
from analysis import validation as val
from analysis.runs import load_run
from rcapcore.nuxeo.payloads import PayloadFactory
from loadgen.nuxeo.workmanager import WorkManagerClient, WorkQueueCommands


def _used(client) -> int:
    info = client.info("memory")
    return info["used_memory"] - info["mem_clients_normal"]


def _settled(client) -> int:
    last = _used(client)
    for _ in range(25):
        time.sleep(0.12)
        now = _used(client)
        if now == last:
            break
        last = now
    return last


def _schedule(topo, prefix, start, n, payload, factory):
    c = topo.client()
    cmds = WorkQueueCommands("default", prefix=prefix)
    pipe = c.pipeline(transaction=False)
    for i in range(start, start + n):
        wid = f"{10**15 + i}.{i % 9_000_000 + 1_000_000}"
        pipe.execute_command(*cmds.schedule(wid, factory.payload(wid, payload)).args)
    pipe.execute()
    c.close()
    c.connection_pool.disconnect()


@pytest.fixture(scope="module")
def server(rcap_base_dir):
    from loadgen import topology

    with topology.running("standalone", name="validation", base_dir=rcap_base_dir) as topo:
        client = topo.client()
        WorkManagerClient(client, prefix="rcap:").load_scripts()
        yield topo, client
        client.close()


def test_memory_prediction_from_a_recorded_run(server, tmp_path):
    topo, client = server
    factory = PayloadFactory(3)
    _schedule(topo, "rcap:warm:", 0, 100, 1000, factory)
    # record a short "run": backlog and used_memory samples while 10k works of 1000 B arrive
    run = tmp_path / "run"
    (run / "server").mkdir(parents=True)
    samples, workload = [], []
    done = 0
    for step in (0, 2000, 3000, 5000):
        _schedule(topo, "rcap:run:", done, step, 1000, factory)
        done += step
        t = time.time()
        u = _settled(client)
        samples.append({"t": t, "node": "m", "role": "master", "info": {"used_memory": u}})
        workload.append({"t": t, "work_backlog": client.hlen("rcap:run:work:state")})
    version = client.info("server")["redis_version"]
    (run / "manifest.json").write_text(json.dumps({
        "run_id": "hand-made", "status": "complete", "start_t": samples[0]["t"],
        "scenario": {"name": "fill", "params": {"payload_bytes": 1000}},
        "server": {"redis_version": version, "mem_allocator": client.info("memory")["mem_allocator"]}}))
    (run / "server" / "m.jsonl").write_text("".join(json.dumps(s) + "\n" for s in samples))
    (run / "workload.jsonl").write_text("".join(json.dumps(w) + "\n" for w in workload))

    obs, layout = val.memory_observations([load_run(run)])
    assert [o.count for o in obs] == [2000, 5000, 10000]
    # held out: 5× the largest backlog, payload 2000 B (unseen), measured on a fresh prefix
    before = _settled(client)
    _schedule(topo, "rcap:check:", 0, 50_000, 2000, factory)
    measured = _settled(client) - before
    model, checks = val.check_memory(obs, [mem.MemoryObservation(50_000, 2000, measured)], layout)
    (check,) = checks
    assert check.within_goal, check.to_dict()
    assert check.within_band, check.to_dict()
    for key in client.scan_iter(match="rcap:*work:*", count=1000):
        client.unlink(key)


def test_kv_key_prediction_with_ttl(server):
    """KV keys (SET/SETEX): fit on 2k and 5k keys of 100 B, predict 30k keys of 300 B (unseen size)."""
    topo, client = server

    def grow(prefix, n, size, ttl):
        before = _settled(client)
        c = topo.client()
        pipe = c.pipeline(transaction=False)
        for i in range(n):
            pipe.set(f"{prefix}{i:012d}", b"v" * size, ex=3600 if ttl else None)
        pipe.execute()
        c.close()
        c.connection_pool.disconnect()
        return _settled(client) - before

    grow("rcap:kvwarm:", 100, 100, True)
    layout = val.layout_of({"server": {"redis_version": client.info("server")["redis_version"],
                                       "mem_allocator": client.info("memory")["mem_allocator"]}})
    keys_before = client.dbsize()
    fit = [mem.MemoryObservation(n, 100, grow(f"rcap:kvfit{n}:", n, 100, True), ttl=True) for n in (2000, 5000)]
    held = [mem.MemoryObservation(30_000, 300, grow("rcap:kvchk:", 30_000, 300, True), ttl=True)]
    model, (check,) = val.check_memory(fit, held, layout, kind="kv", key_bytes=len("rcap:kvchk:") + 12)
    assert keys_before < 1000  # the model's keyspace term assumes a nearly empty database
    assert check.within_goal, check.to_dict()
    for key in client.scan_iter(match="rcap:kv*", count=1000):
        client.unlink(key)


def test_steady_queue_runs_never_calibrate_the_memory_model(tmp_path):
    """A WorkManager run keeps a steady backlog of a few hundred works while connection buffers and KV keys
    move used_memory: calibrating on it inflated the model ×2.6 once. Only growing-backlog runs count."""
    import shutil  # noqa: PLC0415

    src = Path(__file__).resolve().parent.parent / "data/reference/20261125T180202Z-mass-operation-bdf7"
    grown, _ = val.memory_observations([load_run(src)])
    assert grown, "the reference mass operation should give memory observations"
    copy = tmp_path / src.name
    shutil.copytree(src, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["scenario"]["workload"] = "workmanager"
    (copy / "manifest.json").write_text(json.dumps(manifest))
    steady, _ = val.memory_observations([load_run(copy)])
    assert steady == []
    both, _ = val.memory_observations([load_run(src), load_run(copy)])
    assert len(both) == len(grown)
