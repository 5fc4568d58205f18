"""`rcap up/down/status/check` through the real console command: ready URL last, nothing left behind,
and every bad input as one stderr line with exit status 2."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from loadgen import topology

RCAP = str(Path(sys.executable).with_name("rcap"))


def rcap(*args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in ("RCAP_PASSWORD", "REDIS_SERVER")}
    return subprocess.run([RCAP, *args], capture_output=True, text=True, timeout=timeout,
                          env={**environment, **(env or {})})


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rcap: error: "), result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_up_status_down_from_the_command_line(tmp_path):
    base = str(tmp_path / "rcap")
    password_file = tmp_path / "pw"
    password_file.write_text("cli-secret\n")
    up = rcap("up", "standalone", "--name", "cli", "--password-file", str(password_file), "--base-dir", base)
    try:
        _check_up_status_down(up, base, tmp_path)
    finally:  # the topology is detached: never leave it running when an assertion fails
        topology.down_all(base)


def _check_up_status_down(up, base, tmp_path):
    assert up.returncode == 0, up.stderr
    url = up.stdout.strip().splitlines()[-1]
    assert url.startswith("redis://127.0.0.1:") and "cli-secret" not in up.stdout + up.stderr
    nodes = topology.get("cli", base).nodes
    pids = [n.pid for n in nodes]
    assert len(pids) == 1 and psutil.Process(pids[0]).ppid() != os.getpid()  # detached from this process

    status = rcap("status", "--base-dir", base)
    assert "cli" in status.stdout and url in status.stdout and "1/1 processes up" in status.stdout
    assert rcap("check", url, env={"RCAP_PASSWORD": "cli-secret"}).returncode == 0
    assert_one_line_error(rcap("check", url, env={"RCAP_PASSWORD": "wrong"}), "authentication failed")
    assert_one_line_error(rcap("up", "standalone", "--name", "cli", "--base-dir", base), "already runs")

    down = rcap("down", "cli", "--base-dir", base)
    assert down.returncode == 0 and "stopped cli" in down.stdout
    assert not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in pids)
    assert not (tmp_path / "rcap" / "cli").exists()
    assert "no topology runs" in rcap("status", "--base-dir", base).stdout


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    with topology.running("standalone", tls=True, password="right",
                          base_dir=tmp_path_factory.mktemp("rcap-cli")) as topo:
        yield topo


@pytest.mark.parametrize("case", ["unknown topology", "port in use", "missing redis-server", "unreachable",
                                  "wrong password", "plain to TLS", "wrong CA", "malformed URL",
                                  "enterprise without password", "down unknown"])
def test_bad_input_is_one_clear_line(case, tls_server, tmp_path):
    base = str(tmp_path)
    url = tls_server.target.url
    ca = tls_server.target.tls_ca
    right = {"RCAP_PASSWORD": "right"}
    calls = {
        "unknown topology": (("up", "galaxy", "--base-dir", base), None, "unknown topology 'galaxy'"),
        "port in use": (("up", "standalone", "--port-base", str(tls_server.nodes[0].port), "--base-dir", base),
                        None, "is in use"),
        "missing redis-server": (("up", "standalone", "--redis-server", "/nonexistent/redis-server",
                                  "--base-dir", base), None, "redis-server not found"),
        "unreachable": (("check", "redis://127.0.0.1:1"), None, "connection refused"),
        "wrong password": (("check", url, "--tls-ca", ca), {"RCAP_PASSWORD": "nope"}, "authentication failed"),
        "plain to TLS": (("check", url.replace("rediss://", "redis://")), right, "use rediss://"),
        "wrong CA": (("check", url, "--tls-ca", __file__), right, "TLS"),
        "malformed URL": (("check", "redis//127.0.0.1"), None, "malformed target URL"),
        "enterprise without password": (("up", "enterprise", "--base-dir", base), None, "needs a password"),
        "down unknown": (("down", "nothing-here", "--base-dir", base), None, "no topology named"),
    }
    args, env, message = calls[case]
    assert_one_line_error(rcap(*args, env=env), message)
    assert not any(Path(base).iterdir())  # nothing half-started is left behind


def _processes_under(folder: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cwd"]):
        cwd = proc.info["cwd"] or ""
        if cwd.startswith(str(folder)) and proc.status() != psutil.STATUS_ZOMBIE:
            found.append(proc)
    return found


@pytest.mark.parametrize("nodes_before_sigint", [1, 4, 6])
def test_ctrl_c_during_up_leaves_nothing(tmp_path, nodes_before_sigint):
    """SIGINT while `rcap up cluster` is still starting: exit 130, and no process is left whose working
    directory is in the topology folder (also those started after the last state write)."""
    base = tmp_path / "rcap"
    proc = subprocess.Popen([RCAP, "up", "cluster", "--base-dir", str(base)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        state = base / "cluster" / "topology.json"
        nodes = 0
        deadline = time.monotonic() + 20
        while nodes < nodes_before_sigint and time.monotonic() < deadline:
            try:
                nodes = len(json.loads(state.read_text())["nodes"])
            except (OSError, ValueError):
                pass
            time.sleep(0.01)
        assert nodes, "rcap up never started a node"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 130 and "Traceback" not in err, err
        time.sleep(0.2)  # killed children are reaped by init
        assert _processes_under(base) == []
        assert not (base / "cluster").exists()
    finally:  # only matters when an assertion above failed
        proc.kill()
        proc.wait()
        topology.down_all(base)
        for leftover in _processes_under(base):
            leftover.kill()
