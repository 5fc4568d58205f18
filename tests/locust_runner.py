"""Runs ``loadgen/locustfile.py`` in a Locust subprocess for the loadgen tests (bounded in time)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import loadgen
from loadgen.scenarios import load_scenario

LOCUSTFILE = Path(loadgen.__file__).resolve().parent / "locustfile.py"


def locust_env(scenario: Any, target: Any, run_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(RCAP_SCENARIO=scenario.to_json(), RCAP_TARGET=json.dumps(target.to_dict(with_password=True)),
               RCAP_RUN_DIR=str(run_dir))
    return env


def run_locust(name: str, overrides: dict[str, str], target: Any, run_dir: Path, seconds: int,
               extra: list[str] | None = None, timeout_s: float = 90) -> tuple[Any, subprocess.CompletedProcess]:
    """Run scenario ``name`` for ``seconds`` headless in one process; returns (scenario, completed process)."""
    scenario = load_scenario(name, overrides)
    argv = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "-u", str(scenario.users),
            "-r", str(max(scenario.users, 10)), "-t", f"{seconds}s", "--only-summary", "--loglevel", "WARNING",
            "--exit-code-on-error", "0", *(extra or [])]
    proc = subprocess.run(argv, env=locust_env(scenario, target, run_dir), capture_output=True, text=True,
                          timeout=timeout_s)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return scenario, proc


def read_latency(run_dir: Path) -> list[dict[str, Any]]:
    with open(run_dir / "latency.jsonl", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def read_counters(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "counters.json").read_text(encoding="utf-8"))
