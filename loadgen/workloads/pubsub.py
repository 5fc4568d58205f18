"""``pubsub``: Nuxeo nodes' pattern subscriptions and the publishers that fan out to them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rcapcore.errors import BadInput
from loadgen.workloads.base import PUBSUB_ROLES, PlanItem, Step, Workload, share


@dataclass(frozen=True)
class PubSubParams:
    """``pubsub``: ``nodes`` emulated nodes each hold one ``PSUBSCRIBE <prefix>*``; ``publishers`` send
    ``<nodeId>:<payload>`` messages (``rate`` = messages/s) on topics weighted by ``topics``."""

    nodes: int = 4
    publishers: int = 4
    topics: dict[str, float] = field(default_factory=lambda: {"vcs": 1.0, "cacheinval": 1.0})
    vcs_docs: int = 1
    dbs_ids: int = 1


def check(p: PubSubParams, where: str) -> None:
    bad = set(p.topics) - {"vcs", "dbs", "cacheinval"}
    if bad or sum(p.topics.values()) <= 0:
        raise BadInput(f"{where}: topics weights are for vcs, dbs, cacheinval and must add up to more than 0")


def plan(scenario: Any) -> list[PlanItem]:
    p = scenario.params
    return [PlanItem("subscriber", "PubSubNode", p.nodes),
            PlanItem("publisher", "PubSubPublisher", p.publishers, share(scenario.rate, p.publishers),
                     {"topics": dict(p.topics), "vcs_docs": p.vcs_docs, "dbs_ids": p.dbs_ids, "nodes": p.nodes})]


def suite_steps(topology: str, nuxeo_nodes: int) -> tuple[Step, ...]:
    return (Step("PubSub fan-out, 1 node", "pubsub", 5, overrides={"nodes": "1"}, full_s=60),
            Step(f"PubSub fan-out, {nuxeo_nodes} nodes", "pubsub", 5, overrides={"nodes": str(nuxeo_nodes)},
                 full_s=60))


WORKLOAD = Workload("pubsub", PubSubParams, plan, PUBSUB_ROLES,
                    positive_ints=("nodes", "publishers", "vcs_docs", "dbs_ids"), check=check,
                    suite_steps=suite_steps)
