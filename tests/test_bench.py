"""rcap bench end to end on real redis-server topologies: run directory, loader, secrets, SIGINT, bad input.

The Locust side is a tiny stand-in (written to a temporary file) that speaks only the contracts of
docs/architecture.md: it reads RCAP_SCENARIO/RCAP_TARGET/RCAP_RUN_DIR and appends µs HDR records to
latency.jsonl. So these tests exercise the orchestration and the recorder, not the Nuxeo workloads.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

from analysis.runs import load_run
from rcap.bench import parse_duration, run_bench
from rcapcore.errors import BadInput, TargetError

REPO = Path(__file__).resolve().parent.parent

STANDIN_LOCUSTFILE = textwrap.dedent('''
    import json, os, time
    from collections import defaultdict
    import gevent, redis
    from hdrh.histogram import HdrHistogram
    from locust import User, task, constant, events
    from loadgen.topology.targets import Target, connect

    SCEN = json.loads(os.environ["RCAP_SCENARIO"])
    TARGET = Target.from_dict(json.loads(os.environ["RCAP_TARGET"]))
    RUN_DIR = os.environ["RCAP_RUN_DIR"]
    SECS = defaultdict(dict)  # second -> op -> [histogram, errors]
    DONE = {"ops": 0}

    def flush(final=False):
        now = int(time.time())
        with open(os.path.join(RUN_DIR, "latency.jsonl"), "a") as fh:
            for t in sorted(SECS):
                if t < now or final:
                    for op, (h, err) in sorted(SECS.pop(t).items()):
                        fh.write(json.dumps({"t": t, "op": op, "kind": "measured", "count": h.get_total_count(),
                                             "errors": err, "hdr": h.encode().decode()}) + "\\n")

    def flusher():
        while True:
            gevent.sleep(0.5)
            flush()

    @events.init.add_listener
    def _init(environment, **kw):
        gevent.spawn(flusher)

    @events.quitting.add_listener
    def _quit(environment, **kw):
        flush(final=True)
        with open(os.path.join(RUN_DIR, "counters.json"), "w") as fh:
            json.dump({"standin_ops": DONE["ops"]}, fh)

    class SetGet(User):
        wait_time = constant(SCEN["params"]["think_s"])

        def on_start(self):
            from redis.backoff import NoBackoff
            from redis.retry import Retry
            self.r = connect(TARGET, retry=Retry(NoBackoff(), 0))  # a lost connection is an error
            self.n = 0

        def call(self, name, fn):
            t0 = time.perf_counter_ns()
            exc = None
            try:
                fn()
            except (redis.RedisError, OSError) as e:
                exc = e
            us = max(1, (time.perf_counter_ns() - t0) // 1000)
            slot = SECS[int(time.time())].setdefault(name, [HdrHistogram(1, 60_000_000, 3), 0])
            if exc is None:
                slot[0].record_value(us)
                DONE["ops"] += 1
            else:
                slot[1] += 1
            self.environment.events.request.fire(request_type="redis", name=name, response_time=us / 1000,
                                                 response_length=0, exception=exc, context={})

        @task
        def set_get(self):
            key = SCEN["prefix"] + "k{%d}" % (self.n % 50)
            self.n += 1
            self.call("SET", lambda: self.r.set(key, b"x" * SCEN["params"]["value_bytes"]))
            self.call("GET", lambda: self.r.get(key))
''')


@dataclass
class StandinParams:
    think_s: float = 0.002
    value_bytes: int = 256


@dataclass
class StandinScenario:
    """Shape of ``loadgen.scenarios.Scenario`` (name, workload, params, users, rate, prefix)."""

    name: str = "standin"
    workload: str = "standin"
    params: StandinParams = field(default_factory=StandinParams)
    users: int = 2
    rate: float | None = None
    prefix: str = "rcaptest:"


@pytest.fixture
def locustfile(tmp_path: Path) -> Path:
    path = tmp_path / "standin_locustfile.py"
    path.write_text(STANDIN_LOCUSTFILE)
    return path


RCAP = str(Path(sys.executable).parent / "rcap")


def _redis_servers_of(topology: dict) -> list[int]:
    return [n for n in (node.get("pid") for node in topology.get("nodes", [])) if n]


def _assert_complete_run(run_dir: Path, expected_roles: set[str], nodes: int):
    """What every complete run directory holds, read back through analysis.runs."""
    run = load_run(run_dir)
    m = run.manifest
    assert m["status"] == "complete", m.get("error")
    assert m["end_t"] > m["start_t"]
    assert m["server"]["redis_version"] and m["server"]["mem_allocator"]
    assert m["software"]["locust"] and m["host"]["cpu_logical_cores"] >= 1 and m["host"]["ram_bytes"] > 0
    assert isinstance(m["loadgen_bound"], bool)
    # the summary agrees with the per-second records it was built from
    lat = run.latency
    assert len(run.ops) > 0
    for op, s in run.summary["ops"].items():
        assert s["count"] == int(lat[(lat.op == op) & (lat.kind == "measured")]["count"].sum())
        if s["count"]:
            assert 0 < s["p50_us"] <= s["p90_us"] <= s["p99_us"] <= s["p999_us"] <= s["max_us"]
    assert run.summary["total"]["count"] > 0 and run.summary["total"]["ops_per_s"] > 0
    # one server series per data node, about one sample per second, with the telemetry asked for
    srv = run.server
    assert set(srv["role"].unique()) >= expected_roles
    assert srv["node"].nunique() == nodes
    assert srv.groupby("node").size().min() >= 3
    for col in ("used_memory", "instantaneous_ops_per_sec", "used_cpu_sys", "connected_clients",
                "latest_fork_usec", "evicted_keys", "rejected_connections", "memory_stats.peak.allocated",
                "commands_per_s"):
        assert col in srv.columns, col
    master = srv[srv.role == "master"]
    calls = [c for c in master.columns if c.startswith("cmd.") and c.endswith(".calls")]
    assert calls and master[calls].sum().sum() > 0
    per_call = master[[c.replace(".calls", ".usec_per_call") for c in calls]].stack().dropna()
    assert len(per_call) and (per_call >= 0).all()
    assert "repl_lag_bytes_max" in master.columns
    assert (run.path / "locust_stats.csv").exists() and not run.locust_stats.empty
    assert {"run_start", "cleanup"} <= set(run.events["kind"])
    # sealed: read-only
    for p in [run_dir, *run_dir.rglob("*")]:
        assert p.stat().st_mode & 0o222 == 0, p
    if m["topology"]:
        assert all(not psutil.pid_exists(pid) for pid in _redis_servers_of(m["topology"]))
    return run


def test_parse_duration() -> None:
    assert parse_duration("60s") == 60
    assert parse_duration("1h30m") == 5400
    assert parse_duration("2m") == 120
    assert parse_duration("500ms") == 0.5
    assert parse_duration("45") == 45
    for bad in ("", "abc", "10x", "-5s", "0", "s10", "1e9", "10 minutes"):
        with pytest.raises(BadInput):
            parse_duration(bad)


def test_standin_run_counts_exactly(tmp_path: Path, locustfile: Path) -> None:
    """With a contract-only Locust side, every operation it made is in the summary, once."""
    run_dir = run_bench(StandinScenario(), duration_s=4, out=tmp_path / "runs", locustfile=locustfile,
                        progress=False)
    assert run_dir.parent == tmp_path / "runs"
    run = _assert_complete_run(run_dir, {"master"}, nodes=1)
    assert set(run.ops.index) == {"GET", "SET"}
    assert run.counters["standin_ops"] == run.summary["total"]["count"]
    assert run.manifest["topology"]["kind"] == "standalone" and run.manifest["target"]["topology"] == "standalone"
    removed = [e for e in run.events.to_dict("records") if e["kind"] == "cleanup"]
    assert removed and removed[0]["keys_removed"] == 50


def test_workmanager_on_standalone_records_the_backlog(tmp_path: Path) -> None:
    run_dir = run_bench("workmanager", duration_s=6, out=tmp_path / "runs", progress=False)
    run = _assert_complete_run(run_dir, {"master"}, nodes=1)
    assert run.manifest["scenario"]["workload"] == "workmanager"
    assert len(run.workload) >= 3 and run.workload["work_backlog"].max() > 0
    assert any(op.startswith("EVALSHA") for op in run.ops.index)
    assert run.counters  # the Locust side's workload counters reached the summary
    assert run.summary["counters"] == run.counters


def test_kv_on_enterprise_keeps_the_password_out_of_the_run_dir(tmp_path: Path) -> None:
    password = "s3cret-Pa55word-that-must-not-leak"
    run_dir = run_bench("kv", topology="enterprise", users=4, password=password, duration_s=4,
                        out=tmp_path / "runs", progress=False)
    run = _assert_complete_run(run_dir, {"master"}, nodes=1)
    assert run.manifest["target"]["tls"] is True and run.manifest["target"]["password_set"] is True
    hits = subprocess.run(["grep", "-rlF", password, str(run_dir)], capture_output=True, text=True)
    assert hits.returncode == 1, f"password found in {hits.stdout}"


def test_workmanager_on_cluster_samples_every_node(tmp_path: Path) -> None:
    run_dir = run_bench("workmanager", topology="cluster", duration_s=4, out=tmp_path / "runs", progress=False)
    run = _assert_complete_run(run_dir, {"master", "replica"}, nodes=6)
    assert run.manifest["target"]["kind"] == "cluster"


def _wait_for_load(out: Path, proc: subprocess.Popen, timeout_s: float = 60) -> Path:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = [p for p in out.glob("*/latency.jsonl") if p.stat().st_size > 0]
        if found:
            return found[0]
        if proc.poll() is not None:
            raise AssertionError(f"rcap exited early: {proc.stderr.read()}")
        time.sleep(0.2)
    raise AssertionError("no load recorded")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_marks_interrupted_and_leaves_no_redis(tmp_path: Path, sig: signal.Signals) -> None:
    out = tmp_path / "runs"
    proc = subprocess.Popen([RCAP, "bench", "kv", "--users", "2", "--duration", "60s", "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        _wait_for_load(out, proc)
        time.sleep(1.0)
        tree = psutil.Process(proc.pid).children(recursive=True)
        servers = [p for p in tree if p.name() == "redis-server"]
        locusts = [p for p in tree if "locust" in " ".join(p.cmdline())]
        assert servers and locusts
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=40)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1].startswith("rcap: error: interrupted by " + sig.name)
    assert "Traceback" not in stderr
    run = load_run(Path(stdout.strip().splitlines()[-1]))
    assert run.status == "interrupted"
    assert "interrupted" in set(run.events["kind"])
    assert run.summary["total"]["count"] > 0  # what was measured before the signal is kept
    assert run.summary["counters"]  # the Locust side flushed its counters on the way out
    gone, alive = psutil.wait_procs(servers + locusts, timeout=5)
    assert not alive


# --- bad input: one line, no run directory --------------------------------------------------------

def test_prefix_in_use_is_refused_without_a_run_dir(tmp_path: Path, locustfile: Path) -> None:
    from loadgen import topology

    with topology.running("standalone", base_dir=tmp_path / "rcap") as topo:
        client = topo.client()
        client.set("rcaptest:already-there", b"1")
        with pytest.raises(TargetError, match="already exist under the prefix"):
            run_bench(StandinScenario(), target=topo.target.url, duration_s=2, out=tmp_path / "runs",
                      locustfile=locustfile, progress=False)
        assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
        # reuse: runs, then deletes only what it created (the key present at start survives, and so
        # does the foreign key outside the prefix)
        client.set("other:key", b"1")
        run_dir = run_bench(StandinScenario(), target=topo.target.url, duration_s=2, out=tmp_path / "runs",
                            locustfile=locustfile, progress=False, reuse_prefix=True)
        assert load_run(run_dir).manifest["parameters"]["keys_found_under_prefix"] == 1
        assert client.exists("other:key") == 1
        assert list(client.scan_iter(match="rcaptest:*")) == [b"rcaptest:already-there"]
        client.close()


def test_bad_spec_values() -> None:
    for kwargs, pattern in (({"duration": "soon"}, "nonsense duration"), ({"users": 0}, "--users"),
                            ({"rate": -1.0}, "--rate"), ({"topology": "galaxy"}, "unknown topology"),
                            ({"processes": 0}, "--processes"), ({"bogus": 1}, "run_bench")):
        with pytest.raises(BadInput, match=pattern):
            run_bench(StandinScenario(), **kwargs)


def test_connection_lost_mid_run_is_recorded_and_the_run_goes_on(tmp_path: Path, locustfile: Path) -> None:
    import threading

    from loadgen import topology

    with topology.running("standalone", base_dir=tmp_path / "rcap") as topo:
        result: dict = {}

        def bench() -> None:  # outside the main thread: no signal handlers, same recording
            try:
                # the outage fails a large share of requests: accept them here (the verdict is tested below)
                result["dir"] = run_bench(StandinScenario(), target=topo.target.url, duration_s=6,
                                          out=tmp_path / "runs", locustfile=locustfile, progress=False,
                                          max_error_ratio=1.0)
            except Exception as exc:  # noqa: BLE001
                result["error"] = exc

        worker = threading.Thread(target=bench)
        worker.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not list((tmp_path / "runs").glob("*/latency.jsonl")):
            time.sleep(0.1)
        time.sleep(1.0)
        node = topo.nodes_with_role("master")[0]
        topo.kill_node(node)
        time.sleep(1.5)
        topo.start_node(node)
        worker.join(timeout=60)
    assert "error" not in result, result.get("error")
    run = load_run(result["dir"])
    assert run.status == "complete"
    assert run.manifest["quality"]["errors"] > 0
    assert {c["cause"] for c in run.manifest["quality"]["causes"]} == {"connection"}
    kinds = set(run.events["kind"])
    assert {"errors", "node_unreachable", "node_reachable"} <= kinds
    assert run.summary["total"]["errors"] > 0
    lat = run.latency
    killed_at = run.events[run.events.kind == "node_unreachable"]["t"].iloc[0]
    assert lat[(lat.t > killed_at + 1) & (lat["count"] > 0)].shape[0] > 0  # the load resumed


def test_sweep_records_one_run_per_value_on_one_topology(tmp_path: Path, locustfile: Path) -> None:
    from analysis.runs import load_sweep
    from rcap.bench import run_sweep

    sweep_dir = run_sweep(StandinScenario(), users=[1, 3], duration_s=3, out=tmp_path / "runs",
                          locustfile=locustfile, progress=False)
    sweep = load_sweep(sweep_dir)
    assert sweep.manifest["status"] == "complete" and sweep.param == "users"
    assert [r.manifest["parameters"]["users"] for r in sweep.runs] == [1, 3]
    assert all(r.status == "complete" for r in sweep.runs)
    # one embedded topology for the whole sweep: both runs hit the same server
    assert len({r.manifest["target"]["url"] for r in sweep.runs}) == 1
    df = sweep.frame()
    assert list(df["value"]) == [1, 3] and (df["ops_per_s"] > 0).all()
    with pytest.raises(BadInput, match="either --users or --rates"):
        run_sweep(StandinScenario(), out=tmp_path / "runs")


def test_kv_on_sentinel_with_a_failover_mid_run(tmp_path: Path) -> None:
    """A sentinel target by URL: every data node sampled, and the failover shows in the events."""
    import threading

    import redis

    from loadgen import topology

    with topology.running("sentinel", base_dir=tmp_path / "rcap", down_after_ms=1000,
                          failover_timeout_ms=3000) as topo:
        result: dict = {}

        def bench() -> None:
            try:
                result["dir"] = run_bench("kv", target=topo.target.url, users=2, duration_s=6,
                                          out=tmp_path / "runs", progress=False)
            except Exception as exc:  # noqa: BLE001
                result["error"] = exc

        worker = threading.Thread(target=bench)
        worker.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not list((tmp_path / "runs").glob("*/latency.jsonl")):
            time.sleep(0.1)
        time.sleep(1.0)
        host, port = topo.target.hosts[0]
        sentinel = redis.Redis(host=host, port=port)
        assert sentinel.sentinel_failover("mymaster")
        sentinel.close()
        worker.join(timeout=90)
    assert "error" not in result, result.get("error")
    run = _assert_complete_run(result["dir"], {"master", "replica"}, nodes=3)  # kv on sentinel
    assert run.manifest["target"]["kind"] == "sentinel" and run.manifest["topology"] is None
    changes = run.events[run.events.kind == "role_change"]
    promoted = changes[(changes.before == "replica") & (changes.after == "master")]
    assert len(promoted) == 1
    # (the old master is demoted only when the sentinels next reach it: not always within the run)
    srv = run.server.sort_values("t")
    first_master = srv[srv.role == "master"]["node"].iloc[0]
    node = promoted["node"].iloc[0]
    assert node != first_master
    assert srv[srv.node == node]["role"].iloc[-1] == "master"


def test_killed_rcap_leaves_neither_locust_nor_redis(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    proc = subprocess.Popen([RCAP, "bench", "kv", "--users", "2", "--duration", "60s", "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        _wait_for_load(out, proc)
        tree = psutil.Process(proc.pid).children(recursive=True)
        assert any(p.name() == "redis-server" for p in tree) and any("locust" in " ".join(p.cmdline()) for p in tree)
        proc.kill()  # SIGKILL: no handler runs, the children must still go
        proc.wait()
        gone, alive = psutil.wait_procs(tree, timeout=10)
        assert not alive, alive
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


FAILING_LOCUSTFILE = "raise RuntimeError('the Locust side cannot start')\n"


def test_locust_failure_marks_the_run_failed(tmp_path: Path) -> None:
    from rcap.bench import RunFailed

    lf = tmp_path / "failing_locustfile.py"
    lf.write_text(FAILING_LOCUSTFILE)
    with pytest.raises(RunFailed, match="Locust exited with status") as exc:
        run_bench(StandinScenario(), duration_s=3, out=tmp_path / "runs", locustfile=lf, progress=False)
    run = load_run(exc.value.run_dir)
    assert run.status == "failed" and "locust.log" in run.manifest["error"]
    assert "cannot start" in (run.path / "locust.log").read_text()
    assert (run.path / "manifest.json").stat().st_mode & 0o222 == 0
