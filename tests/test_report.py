"""rcap report end to end: the five notebooks executed headless (papermill, real kernel) on the committed
reference runs plus a fresh password-protected run, then the HTML, the PDF (read back with pdftotext)
and sizing.json checked against the sizing engine."""

from __future__ import annotations

import json
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest

from analysis.report import runset, summary
from analysis.report.build import NOTEBOOKS, ReportRequest, build_report
from rcap.bench import run_bench

REPO = Path(__file__).resolve().parent.parent
TARGET = REPO / "data/targets/example.yaml"
REFERENCE = REPO / "data/reference"
PASSWORD = "rcap-report-" + secrets.token_urlsafe(12)
SECTIONS = ("Summary", "Inputs and assumptions", "Measured results", "Throughput and latency against load",
            "Memory against backlog", "The mass operation over time", "PubSub fan-out", "Model validation",
            "HA and failover", "Risks", "Environment of the measurements")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One report on the reference runs plus a PubSub run on the Enterprise stand-in (TLS + password)."""
    tmp = tmp_path_factory.mktemp("report")
    enterprise_run = run_bench("pubsub", topology="enterprise", password=PASSWORD, duration_s=3,
                               out=tmp / "runs", progress=False, topology_options={"base_dir": str(tmp / "rcap")})
    files = build_report(ReportRequest(TARGET, (REFERENCE, enterprise_run), tmp / "reports"))
    return files, enterprise_run


@pytest.fixture(scope="module")
def expected():
    """What the sizing engine recommends on the same runs (the report must say exactly this)."""
    return runset.context(TARGET, [REFERENCE]).recommendation.to_dict()


def _text(s: str) -> str:
    return re.sub(r"\s+", " ", s)


def test_writes_html_pdf_json_and_executed_notebooks(built):
    files, _ = built
    assert files.dir.name == "example"
    for path in (files.html, files.pdf, files.sizing_json):
        assert path.is_file() and path.stat().st_size > 1000, path
    assert [p.stem for p in files.notebooks] == list(NOTEBOOKS)
    for path in files.notebooks:
        nb = nbformat.read(str(path), as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(c.execution_count for c in code), f"{path.name}: a cell did not run"
        errors = [o for c in code for o in c.outputs if o.output_type == "error"]
        assert not errors, f"{path.name}: {errors[0].ename}: {errors[0].evalue}"
        assert any(o.get("data", {}).get("image/png") or o.get("data", {}).get("text/html")
                   for c in code for o in c.outputs), f"{path.name} shows no figure and no table"


def test_sizing_json_is_the_recommendation(built, expected):
    files, _ = built
    data = json.loads(files.sizing_json.read_text())
    assert data["topology"]["summary"] == expected["topology"]["summary"]
    # the report's runs include one more PubSub run: memory and topology do not depend on it
    assert data["memory"]["maxmemory_bytes"] == pytest.approx(expected["memory"]["maxmemory_bytes"], rel=0.02)
    assert data["memory"]["node_ram_bytes"] >= data["memory"]["maxmemory_bytes"] > 0
    assert data["instances"] and data["mass_operation"]["peak_backlog"] > 0


def test_html_is_self_contained_with_code_hidden_and_the_recommendation_table(built):
    files, _ = built
    html = files.html.read_text()
    data = json.loads(files.sizing_json.read_text())
    assert html.count("data:image/png;base64,") >= 6
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=\"https?://", html), "fetches from the network"
    assert "runset.context(" not in html and "notebook_setup" not in html, "code is shown"
    text = _text(re.sub(r"<[^>]+>", " ", html))
    for section in SECTIONS:
        assert section in text, f"section missing: {section}"
    rows = summary.summary_rows(SimpleNamespace(**data))
    assert 'class="dataframe' in html
    for label in ("Recommended topology", "Node count", "RAM per data node", "vCPU", "maxmemory", "Persistence",
                  "Instance types (AWS)"):
        assert f"{label} " in text, label
    assert _text(rows["Recommended topology"]) in text
    assert _text(rows["RAM per data node"]) in text
    assert "noeviction" in text


def test_pdf_text_states_the_recommendation(built):
    files, _ = built
    if not shutil.which("pdftotext"):
        pytest.skip("pdftotext (poppler-utils) is not installed")
    out = subprocess.run(["pdftotext", "-layout", str(files.pdf), "-"], capture_output=True, text=True, check=True)
    text = _text(out.stdout)
    data = json.loads(files.sizing_json.read_text())
    assert "Redis sizing report" in text
    assert "Recommended topology" in text
    assert _text(data["topology"]["summary"]) in text
    assert f"{data['memory']['maxmemory_bytes'] / 2**30:.2f} GiB" in text
    assert "Risks" in text and "Environment of the measurements" in text


def test_no_password_anywhere(built):
    files, run_dir = built
    needle = PASSWORD.encode()
    for root in (files.dir, run_dir):
        for path in root.rglob("*"):
            if path.is_file():
                assert needle not in path.read_bytes(), f"password found in {path}"
    pdf_text = subprocess.run(["pdftotext", str(files.pdf), "-"], capture_output=True, text=True).stdout
    assert PASSWORD not in pdf_text


def _rcap(*args: str) -> subprocess.CompletedProcess:
    rcap = Path(sys.executable).parent / "rcap"
    return subprocess.run([str(rcap), *args], capture_output=True, text=True, cwd=REPO, timeout=60)


@pytest.mark.parametrize("args, words", [
    (("report", "--target-load", "data/targets/nope.yaml"), "does not exist"),
    (("report", "--target-load", "data/targets/example.yaml", "--runs", "/nonexistent/runs"), "not found"),
    (("suite", "--scale", "0"), "--scale"),
])
def test_bad_input_is_one_line_and_exit_2(args, words, tmp_path):
    res = _rcap(*args, "--out", str(tmp_path))
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rcap: error:") and words in lines[0], res.stderr
    assert "Traceback" not in res.stderr
    assert not any(tmp_path.iterdir())
