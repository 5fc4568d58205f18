"""Locust users of rcap's workloads. Users describe behaviour; :mod:`loadgen.clients` owns the I/O.

``user_classes(scenario)`` turns the scenario's plan (:func:`loadgen.workloads.plan`) into concrete
``User`` subclasses of the base class each workload names for a role, with ``fixed_count`` and open-loop
rate set. Importing this package does not import Locust (the role modules do, lazily). The dependency
points one way: users depend on :mod:`loadgen.workloads` and :mod:`loadgen.scenarios`, never the reverse.
"""

from __future__ import annotations

import importlib
from typing import Any

from loadgen.workloads import WORKLOADS


def _base(ref: str) -> type:
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


def user_classes(scenario: Any) -> list[type]:
    """Concrete Locust ``User`` classes for ``scenario`` (their ``fixed_count`` sums to ``scenario.users``)."""
    workload = WORKLOADS[scenario.workload]
    classes = []
    for item in workload.plan(scenario):
        if item.count <= 0:
            continue
        attrs = dict(item.attrs, fixed_count=item.count, rate_per_user=item.rate_per_user, abstract=False,
                     __module__=__name__)
        classes.append(type(item.name, (_base(workload.roles[item.role]),), attrs))
    return classes
