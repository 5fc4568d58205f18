"""``kv-set``: closed-loop ``SET`` of fixed-size values (the loadgen benchmark and the suite's USL sweep)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from loadgen.workloads.base import PlanItem, Step, Workload, share


@dataclass(frozen=True)
class KvSetParams:
    """``kv-set``: closed-loop ``SET`` of ``value_bytes`` values over ``keyspace`` keys (loadgen benchmark)."""

    value_bytes: int = 1024
    keyspace: int = 100_000


def plan(scenario: Any) -> list[PlanItem]:
    return [PlanItem("kv-set", "KvSet", scenario.users, share(scenario.rate, scenario.users))]


def suite_steps(topology: str, nuxeo_nodes: int) -> tuple[Step, ...]:
    return (Step("Redis SET 1 KB against concurrency (closed loop, USL)", "kv-set-1k", 4, users=(1, 4, 16, 64),
                 full_s=30),)


WORKLOAD = Workload("kv-set", KvSetParams, plan, {"kv-set": "loadgen.users.kv:KvSetUser"},
                    positive_ints=("value_bytes", "keyspace"), free_users=True, suite_steps=suite_steps)
