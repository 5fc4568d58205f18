"""The recorder's parts: server sampler (on a real redis-server), summary, run directory, progress, loadgen CPU."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rcapcore.latency import encode, new_histogram
from loadgen.recorder import manifest as facts
from loadgen.recorder.loadgen_cpu import LoadgenCpu
from loadgen.recorder.progress import LatencyFollower, format_line, per_second
from loadgen.recorder.rundir import RunDir
from loadgen.recorder.sampler import NodeProbe, ServerSampler, _cmd_deltas
from loadgen.recorder.summary import build_summary


@pytest.fixture
def standalone(tmp_path: Path):
    from loadgen import topology

    with topology.running("standalone", base_dir=tmp_path / "rcap", maxmemory="64mb", persistence="aof") as topo:
        yield topo


def _probe(topo) -> NodeProbe:
    from rcap.bench import SAMPLER_CLIENT_OPTIONS
    from loadgen.topology.targets import connect

    node = topo.nodes_with_role("master")[0]
    return NodeProbe(host=node.host, port=node.port, role="master",
                     connect=lambda: connect(topo.target, **SAMPLER_CLIENT_OPTIONS))


def test_sampler_records_commandstats_deltas_and_unreachable_node(tmp_path: Path, standalone) -> None:
    run = RunDir.create(tmp_path / "runs", "sampler")
    probe = _probe(standalone)
    sampler = ServerSampler(run, [probe])
    first = sampler.sample(probe)
    assert first["cmd"] == {}  # no previous sample: no delta yet
    client = standalone.client()
    n = random.randint(20, 60)
    for i in range(n):
        client.set(f"rcaptest:{i}", b"x" * 100)
    client.get("rcaptest:0")
    second = sampler.sample(probe)
    assert second["cmd"]["set"]["calls"] == n
    assert second["cmd"]["get"]["calls"] == 1
    set_stats = second["cmd"]["set"]
    assert set_stats["usec_per_call"] == pytest.approx(set_stats["usec"] / n, abs=0.001)
    assert second["info"]["used_memory"] > first["info"]["used_memory"]
    assert second["keyspace"]["db0"]["keys"] == n
    assert second["memory_stats"]["keys.count"] == n
    assert "latest_fork_usec" in second["info"] and "evicted_keys" in second["info"]
    assert second["derived"]["repl_lag_bytes_max"] == 0 and second["derived"]["commands_per_s"] > 0

    node = standalone.nodes_with_role("master")[0]
    standalone.kill_node(node)
    assert sampler.sample(probe) is None
    assert sampler.sample(probe) is None  # one event per transition, not per failed sample
    standalone.start_node(node)
    assert sampler.sample(probe) is not None
    client.close()
    sampler.stop()
    events = [json.loads(line) for line in (run.path / "events.jsonl").read_text().splitlines()]
    assert [e["kind"] for e in events] == ["node_unreachable", "node_reachable"]
    lines = (run.path / "server" / f"{probe.name}.jsonl").read_text().splitlines()
    assert len(lines) == 3


def test_sampler_thread_samples_about_once_a_second(tmp_path: Path, standalone) -> None:
    run = RunDir.create(tmp_path / "runs", "sampler")
    sampler = ServerSampler(run, [_probe(standalone)], interval_s=0.5).start()
    time.sleep(2.2)
    sampler.stop()
    assert 3 <= sampler.samples <= 7
    times = [json.loads(x)["t"] for x in next((run.path / "server").glob("*.jsonl")).read_text().splitlines()]
    assert all(b > a for a, b in zip(times, times[1:]))


def test_cmd_deltas_survive_a_counter_reset() -> None:
    prev = {"set": {"calls": 100, "usec": 1000}}
    assert _cmd_deltas(prev, {"set": {"calls": 130, "usec": 1600}})["set"] == \
        {"calls": 30, "usec": 600, "usec_per_call": 20.0}
    # CONFIG RESETSTAT or a restart: counters restart from zero
    assert _cmd_deltas(prev, {"set": {"calls": 5, "usec": 50}})["set"]["calls"] == 5
    assert _cmd_deltas(prev, {"set": {"calls": 100, "usec": 1000}}) == {}  # idle: nothing to record


def test_server_facts_report_settings_that_matter(standalone) -> None:
    client = standalone.client()
    server, warnings = facts.server(client)
    client.close()
    assert server["maxmemory_bytes"] == 64 * 1024 * 1024
    assert server["maxmemory_policy"] == "noeviction"
    assert "aof" in server["persistence"]
    assert server["io_threads"] >= 1
    assert server["redis_version"] == standalone.binary.version
    assert (server["mem_allocator"].startswith("jemalloc")) == (not warnings)


def _write_latency(path: Path, samples: dict[tuple[int, str], list[int]], errors: dict | None = None,
                   corrected: dict | None = None) -> None:
    with open(path, "w") as fh:
        for (t, op), values in sorted(samples.items()):
            hist = new_histogram()
            for v in values:
                hist.record_value(v)
            fh.write(json.dumps({"t": t, "op": op, "kind": "measured", "count": len(values),
                                 "errors": (errors or {}).get((t, op), 0), "hdr": encode(hist)}) + "\n")
            if corrected and (t, op) in corrected:
                hc = new_histogram()
                for v in corrected[(t, op)]:
                    hc.record_value(v)
                fh.write(json.dumps({"t": t, "op": op, "kind": "corrected", "count": len(corrected[(t, op)]),
                                     "errors": 0, "hdr": encode(hc)}) + "\n")


def test_summary_merges_seconds_exactly(tmp_path: Path) -> None:
    rng = random.Random(7)
    samples = {(1000 + s, op): [rng.randint(50, 5000) for _ in range(rng.randint(100, 400))]
               for s in range(5) for op in ("GET", "SET")}
    corrected = {k: [v + 1000 for v in vs] for k, vs in samples.items() if k[1] == "SET"}
    _write_latency(tmp_path / "latency.jsonl", samples, errors={(1002, "GET"): 3}, corrected=corrected)
    with open(tmp_path / "latency.jsonl", "a") as fh:
        fh.write('{"t": 1005, "op": "GET", "kin')  # torn line from a hard stop
    (tmp_path / "counters.json").write_text(json.dumps({"works_scheduled": 10}))
    summary = build_summary(tmp_path)
    for op in ("GET", "SET"):
        all_values = [v for (t, o), vs in samples.items() if o == op for v in vs]
        ref = new_histogram()
        for v in all_values:
            ref.record_value(v)
        s = summary["ops"][op]
        assert s["count"] == len(all_values)
        assert s["p99_us"] == ref.get_value_at_percentile(99.0)
        assert s["p50_us"] == ref.get_value_at_percentile(50.0)
        assert s["max_us"] == ref.get_max_value()
        steady = sum(len(vs) for (t, o), vs in samples.items() if o == op and 1001 <= t <= 1003)
        assert s["ops_per_s"] == pytest.approx(steady / 3, abs=0.1)
    assert summary["ops"]["GET"]["errors"] == 3
    assert "corrected_p99_us" in summary["ops"]["SET"] and "corrected_p99_us" not in summary["ops"]["GET"]
    assert summary["ops"]["SET"]["corrected_p50_us"] > summary["ops"]["SET"]["p50_us"]
    assert summary["open_loop"] is True
    assert summary["total"]["count"] == sum(len(v) for v in samples.values())
    assert summary["counters"] == {"works_scheduled": 10}


def test_run_dir_scrubs_secrets_and_seals(tmp_path: Path) -> None:
    run = RunDir.create(tmp_path, "x", secrets_to_scrub=["hunter2-password"])
    run.write_json("manifest.json", {"status": "complete"})
    (run.path / "locust.log").write_text("AUTH failed for hunter2-password\n")
    run.event("errors", op="GET", errors=1)
    assert run.scrub_secrets() == ["locust.log"]
    run.seal()
    assert "hunter2" not in (run.path / "locust.log").read_text()
    for p in [run.path, *run.path.rglob("*")]:
        assert p.stat().st_mode & 0o222 == 0, p
    other = RunDir.create(tmp_path, "x")
    assert other.path != run.path and sorted([run.path.name, other.path.name])[0] <= other.path.name


def test_latency_follower_reads_only_complete_lines(tmp_path: Path) -> None:
    path = tmp_path / "latency.jsonl"
    follower = LatencyFollower(path)
    assert follower.poll() == []
    hist = new_histogram()
    for v in (100, 200, 300, 4000):
        hist.record_value(v)
    line = json.dumps({"t": 5, "op": "GET", "kind": "measured", "count": 4, "errors": 1, "hdr": encode(hist)})
    path.write_text(line[:20])
    assert follower.poll() == []
    with open(path, "a") as fh:
        fh.write(line[20:] + "\n")
    records = follower.poll()
    assert len(records) == 1 and follower.poll() == []
    (sec,) = per_second(records)
    assert (sec.t, sec.ops, sec.errors, sec.p99_us) == (5, 4, 1, hist.get_value_at_percentile(99))
    text = format_line(label="kv", elapsed_s=65, duration_s=120, ops_per_s=12345.6, p99_us=812,
                       used_memory_bytes=3 * 1024 * 1024, backlog=42, errors=2)
    for part in ("1:05", "-0:55", "12,346 ops/s", "p99 812 µs", "3.0 MiB", "backlog 42", "errors 2"):
        assert part in text


def test_loadgen_cpu_tells_a_busy_process_from_an_idle_one() -> None:
    busy = subprocess.Popen([sys.executable, "-c", "import time\nt=time.time()\nwhile time.time()-t<6: pass"])
    idle = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(6)"])
    try:
        cpus = [LoadgenCpu(busy.pid), LoadgenCpu(idle.pid)]
        for _ in range(6):  # 1 priming + 2 warm-up samples are left out
            for c in cpus:
                c.sample()
            time.sleep(0.4)
        busy_cpu, idle_cpu = cpus
        assert busy_cpu.median_percent > idle_cpu.median_percent + 30
        assert idle_cpu.bound is False and idle_cpu.report()["samples"] == 3
    finally:
        for p in (busy, idle):
            p.kill()
            p.wait()
    forced = LoadgenCpu(os.getpid(), busiest_percent=[95.0, 97.0, 40.0])
    assert forced.bound is True and forced.report()["loadgen_bound"] is True
    assert LoadgenCpu(os.getpid(), busiest_percent=[95.0, 40.0, 40.0]).bound is False


def test_a_hung_node_does_not_slow_the_other_series(tmp_path: Path, standalone) -> None:
    import socket

    import redis

    from rcap.bench import SAMPLER_CLIENT_OPTIONS

    hung = socket.socket()  # accepts connections, never answers: a frozen host
    hung.bind(("127.0.0.1", 0))
    hung.listen(8)
    port = hung.getsockname()[1]
    try:
        run = RunDir.create(tmp_path / "runs", "sampler")
        frozen = NodeProbe(host="127.0.0.1", port=port, role="replica",
                           connect=lambda: redis.Redis(host="127.0.0.1", port=port, **SAMPLER_CLIENT_OPTIONS))
        good = _probe(standalone)
        sampler = ServerSampler(run, [frozen, good], interval_s=0.5).start()
        time.sleep(3.0)
        sampler.stop()
    finally:
        hung.close()
    assert sampler.sample_counts.get(good.name, 0) >= 5
    assert sampler.sample_counts.get(frozen.name, 0) == 0
    events = [json.loads(line) for line in (run.path / "events.jsonl").read_text().splitlines()]
    assert [(e["kind"], e["node"]) for e in events] == [("node_unreachable", frozen.name)]
