"""The workload registry: one module per workload (params, validation, plan, Locust roles, suite steps).

Adding a workload is one new module here that defines ``WORKLOAD`` (a :class:`~loadgen.workloads.base.Workload`),
listed in :data:`_MODULES`, plus its ``data/scenarios/NAME.yaml`` (docs/workloads.md shows an example).
This package imports neither :mod:`loadgen.scenarios` nor :mod:`loadgen.users` nor Locust: they depend
on it, never the reverse.
"""

from __future__ import annotations

from rcapcore.errors import BadInput
from loadgen.workloads import kv, kv_set, mass_operation, nuxeo_cluster, pubsub, work_lifecycle, workmanager
from loadgen.workloads.base import Step, Workload

_MODULES = (workmanager, work_lifecycle, kv, kv_set, pubsub, mass_operation, nuxeo_cluster)

WORKLOADS: dict[str, Workload] = {m.WORKLOAD.name: m.WORKLOAD for m in _MODULES}
"""Workload name → its :class:`Workload`, in the order ``rcap suite`` runs their steps."""


def get(name: object) -> Workload:
    """The workload called ``name``; :class:`BadInput` naming the known ones otherwise."""
    if name not in WORKLOADS:
        raise BadInput(f"workload must be one of {', '.join(WORKLOADS)}, got {name!r}")
    return WORKLOADS[name]  # type: ignore[index]


_KIND_ORDER = {"bench": 0, "probe": 0, "memory-wall": 1, "failover": 2}


def suite_steps(topology: str, nuxeo_nodes: int = 4) -> tuple[Step, ...]:
    """Every workload's suite steps: the benchmarks in registry order, then the experiments that start
    their own topology (memory wall, failover)."""
    steps = [s for w in WORKLOADS.values() for s in w.suite_steps(topology, nuxeo_nodes)]
    return tuple(sorted(steps, key=lambda s: _KIND_ORDER[s.kind]))




def plan(scenario: object) -> list:
    """The user plan (:class:`~loadgen.workloads.base.PlanItem` list) of a :class:`loadgen.scenarios.Scenario`;
    ``scenario.users`` is the sum of the counts."""
    return WORKLOADS[scenario.workload].plan(scenario)  # type: ignore[attr-defined]


__all__ = ["WORKLOADS", "Step", "Workload", "get", "plan", "suite_steps"]
