"""The notebooks as committed: numbered, parameterised for papermill, thin, and without outputs."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import nbformat
import pytest

from analysis.report.build import NOTEBOOKS, STANDALONE_NOTEBOOKS

NB_DIR = Path(__file__).resolve().parent.parent / "notebooks"
PARAMETERS = {"target_load", "run_dirs", "topology", "report_dir"}


@pytest.fixture(scope="module", params=NOTEBOOKS)
def notebook(request):
    return request.param, nbformat.read(str(NB_DIR / f"{request.param}.ipynb"), as_version=4)


def test_the_five_notebooks_exist():
    assert sorted(p.stem for p in NB_DIR.glob("*.ipynb")) == sorted(NOTEBOOKS + STANDALONE_NOTEBOOKS)


def test_committed_without_outputs(notebook):
    name, nb = notebook
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{name}: a code cell has outputs (clear them before committing)"
            assert cell.execution_count is None, f"{name}: a code cell has an execution count"
    raw = json.loads((NB_DIR / f"{name}.ipynb").read_text())
    assert "papermill" not in json.dumps(raw.get("metadata", {})), f"{name}: executed metadata committed"


def test_parameters_cell_declares_target_runs_topology(notebook):
    name, nb = notebook
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{name}: needs exactly one cell tagged 'parameters'"
    assigned = {t.id for node in ast.parse(tagged[0].source).body if isinstance(node, ast.Assign)
                for t in node.targets if isinstance(t, ast.Name)}
    assert PARAMETERS <= assigned, f"{name}: parameters cell lacks {PARAMETERS - assigned}"


def test_reads_as_a_document_with_thin_code(notebook):
    """Markdown explains every step; code cells stay short (the logic lives in analysis/, under test)."""
    name, nb = notebook
    md = [c for c in nb.cells if c.cell_type == "markdown"]
    code = [c for c in nb.cells if c.cell_type == "code" and "parameters" not in c.metadata.get("tags", [])]
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    assert len(md) >= len(code) - 2, f"{name}: fewer explanations than code cells"
    assert sum(len(c.source) for c in md) > 2 * sum(len(c.source) for c in code)
    for cell in code:
        tree = ast.parse("\n".join(line for line in cell.source.splitlines() if not line.startswith("%")))
        assert not any(isinstance(n, (ast.FunctionDef, ast.ClassDef)) for n in ast.walk(tree)), \
            f"{name}: define functions in analysis/, not in the notebook"
        assert len(cell.source.splitlines()) <= 12, f"{name}: a code cell is long:\n{cell.source}"
