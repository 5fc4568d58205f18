"""The layers point down only, and no module imports itself in a circle (docs/architecture.md).

    rcap (CLI, orchestration)  →  loadgen, analysis  →  rcapcore

Every module's imports are read with ``ast`` (function-local imports included: they hide a loop but are
one all the same); nothing is imported, so the test is fast and sees modules whose dependencies are missing.
"""

from __future__ import annotations

import ast
from pathlib import Path


ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("rcapcore", "loadgen", "analysis", "rcap")
FORBIDDEN = {
    "rcapcore": ("loadgen", "analysis", "rcap"),
    "analysis": ("loadgen", "rcap"),
    "loadgen": ("analysis", "rcap"),
}


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        base = ROOT / pkg
        if not base.is_dir():
            continue
        for path in base.rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            out[name] = path
    return out


MODULES = _modules()


def _target(name: str) -> str | None:
    """The project module an imported name lands in (``a.b.c`` → ``a.b`` when ``c`` is not a module)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _imports(module: str) -> set[str]:
    """The project modules ``module`` imports, at any depth of its code."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            names = [f"{base}.{a.name}" for a in node.names] + [base]
        else:
            continue
        for name in names:
            if name.split(".")[0] in PACKAGES:
                target = _target(name)
                if target and target != module:
                    found.add(target)
    return found


GRAPH = {m: _imports(m) for m in MODULES}


def _violations(layer: str) -> list[str]:
    bad = FORBIDDEN[layer]
    return sorted(f"{m} imports {t}" for m, targets in GRAPH.items() if m.split(".")[0] == layer
                  for t in targets if t.split(".")[0] in bad)


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    return out


def test_the_import_reader_sees_imports():
    """Guard for the checks below: they must not pass because nothing was read."""
    assert "rcapcore.errors" in GRAPH.get("rcapcore.validate", set())
    assert "rcapcore.latency" in GRAPH["loadgen.histograms"]
    assert "analysis.runs" in GRAPH["analysis.sizing"]  # a function-local import


def test_core_imports_nothing_above_it():
    assert _violations("rcapcore") == []


def test_analysis_never_imports_loadgen_or_the_cli():
    assert _violations("analysis") == []


def test_loadgen_never_imports_analysis_or_the_cli():
    assert _violations("loadgen") == []


def test_no_import_cycle():
    assert _cycles() == []
