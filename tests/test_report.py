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

from analysis.plots import human_bytes
from analysis.report import runset, summary
from analysis.report.build import NOTEBOOKS, ReportRequest, build_report
from rcap.bench import run_bench

REPO = Path(__file__).resolve().parent.parent
TARGET = REPO / "data/targets/example.yaml"
REFERENCE = REPO / "data/reference"
PASSWORD = "rcap-report-" + secrets.token_urlsafe(12)
SECTIONS = ("Summary", "Inputs and assumptions", "Measured results", "Throughput and latency against load",
            "Memory against backlog", "The mass operation over time", "PubSub fan-out", "Model validation",
            "HA and failover", "Risks", "What if", "Go-live checklist", "Glossary", "Appendix A: environment and runs")


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
    assert human_bytes(data["memory"]["maxmemory_bytes"]) in text
    assert "Risks" in text and "Appendix A: environment and runs" in text


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


# ---- consistency and artefact rules on the generated report (issue 13) ----------------------------------


def _pdf_text(files) -> str:
    if not shutil.which("pdftotext"):
        pytest.skip("pdftotext (poppler-utils) is not installed")
    return subprocess.run(["pdftotext", str(files.pdf), "-"], capture_output=True, text=True, check=True).stdout


def _html_text(files) -> str:
    html = files.html.read_text()
    html = re.sub(r"<(style|script)[^>]*>.*?</\1>", " ", html, flags=re.S)
    return _text(re.sub(r"<[^>]+>", " ", html)).replace("&amp;", "&")


ONE_VALUE_RANGE = re.compile(r"(?<![\d.,])(\d[\d,]*(?:\.\d+)?)\s?(?:–|-|to)\s?\1(?![\d.,])")


@pytest.mark.parametrize("where", ["pdf", "html"])
def test_report_has_no_template_artefacts(built, where):
    files, _ = built
    text = _text(_pdf_text(files)) if where == "pdf" else _html_text(files)
    assert not re.search(r"\bnan\b", text, re.I), re.search(r".{60}\bnan\b.{20}", text, re.I)
    assert not re.search(r"\w\(s\)", text), re.search(r".{60}\w\(s\).{10}", text)
    bad = [m.group(0) for m in ONE_VALUE_RANGE.finditer(text) if not re.fullmatch(r"[\d,]+-[\d,]+", m.group(0))]
    assert not bad, bad
    assert "For example (" not in text


def test_summary_numbers_are_sizing_json_and_the_memory_table_adds_up(built):
    files, _ = built
    data = json.loads(files.sizing_json.read_text())
    text = _html_text(files)
    m = data["memory"]
    summary_text = text[text.index("Summary"):text.index("Inputs and assumptions")]
    for quantity in (m["maxmemory_bytes"], m["node_ram_bytes"], m["dataset_bytes"]):
        assert human_bytes(quantity) in summary_text, human_bytes(quantity)
    c = data["cpu"]
    assert f"{c['ceiling_works_per_s']:,.0f} works/s" in summary_text
    assert f"{c['ceiling_ops_per_s']:,.0f} ops/s" in summary_text
    assert f"{data['mass_operation']['peak_backlog']:,.0f} pending works" in summary_text
    # the one memory breakdown: its parts add up to the dataset, maxmemory and node RAM it states
    assert sum(m["parts"].values()) == pytest.approx(m["dataset_bytes"], rel=1e-9)
    p = m["node_parts"]
    assert m["dataset_bytes"] + p["backlog + client buffers"] + p["headroom"] == pytest.approx(m["maxmemory_bytes"])
    for label in ("= used_memory at the peak (dataset)", "= maxmemory", "= RAM per data node"):
        assert label in summary_text, label
    cv = c.get("ceiling_validation")
    if cv:  # the validation table's ceiling check is the sizing's own, not a second fit
        assert f"{100 * cv['error']:+.1f}%" in text
    # one ceiling per unit: no other works/s or ops/s "ceiling" figure anywhere in the report
    ceilings = set(re.findall(r"ceiling[^.]{0,80}?([\d,]{4,}) (works/s|ops/s)", text))
    assert ceilings <= {(f"{c['ceiling_works_per_s']:,.0f}", "works/s"), (f"{c['ceiling_ops_per_s']:,.0f}", "ops/s")}, ceilings


def test_risk_count_in_the_summary_is_the_number_of_risks_listed(built):
    files, _ = built
    html = files.html.read_text()
    stated = re.search(r"(\d+) risks? listed", _html_text(files))
    assert stated, "the summary states no risk count"
    risks = html[html.index('id="Risks"'):]
    risks = risks[:risks.index("<h2")] if "<h2" in risks else risks
    assert risks.count("<li>") == int(stated.group(1))


def test_figures_are_numbered_in_order_with_captions_and_alt_text(built):
    files, _ = built
    html = files.html.read_text()
    numbers = [int(n) for n in re.findall(r"<b>Figure (\d+):</b>", html)]
    assert numbers and numbers == list(range(1, len(numbers) + 1))
    imgs = re.findall(r'<figure class="rcap-figure"><img [^>]*>', html)
    alts = [re.search(r'alt="([^"]*)"', i) for i in imgs]
    assert len(imgs) == len(numbers) and all(a and len(a.group(1)) > 10 for a in alts)
    assert all("data:image/png;base64," in i for i in imgs)


def test_title_block_and_missed_validation_goals(built):
    files, _ = built
    text = _html_text(files)
    head = text[:600]
    assert "Redis sizing report" in head and "example" in head and "rcap " in head
    assert re.search(r"\d{4}-\d{2}-\d{2}", head), "no date in the title block"
    for term in ("USL σ / κ", "knee", "loadgen-bound", "fluid model", "λ / μ"):
        assert term in text[text.index("Glossary"):], term
    from analysis.report.validation import validation_rows, verdict  # noqa: PLC0415

    rows = validation_rows(runset.context(TARGET, [REFERENCE, built[1]]))
    for r in rows:
        if verdict(r) == "MISSED":
            assert "MISSED" in text and f"{r['error_pct']:+.1f}%" in text
            assert "validated within" not in text or "missed" in text.lower()


def test_no_near_blank_page(built, tmp_path):
    """Every page but the last is filled at least halfway down: a table or figure pushed whole to the next
    page used to leave pages about 90 % empty."""
    if not shutil.which("pdftoppm"):
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    import numpy as np  # noqa: PLC0415
    from PIL import Image  # noqa: PLC0415

    files, _ = built
    subprocess.run(["pdftoppm", "-r", "20", "-gray", str(files.pdf), str(tmp_path / "p")], check=True)
    pages = sorted(tmp_path.glob("p-*"))
    assert len(pages) > 3
    for page in pages[:-1]:
        px = np.asarray(Image.open(page).convert("L"))
        body = px[: int(px.shape[0] * 0.93)]  # the footer holds the page number
        inked = np.where((body < 200).any(axis=1))[0]
        assert len(inked) and inked.max() / px.shape[0] > 0.5, f"{page.name}: content ends at " \
            f"{inked.max() / px.shape[0] if len(inked) else 0:.0%} of the page"
