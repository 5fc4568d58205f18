"""The rcap command's help, exit codes, shell completion and --json outputs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rcap.cli import EXIT_CODES, build_parser, main

RCAP = str(Path(sys.executable).with_name("rcap"))


def test_top_level_help_lists_every_exit_code() -> None:
    out = subprocess.run([RCAP, "--help"], capture_output=True, text=True, timeout=60).stdout
    for code, _ in EXIT_CODES:
        assert f"\n  {code} " in out


@pytest.mark.parametrize("command", ["bench", "sweep", "failover", "restart-test", "memory-wall", "compare", "show"])
def test_experiment_commands_have_a_description_and_an_example(command: str) -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices[command]
    assert sub.description and len(sub.description) > 20
    assert f"rcap {command}" in sub.format_help().split("\nexample:")[-1]


def test_bash_completion_names_the_commands(capsys) -> None:
    assert main(["completion", "bash"]) == 0
    script = capsys.readouterr().out
    assert "complete" in script and "bench" in script and "compare" in script


def test_status_and_check_json(capsys, standalone, tmp_path: Path) -> None:
    assert main(["status", "--json", "--base-dir", str(tmp_path)]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main(["check", standalone.target.url, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["url"] == standalone.target.url and data["nodes"][0]["port"] == standalone.nodes[0].port
    assert data["redis_version"]
