"""What every workload module declares (:class:`Workload`), and the pieces plans share: :class:`Dist`,
:class:`PlanItem` and the suite's :class:`Step`.

Plain data and pure functions: no Locust, no Redis I/O, no import of :mod:`loadgen.scenarios` or
:mod:`loadgen.users` (they depend on this package, never the reverse).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from rcapcore.errors import BadInput
from rcapcore.validate import number


@dataclass(frozen=True)
class Dist:
    """A distribution of a quantity (bytes, seconds, ms): ``fixed`` (``value``), ``uniform`` (``min``..``max``)
    or ``lognormal`` (median ``value``, shape ``sigma``, clipped to ``min``..``max``)."""

    kind: str = "fixed"
    value: float = 0.0
    min: float = 0.0
    max: float = 0.0
    sigma: float = 0.5

    @classmethod
    def from_number(cls, value: float, where: str) -> "Dist":
        """A bare number in YAML is a fixed distribution (the typed builder's scalar shorthand)."""
        return cls("fixed", number(value, where))

    def validate(self, where: str) -> None:
        if self.kind not in ("fixed", "uniform", "lognormal"):
            raise BadInput(f"{where}: distribution kind must be fixed, uniform or lognormal, got {self.kind!r}")
        if self.value < 0 or self.min < 0 or self.max < 0 or self.sigma < 0:
            raise BadInput(f"{where}: distribution values must be >= 0")
        if self.kind == "uniform" and self.max < self.min:
            raise BadInput(f"{where}: uniform max ({self.max:g}) is below min ({self.min:g})")

    def sampler(self, rng: random.Random) -> Callable[[], float]:
        """A function drawing one value."""
        if self.kind == "fixed":
            v = self.value
            return lambda: v
        if self.kind == "uniform":
            lo, hi = self.min, self.max
            return lambda: rng.uniform(lo, hi)
        mu, sigma, lo, hi = math.log(max(self.value, 1e-9)), self.sigma, self.min, self.max or float("inf")
        return lambda: min(max(rng.lognormvariate(mu, sigma), lo), hi)

    @property
    def mean(self) -> float:
        if self.kind == "fixed":
            return self.value
        if self.kind == "uniform":
            return (self.min + self.max) / 2
        return self.value * math.exp(self.sigma ** 2 / 2)


@dataclass(frozen=True)
class PlanItem:
    """``count`` Locust users of ``role`` (a key of the workload's ``roles``), each paced at
    ``rate_per_user`` ops/s (``None`` = closed loop), with role attributes ``attrs``."""

    role: str
    name: str
    count: int
    rate_per_user: float | None = None
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Step:
    """One benchmark of ``rcap suite``: ``duration_s`` per run (seconds); several ``rates`` (open loop, the
    scenario's unit per second) make a sweep."""

    label: str
    scenario: str
    duration_s: float
    rates: tuple[float, ...] = ()
    users: tuple[int, ...] = ()  # several: a closed-loop sweep (for the USL fit)
    overrides: dict[str, str] = field(default_factory=dict)
    kind: str = "bench"  # bench | probe | failover | memory-wall (the last two start their own topology)
    full_s: float = 0.0  # duration per run in the full profile (``rcap suite --full``); 0 = duration_s

    def seconds(self, scale: float = 1.0, full: bool = False) -> float:
        """Run time per run (s): the full profile's, or the brief one × ``scale``."""
        return self.full_s if full and self.full_s else self.duration_s * scale


def _no_check(params: Any, where: str) -> None:
    return None


def _no_extra(params: Any) -> int:
    return 0


def _no_steps(topology: str, nuxeo_nodes: int) -> tuple[Step, ...]:
    return ()


@dataclass(frozen=True)
class Workload:
    """Everything about one workload (one module of :mod:`loadgen.workloads` each).

    - ``params``: its params dataclass (the scenario's ``params`` mapping is built into it);
    - ``plan(scenario)``: the user roles with counts and rates (:class:`PlanItem` list);
    - ``roles``: role → ``"module:Class"`` of the Locust user base class (resolved by
      :func:`loadgen.users.user_classes`, so this package never imports Locust);
    - ``positive_ints``: params that must be >= 1; ``check(params, where)``: the rest of its validation
      (every number >= 0 and every :class:`Dist` is checked for all workloads);
    - ``free_users``: ``users`` comes from the scenario (plus ``extra_users(params)`` on top); otherwise
      it is fixed by the params (the sum of the plan's counts);
    - ``suite_steps(topology, nuxeo_nodes)``: what ``rcap suite`` runs for it.
    """

    name: str
    params: type
    plan: Callable[[Any], list[PlanItem]]
    roles: Mapping[str, str]
    positive_ints: tuple[str, ...] = ()
    check: Callable[[Any, str], None] = _no_check
    free_users: bool = False
    extra_users: Callable[[Any], int] = _no_extra
    suite_steps: Callable[[str, int], tuple[Step, ...]] = _no_steps


def share(rate: float | None, count: int) -> float | None:
    """Each of ``count`` users' part of a global ``rate`` (``None``: closed loop)."""
    return None if rate is None else rate / max(1, count)


PRODUCER_MAX_RATE = 100.0
"""Works/s (or messages/s, KV ops/s) one paced user is given at most in ``nuxeo-cluster``; more users
share a higher rate, so one slow round trip does not throttle the whole stream."""


def users_for(rate: float) -> int:
    """Paced users for ``rate`` (at most :data:`PRODUCER_MAX_RATE` each)."""
    return max(1, math.ceil(rate / PRODUCER_MAX_RATE))


def scanners(p: Any, nodes: int) -> list[PlanItem]:
    """One keyspace scanner per Nuxeo node (scheduled KEYS, spec Corrections 9)."""
    return [PlanItem("scanner", "KeyspaceScanner", nodes, None, {"period_s": p.gc_period_s})] if nodes else []


SCANNER_ROLE = {"scanner": "loadgen.users.scanner:KeyspaceScanner"}
WORK_ROLES = {"producer": "loadgen.users.workmanager:WorkProducer",
              "consumer": "loadgen.users.workmanager:WorkConsumer"}
PUBSUB_ROLES = {"subscriber": "loadgen.users.pubsub:PubSubSubscriber",
                "publisher": "loadgen.users.pubsub:PubSubPublisher"}
KV_ROLE = {"kv": "loadgen.users.kv:KvUser"}
