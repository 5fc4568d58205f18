"""Server-side diagnostics of a run (diagnostics.json) and the HdrHistogram log export, on real Redis."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import redis
from hdrh.histogram import HdrHistogram
from hdrh.log import HistogramLogReader

from analysis.compare import op_table, server_vs_client
from analysis.hdrlog import write_hlogs
from analysis.runs import load_run
from rcap.bench import run_bench
from rcapcore.latency import HIGHEST_US, LOWEST_US, SIGNIFICANT_DIGITS
from loadgen.recorder.diagnostics import ServerDiagnostics


@pytest.fixture(scope="module")
def run_with_a_stall(standalone, tmp_path_factory):
    """A kv-set-1k run against a target rcap did not start, with a 30 ms DEBUG SLEEP during the load and
    one slow command before it (which must not be reported, nor removed from the target's slow log)."""
    client = standalone.client()
    client.execute_command("DEBUG", "SLEEP", "0.02")  # before the run
    before_ids = {e["id"] for e in client.slowlog_get(128)}

    def stall() -> None:
        time.sleep(2.0)
        client.execute_command("DEBUG", "SLEEP", "0.03")
        try:
            client.execute_command("NOSUCHCOMMAND")
        except redis.ResponseError:  # the error reply is what errorstats must count
            pass

    thread = threading.Thread(target=stall)
    thread.start()
    run_dir = run_bench("kv-set-1k", target=standalone.target.url, users=2, duration_s=4,
                        out=tmp_path_factory.mktemp("runs"), progress=False, prefix="rcap-diag:")
    thread.join()
    yield load_run(run_dir), before_ids, client
    client.close()


def test_slowlog_and_latency_events_cover_the_run_only(run_with_a_stall) -> None:
    run, before_ids, client = run_with_a_stall
    node = next(iter(run.diagnostics["nodes"].values()))
    commands = [e["command"] for e in node["slowlog"]]
    assert any(c.startswith("DEBUG SLEEP") for c in commands)
    assert not any(e["id"] in before_ids for e in node["slowlog"])  # the pre-run entry is not the run's
    assert before_ids <= {e["id"] for e in client.slowlog_get(1024)}  # and the target's log is untouched
    points = [p for pts in node["latency_events"].values() for p in pts]
    assert points and max(p["latency_ms"] for p in points) >= 25
    assert all(run.manifest["start_t"] - 1 <= p["t"] <= run.manifest["end_t"] + 1 for p in points)


def test_errorstats_and_server_side_percentiles(run_with_a_stall) -> None:
    run, _, _ = run_with_a_stall
    diag = run.diagnostics
    assert diag["latencystats_scope"] == "since the server's last reset"  # not started by rcap: no reset
    node = next(iter(diag["nodes"].values()))
    assert node["errorstats"].get("ERR", 0) >= 1
    rows = {r["command"]: r for r in server_vs_client(run)}
    if isinstance(node["latencystats"], dict) and "set" in node["latencystats"]:  # Redis >= 7
        assert 0 < rows["set"]["server_p99_us"] <= rows["set"]["client_p99_us"]
        assert "server-side" in op_table(run)


def test_embedded_topology_resets_the_stats_so_they_cover_the_run(tmp_path: Path) -> None:
    run = load_run(run_bench("kv-set-1k", users=2, duration_s=3, out=tmp_path, progress=False))
    assert run.diagnostics["latencystats_scope"] == "this run"


def test_reset_and_error_deltas_on_a_server_rcap_started(topology_factory) -> None:
    topo = topology_factory("standalone")
    client = topo.client()
    client.ping()
    for _ in range(2):
        with pytest.raises(redis.ResponseError):
            client.execute_command("NOSUCHCOMMAND")
    diag = ServerDiagnostics([("n", topo.client)], reset_stats=True)
    diag.start()
    client.set("rcap-diag:k", b"v")
    with pytest.raises(redis.ResponseError):
        client.execute_command("NOSUCHCOMMAND")
    node = diag.finish()["nodes"]["n"]
    if "set" in node["latencystats"]:  # Redis >= 7 has latencystats
        assert "ping" not in node["latencystats"]  # the reset dropped what came before
    assert node["errorstats"] == {"ERR": 1}  # only the error made after start


def test_hlog_export_is_exact(run_with_a_stall, tmp_path: Path) -> None:
    run, _, _ = run_with_a_stall
    files = write_hlogs(run, tmp_path / "hlog")
    assert (tmp_path / "hlog" / "SET.measured.hlog") in files
    hist = HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)
    reader = HistogramLogReader(str(tmp_path / "hlog" / "SET.measured.hlog"), hist)
    while reader.add_next_interval_histogram():
        pass
    assert hist.get_total_count() == run.summary["ops"]["SET"]["count"]
    assert hist.get_value_at_percentile(99) == run.summary["ops"]["SET"]["p99_us"]


def test_report_section_puts_server_next_to_client_p99(run_with_a_stall) -> None:
    from analysis.report import runset, throughput

    run, _, _ = run_with_a_stall
    node = next(iter(run.diagnostics["nodes"].values()))
    ctx = runset.context("example", [str(run.path)])
    sec = throughput.server_latency_section(ctx)
    if "set" not in node.get("latencystats", {}):  # Redis < 7 has no latencystats: the section says so
        assert "No run in the set" in sec.items[0]
        return
    row = next(r for r in sec.values["server_vs_client"] if r["command"] == "set")
    assert row["workload"] == "kv-set" and row["p99 outside Redis"].endswith("%")
    assert float(row["server p99 (µs)"].replace(",", "")) <= float(row["client p99 (µs)"].replace(",", ""))
