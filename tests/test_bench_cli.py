"""`rcap bench` / `rcap sweep` bad input: one line on stderr, exit status 2, no run directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from rcap.cli import main


def _rcap(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def _assert_one_line_error(rc: int, err: str, pattern: str, out_dir: Path) -> None:
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rcap: error: "), err
    assert pattern in lines[0], lines[0]
    assert not out_dir.exists() or not any(out_dir.iterdir()), "a run directory was created"


def _exit_code(exc: pytest.ExceptionInfo) -> int:
    return exc.value.code


@pytest.mark.parametrize("args, pattern", [
    (["bench", "no-such-scenario"], "unknown scenario 'no-such-scenario'"),
    (["bench", "kv", "--set", "no_such_key=1"], "unknown --set key 'no_such_key'"),
    (["bench", "kv", "--set", "keyspace"], "expected key=value"),
    (["bench", "kv", "--duration", "soon"], "nonsense duration 'soon'"),
    (["bench", "kv", "--duration", "0s"], "more than 0"),
    (["bench", "kv", "--password-file", "/nonexistent/pw"], "cannot read --password-file"),
    (["bench", "kv", "--target", "http://127.0.0.1:1"], "malformed target URL"),
    (["sweep", "kv", "--users", "1,2", "--keep"], "not available for a sweep"),
    (["sweep", "kv"], "needs --users 1,2,4,… or --rates"),
    (["sweep", "kv", "--rates", "100,200", "--users", "1,2"], "--users takes one value"),
    (["sweep", "kv", "--users", "1,x"], "comma-separated list"),
], ids=["scenario", "set-key", "set-syntax", "duration", "zero-duration", "password-file", "url", "sweep-keep",
        "sweep-nothing", "sweep-two-things", "sweep-list"])
def test_bad_input_before_anything_starts(capsys, tmp_path: Path, args: list[str], pattern: str) -> None:
    out = tmp_path / "runs"
    if args[-1] in ("--keep", "1,x"):  # argparse's own errors: also one line, exit 2
        with pytest.raises(SystemExit) as exc:
            main([*args, "--out", str(out)])
        assert _exit_code(exc) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("rcap: error:")
        return
    rc, _, err = _rcap(capsys, *args, "--out", str(out))
    _assert_one_line_error(rc, err, pattern, out)


def test_invalid_yaml_names_file_and_line(capsys, tmp_path: Path) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_text("workload: kv\nusers: 2\n  bad: indent\nparams: {}\n")
    rc, _, err = _rcap(capsys, "bench", str(bad), "--out", str(tmp_path / "runs"))
    _assert_one_line_error(rc, err, f"{bad}:3: invalid YAML", tmp_path / "runs")


def test_unreachable_target(capsys, tmp_path: Path) -> None:
    from loadgen.topology.processes import PortAllocator

    port = PortAllocator().take("127.0.0.1")
    rc, _, err = _rcap(capsys, "bench", "kv", "--target", f"redis://127.0.0.1:{port}", "--out", str(tmp_path / "runs"))
    _assert_one_line_error(rc, err, "connection refused", tmp_path / "runs")


def test_auth_and_tls_failures_on_the_enterprise_endpoint(capsys, tmp_path: Path, monkeypatch) -> None:
    from loadgen import topology

    runs = tmp_path / "runs"
    with topology.running("enterprise", password="the-right-one", base_dir=tmp_path / "rcap") as topo:
        url, ca = topo.target.url, topo.target.tls_ca
        wrong = tmp_path / "wrong-pw"
        wrong.write_text("not-the-password\n")
        rc, _, err = _rcap(capsys, "bench", "kv", "--target", url, "--tls-ca", ca, "--password-file", str(wrong),
                           "--out", str(runs))
        _assert_one_line_error(rc, err, "authentication failed", runs)
        assert "not-the-password" not in err
        monkeypatch.setenv("RCAP_PASSWORD", "the-right-one")
        rc, _, err = _rcap(capsys, "bench", "kv", "--target", url, "--out", str(runs))  # CA not given
        _assert_one_line_error(rc, err, "TLS", runs)
        plain = url.replace("rediss://", "redis://")
        rc, _, err = _rcap(capsys, "bench", "kv", "--target", plain, "--out", str(runs))
        assert rc == 2 and len(err.strip().splitlines()) == 1 and "the-right-one" not in err


def test_bench_prints_the_run_dir_last(tmp_path: Path) -> None:
    import subprocess
    import sys

    from analysis.runs import load_run

    rcap = str(Path(sys.executable).parent / "rcap")
    proc = subprocess.run([rcap, "bench", "kv-set-1k", "--users", "2", "--duration", "3s", "--no-progress",
                           "--out", str(tmp_path / "runs")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    run_dir = Path(proc.stdout.strip().splitlines()[-1])
    assert run_dir.parent == tmp_path / "runs"
    run = load_run(run_dir)
    assert run.status == "complete" and run.manifest["parameters"]["users"] == 2
    assert run.summary["ops"]["SET"]["count"] > 0
