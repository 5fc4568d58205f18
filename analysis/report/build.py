"""The sizing report: executes the notebooks headless (papermill) and exports them.

What the notebooks display is in the sibling modules, one per topic: :mod:`analysis.report.runset` (the run
set and the notebooks' context), ``throughput``, ``memory``, ``mass_operation``, ``pubsub``, ``failover``,
``validation``, ``summary`` (their sections), ``section`` and ``series`` (shared helpers).

``build_report`` runs ``notebooks/01…05`` with the same parameters, keeps the executed notebooks,
writes ``sizing.json`` and exports ``05-sizing-report`` as a self-contained HTML file (figures embedded
as ``data:image/png;base64``, code hidden, no external scripts) and as a PDF (weasyprint renders that
HTML; nbconvert's ``webpdf`` needs a browser download that is not available everywhere).

Layout of ``<out>/<target-name>/``::

    sizing-report.html   sizing-report.pdf   sizing.json
    notebooks/01-benchmark.ipynb … 05-sizing-report.ipynb   (executed, with outputs)
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from analysis.targets import load_target
from analysis.targets import resolve as resolve_target
from rcapcore import paths
from rcapcore.errors import BadInput, RcapError
from rcapcore.rundata import scrub_tree

NOTEBOOKS = ("01-benchmark", "02-memory-growth", "03-throughput-latency", "04-failover", "05-sizing-report")
STANDALONE_NOTEBOOKS = ("06-compare-runs",)
"""Notebooks outside the report, run by hand in ``make lab`` (or with papermill)."""
REPORT_NOTEBOOK = "05-sizing-report"
KERNEL = "python3"
REFERENCE_RUNS = Path("data/reference")
"""Checkout-relative; :func:`resolve` finds the shipped copy from any directory."""

# Print layout for weasyprint and browsers' print dialog; the screen layout stays nbconvert's.
PRINT_CSS = """
<style>
@page { size: A4; margin: 15mm 13mm 16mm 13mm;
        @bottom-right { content: counter(page) " / " counter(pages); font-size: 8pt; color: #555; } }
@media print {
  body { font-size: 10pt; }
  /* only figures and table rows stay whole: a whole cell kept together left pages 90 % empty */
  figure.rcap-figure, tr { break-inside: avoid; }
  /* JupyterLab lays outputs out as tables and flex boxes, which the PDF renderer does not split */
  .jp-Cell, .jp-Cell-outputWrapper, .jp-OutputArea, .jp-OutputArea-child, .jp-OutputArea-output,
  .jp-Cell-inputWrapper { display: block !important; overflow: visible !important; }
  .jp-OutputArea-child { break-inside: auto !important; }  /* nbconvert's "avoid-page" pushed whole tables */
  h1, h2, h3, h4 { break-after: avoid; }
  .jp-MarkdownCell { break-after: avoid; }  /* a heading cell stays with the output that follows it */
  thead { display: table-header-group; }
}
figure.rcap-figure { margin: 0.6em 0 0.9em 0; }
figure.rcap-figure img { max-height: 118mm; width: auto; }
figcaption { font-size: 9pt; color: #333; margin-top: 0.2em; }
img { max-width: 100%; height: auto; }
table.dataframe { font-size: 9pt; border-collapse: collapse; table-layout: auto !important; margin-left: 0 !important; }
table.dataframe td, table.dataframe th { padding: 2px 6px; text-align: left !important; vertical-align: top; }
table.dataframe td { max-width: 34em; }
.jp-OutputArea-output pre { white-space: pre-wrap; }
</style>
"""

_EXTERNAL_SCRIPT = re.compile(r"<script[^>]*\bsrc=\"https?://[^\"]*\"[^>]*>\s*</script>\s*", re.I)
_EXTERNAL_LINK = re.compile(r"<link[^>]*\bhref=\"https?://[^\"]*\"[^>]*>\s*", re.I)


def resolve(path: str | os.PathLike) -> Path:
    """A path as given (from the cwd), else the shipped file a checkout-relative path names, made absolute.

    Notebooks run with their own folder as cwd while users pass paths relative to the project root
    (see :func:`rcapcore.paths.resolve`).
    """
    return paths.resolve(path).resolve()


def target_name(target_load: Path) -> str:
    """The report's directory name: the target's ``name`` (its file stem when the file sets none)."""
    name = load_target(str(target_load)).name
    return re.sub(r"[^A-Za-z0-9._-]+", "-", str(name)).strip("-") or "target"


@dataclass(frozen=True)
class ReportRequest:
    """What to report on. Paths may be relative to the project root."""

    target_load: Path
    run_dirs: tuple[Path, ...] = ()  # empty: the committed reference runs in data/reference/
    out_root: Path = paths.REPORTS
    topology: str | None = None  # None: the topology the target file asks for
    secrets: tuple[str, ...] = field(default=(), repr=False)  # must never appear in the output
    cell_timeout_s: int = 300

    def resolved(self) -> "ReportRequest":
        target = resolve(resolve_target(str(self.target_load)))  # a path, or a shipped target's name
        load_target(str(target))  # a missing or invalid file: one line naming the file (and line)
        runs = tuple(resolve(r) for r in (self.run_dirs or (REFERENCE_RUNS,)))
        for r in runs:
            if not r.is_dir():
                raise BadInput(f"run directory not found: {r}")
        out = Path(self.out_root).expanduser().resolve()
        return ReportRequest(target, runs, out, self.topology, self.secrets, self.cell_timeout_s)

    def parameters(self, report_dir: Path) -> dict:
        """The papermill parameters every notebook receives (plain JSON types)."""
        return {
            "target_load": str(self.target_load),
            "run_dirs": [str(r) for r in self.run_dirs],
            "topology": self.topology,
            "report_dir": str(report_dir),
        }


@dataclass(frozen=True)
class ReportFiles:
    """What ``build_report`` wrote."""

    dir: Path
    html: Path
    pdf: Path
    sizing_json: Path
    notebooks: tuple[Path, ...]
    seconds: float


def execute_notebook(source: Path, dest: Path, parameters: dict, cell_timeout_s: int = 300) -> None:
    """Run one notebook headless with papermill, cwd = its folder; a failing cell → ``RcapError``."""
    # papermill, nbconvert and weasyprint are imported where used: they take seconds to load, and the
    # notebooks import this module (REFERENCE_RUNS, resolve, write_sizing_json) without building a report
    import papermill
    from papermill.exceptions import PapermillExecutionError

    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        papermill.execute_notebook(
            str(source), str(dest), parameters=parameters, kernel_name=KERNEL, cwd=str(source.parent),
            progress_bar=False, log_output=False, execution_timeout=cell_timeout_s,
            extra_arguments=["--IPKernelApp.log_level=CRITICAL"],  # no kernel start-up chatter on stderr
        )
    except PapermillExecutionError as exc:
        raise RcapError(f"notebook {source.stem} failed in cell {exc.exec_count}: {exc.ename}: "
                        f"{str(exc.evalue).splitlines()[0] if exc.evalue else ''} (see {dest})") from None


def export_html(executed: Path, title: str) -> str:
    """The executed notebook as one self-contained HTML page: code and prompts hidden,
    figures embedded as base64 PNG, no script or stylesheet fetched from the network."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(executed), as_version=4)
    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True,
                            embed_images=True)
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    body = _EXTERNAL_SCRIPT.sub("", body)
    body = _EXTERNAL_LINK.sub("", body)
    return body.replace("</head>", PRINT_CSS + "</head>", 1)


def write_pdf(html: str, dest: Path, base_url: Path | None = None) -> None:
    """Render the HTML page to PDF with weasyprint (A4, page numbers)."""
    import weasyprint

    logging.getLogger("weasyprint").setLevel(logging.ERROR)  # unsupported screen-only CSS is expected
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    weasyprint.HTML(string=html, base_url=str(base_url) if base_url else None).write_pdf(str(dest))


def scrub_secrets(directory: Path, secrets: tuple[str, ...]) -> list[Path]:
    """Mask any secret found in the report's text files; return the files fixed.

    The notebooks read run directories, which hold no password; this is the last guard. JSON files
    (``sizing.json``, notebooks) are masked inside parsed string values only, so they stay valid; the
    PDF is never rewritten (its bytes are compressed); secrets shorter than
    ``MIN_SCANNED_SECRET_LEN`` are not searched (they occur in figures by chance).
    """
    return scrub_tree(directory, secrets, skip_suffixes=(".pdf",))


def build_report(request: ReportRequest, *, notebook_dir: Path | None = None,
                 progress: Callable[[str], None] | None = None) -> ReportFiles:
    """Execute the notebooks and write the report directory (see the module docstring)."""
    started = time.monotonic()
    req = request.resolved()
    say = progress or (lambda _msg: None)
    notebook_dir = notebook_dir or paths.shipped("notebooks")
    report_dir = req.out_root / target_name(req.target_load)
    executed_dir = report_dir / "notebooks"
    executed_dir.mkdir(parents=True, exist_ok=True)
    params = req.parameters(report_dir)
    executed = []
    for i, name in enumerate(NOTEBOOKS, 1):
        source = notebook_dir / f"{name}.ipynb"
        if not source.is_file():
            raise RcapError(f"notebook missing: {source}")
        say(f"[{i}/{len(NOTEBOOKS)}] executing {name}")
        t0 = time.monotonic()
        dest = executed_dir / source.name
        execute_notebook(source, dest, params, req.cell_timeout_s)
        executed.append(dest)
        say(f"      done in {time.monotonic() - t0:.1f} s")
    sizing_json = report_dir / "sizing.json"
    if not sizing_json.is_file():
        raise RcapError(f"{REPORT_NOTEBOOK} did not write {sizing_json}")
    say("exporting HTML and PDF")
    html = export_html(executed_dir / f"{REPORT_NOTEBOOK}.ipynb",
                       f"Redis sizing report: {target_name(req.target_load)}")
    html_path = report_dir / "sizing-report.html"
    html_path.write_text(html, encoding="utf-8")
    pdf_path = report_dir / "sizing-report.pdf"
    write_pdf(html, pdf_path, base_url=report_dir)
    for path in scrub_secrets(report_dir, req.secrets):
        say(f"warning: removed a secret from {path}")
    return ReportFiles(report_dir, html_path, pdf_path, sizing_json, tuple(executed),
                       round(time.monotonic() - started, 1))


def write_sizing_json(recommendation: dict, report_dir: str | os.PathLike) -> Path:
    """Write the machine-readable recommendation (``Recommendation.to_dict()``) to ``sizing.json``."""
    def finite(o):  # JSON has no Infinity/NaN: an unbounded estimate is written as null
        if isinstance(o, float) and not math.isfinite(o):
            return None
        if isinstance(o, dict):
            return {k: finite(v) for k, v in o.items()}
        if isinstance(o, (list, tuple)):
            return [finite(v) for v in o]
        return o

    path = Path(report_dir) / "sizing.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(".sizing.json.tmp")
    tmp.write_text(json.dumps(finite(recommendation), indent=2, sort_keys=True, default=str, allow_nan=False) + "\n",
                   encoding="utf-8")
    os.replace(tmp, path)
    return path
