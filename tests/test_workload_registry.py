"""The workload registry: one module per workload, a generic scenarios.py, users depending one way."""

from __future__ import annotations

import ast
import dataclasses
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from loadgen import scenarios, workloads
from rcapcore.errors import BadInput
from loadgen.workloads.base import KV_ROLE, PlanItem, Step, Workload, share

REPO = Path(__file__).resolve().parent.parent


def test_every_workload_has_its_module_and_a_shipped_scenario():
    shipped = {scenarios.load_scenario(name).workload for name in scenarios.available()}
    assert set(workloads.WORKLOADS) <= shipped
    for name, w in workloads.WORKLOADS.items():
        assert w.name == name
        assert (REPO / "loadgen/workloads" / f"{name.replace('-', '_')}.py").is_file()


def test_scenarios_py_names_no_workload():
    """No elif chain or per-workload tuple left: scenarios.py's code mentions no workload by name."""
    tree = ast.parse((REPO / "loadgen/scenarios.py").read_text(encoding="utf-8"))
    docstrings = {id(n.value) for n in ast.walk(tree)
                  if isinstance(n, ast.Expr) and isinstance(getattr(n, "value", None), ast.Constant)}
    strings = {n.value for n in ast.walk(tree)
               if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings}
    assert not strings & set(workloads.WORKLOADS)


def test_scenarios_and_workloads_import_neither_users_nor_locust():
    code = ("import sys, loadgen.scenarios, loadgen.workloads; "
            "print(sorted(m for m in sys.modules if m.startswith(('loadgen.users', 'locust'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "[]"


@dataclass(frozen=True)
class LockPollParams:
    nodes: int = 4


def _lock_poll_plan(scenario):
    p = scenario.params
    return [PlanItem("kv", "LockPoll", p.nodes, share(scenario.rate, p.nodes), {"mix": {"lock_get": 1.0}})]


def test_a_new_workload_is_one_registry_entry(monkeypatch):
    """docs/workloads.md's example: registering it is enough for scenarios, users and the suite."""
    new = Workload("lock-poll", LockPollParams, _lock_poll_plan, KV_ROLE, positive_ints=("nodes",),
                   suite_steps=lambda topology, nodes: (Step("lock checks", "lock-poll", 5, rates=(500, 2000)),))
    monkeypatch.setitem(workloads.WORKLOADS, "lock-poll", new)
    scen = scenarios.build_scenario("lock-poll", {"workload": "lock-poll", "rate": 1000, "params": {"nodes": 3}})
    assert scen.users == 3  # fixed by the plan
    assert scenarios.scenario_from_json(scen.to_json()) == scen
    # the plan the Locust user classes are made from (importing Locust here, late in a test session that has
    # imported ssl, would monkey-patch too late: tests/test_users_* run Locust in subprocesses instead)
    items = workloads.plan(scen)
    assert [(i.name, i.count) for i in items] == [("LockPoll", 3)]
    assert items[0].rate_per_user == pytest.approx(1000 / 3)
    assert any(s.scenario == "lock-poll" for s in workloads.suite_steps("standalone"))
    with pytest.raises(BadInput, match="users is fixed at 3"):
        scenarios.build_scenario("x", {"workload": "lock-poll", "users": 5, "params": {"nodes": 3}})
    # its own validation: positive_ints (checked once users is fine, here with users free)
    monkeypatch.setitem(workloads.WORKLOADS, "lock-poll", dataclasses.replace(new, free_users=True))
    with pytest.raises(BadInput, match="nodes must be >= 1"):
        scenarios.build_scenario("x", {"workload": "lock-poll", "params": {"nodes": 0}})
