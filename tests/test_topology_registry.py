"""The topology registry: one entry per topology, consistent facts, a builder and a router for each,
and no import circle inside loadgen/topology/ (circle 2 of issue 12)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from analysis import sizing
from analysis import targets as analysis_targets
from loadgen import clients
from rcapcore.errors import BadInput
from loadgen.topology import registry
from loadgen.topology.targets import Target
from rcapcore import topologies

TOPOLOGY_DIR = Path(__file__).resolve().parent.parent / "loadgen" / "topology"


def test_every_topology_has_facts_a_builder_and_a_router():
    assert set(registry.REGISTRY) == set(topologies.NAMES) and topologies.NAMES
    for name in topologies.NAMES:
        entry = registry.get(name)
        assert entry.name == name and callable(entry.build)
        assert entry.router in clients.ROUTERS, name
        assert entry.build.__module__ == f"loadgen.topology.{name}"


@pytest.mark.parametrize("name", topologies.NAMES)
def test_the_tls_url_of_each_topology_parses_to_its_router(name):
    f = topologies.facts(name)
    url = f"{f.schemes[1]}://127.0.0.1:7000" + ("/mymaster" if f.connect_as == "sentinel" else "")
    target = Target.parse(url, topology=name)
    assert target.kind == f.connect_as and target.tls
    assert target.sharded == f.sharded
    assert clients.ROUTERS[target.kind].sharded == f.sharded


def test_facts_drive_the_name_lists():
    assert topologies.with_sentinels() == ("sentinel", "enterprise")
    assert topologies.names(proxied=False, sharded=False) == ("standalone", "sentinel")
    assert set(topologies.names(sized=True)) == set(analysis_targets.TOPOLOGIES)
    assert {topologies.facts(n).sizing for n in topologies.names(sized=True)} == set(sizing._TOPOLOGY_RULES)
    assert not topologies.facts("cluster").nuxeo and topologies.facts("enterprise").password_required


def test_unknown_topology_is_one_clear_bad_input():
    with pytest.raises(BadInput, match="unknown topology 'mesh' .*standalone"):
        registry.get("mesh")


def _imports(path: Path) -> set[str]:
    """Every loadgen.topology module ``path`` imports, at any depth of the file (function-local too)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "loadgen.topology":
                out |= {f"loadgen.topology.{a.name}" for a in node.names if (TOPOLOGY_DIR / f"{a.name}.py").exists()}
            elif node.module.startswith("loadgen.topology."):
                out.add(node.module)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("loadgen.topology.")}
    return out


def test_no_import_circle_inside_the_topology_package():
    graph = {f"loadgen.topology.{p.stem}": _imports(p) for p in TOPOLOGY_DIR.glob("*.py") if p.stem != "__init__"}
    state: dict[str, int] = {}

    def visit(mod: str, path: list[str]) -> None:
        if state.get(mod) == 1:
            raise AssertionError("import circle: " + " -> ".join(path + [mod]))
        if state.get(mod) == 2:
            return
        state[mod] = 1
        for dep in graph.get(mod, ()):
            visit(dep, path + [mod])
        state[mod] = 2

    for mod in graph:
        visit(mod, [])
    assert "loadgen.topology.lab" not in graph["loadgen.topology.launcher"]
