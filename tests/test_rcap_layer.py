"""The top layer points down: nothing in loadgen or analysis imports rcap (the CLI and orchestration)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_loadgen_and_analysis_never_import_rcap():
    files = [p for pkg in ("loadgen", "analysis") for p in (ROOT / pkg).rglob("*.py")]
    assert len(files) > 20
    offenders = {str(p.relative_to(ROOT)): sorted(n for n in _imports(p) if n == "rcap" or n.startswith("rcap."))
                 for p in files}
    assert not {k: v for k, v in offenders.items() if v}

