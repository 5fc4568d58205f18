"""``work-lifecycle``: whole Nuxeo work lifecycles, one EVALSHA at a time (the suite's saturation probe)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from loadgen.workloads.base import PlanItem, Step, Workload, share


@dataclass(frozen=True)
class WorkLifecycleParams:
    """``work-lifecycle``: each user runs whole Nuxeo work lifecycles on its own connection, one EVALSHA at a
    time as Jedis sends them (scheduling-work → pop-work → running-work → completed-work, no processing
    time), closed loop or paced (``rate`` = works/s). The saturation probe of ``rcap suite``: one
    shard's works/s ceiling under unpipelined Nuxeo traffic."""

    queue_id: str = "default"
    work_type: str = "fulltextExtractor"
    hashtag: bool = False


def plan(scenario: Any) -> list[PlanItem]:
    p = scenario.params
    return [PlanItem("lifecycle", "WorkLifecycle", scenario.users, share(scenario.rate, scenario.users),
                     {"queue_id": p.queue_id, "work_type_name": p.work_type})]


PROBE_USERS = (4, 16, 50, 100)
"""Closed-loop users per step of the suite's saturation probe."""


def suite_steps(topology: str, nuxeo_nodes: int) -> tuple[Step, ...]:
    # closed-loop unpipelined lifecycles, more connections each step, until the main thread is >= 90 %
    # busy or throughput stops growing (+5 %): the measured works/s ceiling the CPU model is checked on
    return (Step("WorkManager saturation probe (closed loop, unpipelined lifecycles)", "work-lifecycle", 5,
                 users=PROBE_USERS, kind="probe", full_s=30),)


WORKLOAD = Workload("work-lifecycle", WorkLifecycleParams, plan,
                    {"lifecycle": "loadgen.users.workmanager:WorkLifecycleUser"}, free_users=True,
                    suite_steps=suite_steps)
