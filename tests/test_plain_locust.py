"""rcap's locustfile run the way Locust users run any locustfile: options on the command line, the web
UI with a µs latency tab (checked in a real headless Chromium), and a clear refusal of too few users."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import loadgen

LOCUSTFILE = Path(loadgen.__file__).resolve().parent / "locustfile.py"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RCAP_")}
    env.update(extra)
    return env


def _locust(*args: str, timeout: float = 90, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--loglevel", "WARNING", *args],
                          capture_output=True, text=True, timeout=timeout, env=_env(**env))


def test_headless_with_host_scenario_and_set(standalone_target, standalone_client, tmp_path: Path) -> None:
    standalone_client.config_resetstat()
    proc = _locust("--headless", "--host", standalone_target.url, "--scenario", "kv-set-1k", "--set", "users=3",
                   "--set", "prefix='rcap-plain:'", "-t", "3s", "--only-summary", "--run-dir", str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [json.loads(line) for line in (tmp_path / "latency.jsonl").read_text().splitlines()]
    counted = sum(r["count"] for r in lines if r["op"] == "SET" and r["kind"] == "measured")
    assert counted == standalone_client.info("commandstats")["cmdstat_set"]["calls"] > 100
    assert standalone_client.scan(match="rcap-plain:*", count=1000)[1]  # the --set prefix was used


def test_password_comes_from_a_file_or_the_environment_never_the_url(topology_factory, tmp_path: Path) -> None:
    topo = topology_factory("standalone", password="s3cret-pass-word")
    url = topo.target.url  # redacted: no password in it
    in_url = url.replace("redis://", "redis://:s3cret-pass-word@")
    bad = _locust("--headless", "--host", in_url, "--scenario", "kv-set-1k", "-t", "1s")
    assert bad.returncode == 2 and "--password-file" in bad.stderr and "s3cret-pass-word" not in bad.stderr
    pw = tmp_path / "pw"
    pw.write_text("s3cret-pass-word\n")
    def sets_done(*extra: str, **env: str) -> int:
        out = tmp_path / f"run{len(list(tmp_path.iterdir()))}"
        proc = _locust("--headless", "--host", url, "--scenario", "kv-set-1k", "--set", "users=1", "-t", "2s",
                       "--only-summary", "--run-dir", str(out), *extra, **env)
        assert proc.returncode in (0, 1) and "s3cret-pass-word" not in proc.stderr + proc.stdout
        lines = (out / "latency.jsonl").read_text().splitlines() if (out / "latency.jsonl").exists() else []
        return sum(json.loads(line)["count"] for line in lines)

    assert sets_done("--password-file", str(pw)) > 0
    assert sets_done(RCAP_PASSWORD="s3cret-pass-word") > 0
    assert sets_done() == 0  # no password: nothing succeeds


def test_too_few_users_for_the_mix_is_refused(standalone_target) -> None:
    proc = _locust("--headless", "--host", standalone_target.url, "--scenario", "workmanager", "-u", "1",
                   "-t", "3s", "--only-summary")
    assert proc.returncode == 2
    assert "needs" in proc.stderr and "users for its fixed mix" in proc.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (scripts/install-system.sh)")
def test_web_ui_shows_microsecond_latencies(standalone_target) -> None:
    pytest.importorskip("playwright")
    from playwright.sync_api import sync_playwright

    port = _free_port()
    web = subprocess.Popen([sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--host", standalone_target.url,
                            "--scenario", "kv-set-1k", "--set", "users=2", "--set", "prefix='rcap-webui:'",
                            "--web-host", "127.0.0.1", "--web-port", str(port), "--loglevel", "WARNING"],
                           env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except OSError:
                time.sleep(0.3)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
                "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync"])
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/")
            users = page.locator("input[name='userCount']")
            assert users.input_value() == "2"  # the scenario's own user count is the form's default
            page.get_by_role("button", name="Start").click()
            page.get_by_role("tab", name="Latency, microseconds").click()
            row = page.locator("tr", has_text="SET").first
            row.wait_for(timeout=20_000)
            deadline = time.time() + 20
            cells: list[str] = []
            while time.time() < deadline:
                cells = [c.strip().replace(",", "") for c in row.locator("td").all_inner_texts()]
                if len(cells) >= 7 and cells[3].isdigit() and int(cells[3]) > 0:
                    break
                time.sleep(0.5)
            page.screenshot(path=str(Path(os.environ.get("RCAP_SCREENSHOT_DIR", "/tmp")) / "rcap-webui-us.png"))
            browser.close()
        assert cells[0] == "SET" and int(cells[1]) > 0  # requests
        p50, p99 = int(cells[3]), int(cells[5])  # µs: at Redis speeds they are not 0 like Locust's ms
        assert 0 < p50 <= p99
    finally:
        web.terminate()
        web.wait(timeout=30)
