"""rcap show / rcap compare / rcap bench --repeat on runs recorded against a real redis-server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from analysis.compare import compare, op_seconds, op_table
from analysis.runs import load_run
from rcap.cli import main

RCAP = str(Path(sys.executable).parent / "rcap")


def _bench(out: Path, *extra: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([RCAP, "bench", "kv-set-1k", "--users", "4", "--duration", "6s", "--no-progress",
                           "--out", str(out), *extra], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, list[Path]]:
    """Two repeated runs of 1 KB SETs and one of 256 KB SETs (a change far larger than the noise)."""
    out = tmp_path_factory.mktemp("runs")
    small = _bench(out / "small", "--repeat", "2")
    big = _bench(out / "big", "--set", "value_bytes=262144")
    return {"small": [Path(p) for p in small.stdout.split()], "big": [Path(p) for p in big.stdout.split()],
            "stderr_small": small.stderr}


def test_repeat_records_k_runs_and_prints_each_table(runs) -> None:
    assert len(runs["small"]) == 2 and len(set(runs["small"])) == 2
    for path in runs["small"]:
        assert load_run(path).status == "complete"
        assert f"run {path.name} (complete)" in runs["stderr_small"]  # per-op table on stderr, path on stdout
    assert runs["stderr_small"].count("\nSET ") == 2


def test_percentiles_and_rates_equal_the_summary(runs) -> None:
    """The counts matrices rebuild summary.json's figures exactly: one definition per quantity."""
    run = load_run(runs["small"][0])
    sec = op_seconds(run)["SET"]
    assert int(sec.counts.sum()) == run.summary["ops"]["SET"]["count"]
    result = compare([run], [run], n_boot=50)
    change = {c.metric: c for c in result.ops[0].changes}
    for metric in ("p50_us", "p90_us", "p99_us", "p999_us", "ops_per_s"):
        assert change[metric].a == pytest.approx(run.summary["ops"]["SET"][metric], rel=1e-3)
        assert change[metric].diff == 0
    assert "SET" in op_table(run) and "server: CPU" in op_table(run)


def test_a_large_change_is_flagged_and_a_run_against_itself_is_not(runs) -> None:
    small = [load_run(p) for p in runs["small"]]
    big = [load_run(p) for p in runs["big"]]
    result = compare(small, big, n_boot=300)
    p50 = result.ops[0].change("p50_us")
    assert p50.b > p50.a and p50.significant and p50.low > 0  # 256 KB values take longer to SET
    assert "within-run only" in result.noise  # one run on side B
    itself = compare(small, small, n_boot=300)
    assert not any(c.significant for oc in itself.ops for c in oc.changes)
    assert "run-to-run" in itself.noise  # two runs per side: runs are resampled too


def test_cli_compare_and_show(runs, capsys) -> None:
    a, b = runs["small"][0], runs["big"][0]
    assert main(["compare", str(a), str(b), "--json", "--resamples", "100"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["runs_a"] == [a.name] and data["ops"][0]["op"] == "SET"
    assert main(["compare", "--a", *map(str, runs["small"]), "--b", str(b), "--resamples", "100"]) == 0
    assert "B − A" in capsys.readouterr().out
    assert main(["show", str(a)]) == 0
    assert "SET" in capsys.readouterr().out


@pytest.mark.parametrize("args", [
    ["compare", "only-one"],
    ["compare", "nope-a", "nope-b"],
    ["compare", "x", "y", "--confidence", "nan"],
    ["show", "/nonexistent"],
])
def test_cli_bad_input_is_one_line(args, capsys) -> None:
    try:
        code = main(args)
    except SystemExit as exc:  # argparse-level refusals (e.g. NaN) exit from the parser
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("rcap: error:")


def test_compare_notebook_runs_headless(runs, tmp_path: Path) -> None:
    """notebooks/06 on two sets of real runs, as papermill runs it from ``make lab`` or a script."""
    from analysis.report.build import execute_notebook

    src = Path(__file__).resolve().parent.parent / "notebooks" / "06-compare-runs.ipynb"
    out = tmp_path / "06.ipynb"
    execute_notebook(src, out, {"run_dirs_a": [str(p) for p in runs["small"]],
                                "run_dirs_b": [str(p) for p in runs["big"]]})
    text = out.read_text()
    assert "image/png" in text and "larger than the noise" in text
