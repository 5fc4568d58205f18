"""rcap bench --metrics-port: live OpenMetrics series during a run on a real redis-server."""

from __future__ import annotations

import socket
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from rcap.bench import run_bench
from rcapcore.errors import BadInput


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _scrape(port: int) -> dict[tuple[str, tuple], float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def test_live_series_during_the_run_and_closed_after(tmp_path: Path) -> None:
    port = _free_port()
    result: dict = {}
    thread = threading.Thread(target=lambda: result.setdefault("dir", run_bench(
        "kv-set-1k", users=2, duration_s=6, out=tmp_path, progress=False, metrics_port=port)))
    thread.start()
    seen: dict = {}
    deadline = time.time() + 60
    while thread.is_alive() and time.time() < deadline:
        try:
            samples = _scrape(port)
        except OSError:
            time.sleep(0.3)
            continue
        if samples.get(("rcap_ops_per_second", (("op", "SET"),)), 0) > 0:
            seen = samples
        time.sleep(0.5)
    thread.join()
    assert result.get("dir") is not None
    assert seen, "no SET throughput was ever exposed"
    assert seen[("rcap_latency_microseconds", (("op", "SET"), ("quantile", "0.99")))] > 0
    assert any(name == "rcap_server_used_memory_bytes" and v > 0 for (name, _), v in seen.items())
    with pytest.raises(OSError):
        _scrape(port)  # the endpoint lives only as long as the run


def test_busy_port_is_refused_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(BadInput, match="--metrics-port"):
            run_bench("kv-set-1k", users=1, duration_s=2, out=tmp_path, progress=False,
                      metrics_port=busy.getsockname()[1])
    assert not any(tmp_path.iterdir())
