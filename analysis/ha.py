"""High-availability advice for Nuxeo on Redis: the topology, the outage a Nuxeo node sees, the works at
risk in a failover, and the persistence to configure. Pure functions over numbers (no I/O, no runs).

Sources (each figure below names its own):

- Nuxeo's Redis architecture page (``NUXEO_ARCHITECTURE_URL``): HA needs a Redis cluster of at least three
  nodes; Redis Enterprise is the recommended HA option because Redis Ltd supports it; Sentinel is the
  open-source option that Redis Ltd does not support, so Nuxeo cannot either; Sentinel needs at least
  3 Redis nodes to prevent split-brain.
- Nuxeo's retry (traffic spec §0): a call that fails with a connection error is retried after 2, 4, 8,
  16 … s (cumulative 2, 6, 14, 30, 62 … s) within ``nuxeo.redis.ha.timeout`` (300 s).
- Redis Sentinel (redis-capacity-facts §6.1): ``down-after-milliseconds`` default 30,000 ms; a partitioned
  master keeps acknowledging writes unless ``min-replicas-to-write`` stops it after ``min-replicas-max-lag``.
- Redis Enterprise sizing (redis-capacity-facts §5.1): the ``ENTERPRISE_*`` constants, each with its URL.

Units are in the names: ``_s``, ``_ms``, ``_bytes``, ``_per_s``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Protocol

from rcapcore.units import human_bytes

GIB = 1024 ** 3

# -- sources ---------------------------------------------------------------------------------------------
NUXEO_ARCHITECTURE_URL = "https://doc.nuxeo.com/nxdoc/2021/redis-architecture/"
NUXEO_CONFIGURATION_URL = "https://doc.nuxeo.com/nxdoc/2021/redis-configuration/"
SENTINEL_DOC_URL = "https://redis.io/docs/latest/operate/oss_and_stack/management/sentinel/"
REPLICATION_DOC_URL = "https://redis.io/docs/latest/operate/oss_and_stack/management/replication/"
PERSISTENCE_DOC_URL = "https://redis.io/docs/latest/operate/oss_and_stack/management/persistence/"
RE_HARDWARE_URL = ("https://redis.io/docs/latest/operate/rs/installing-upgrading/install/plan-deployment/"
                   "hardware-requirements/")
RE_MEMORY_LIMIT_URL = "https://redis.io/docs/latest/operate/rs/databases/memory-performance/memory-limit/"
RE_CLUSTERING_URL = "https://redis.io/docs/latest/operate/rc/databases/configuration/clustering/"

NUXEO_SUPPORT_QUOTES = (
    "For high availability, a Redis cluster with a minimum of three nodes is required",
    "Redis Enterprise is our recommended for a high availability Redis cluster, as it gets support from "
    "RedisLabs",
    "Redis Sentinel is the open-source option … RedisLabs (creators of Redis) does not officially support it, "
    "which means that in case of a problem we will not be able to provide support either",
    "if choosing sentinel you will need at least 3 Redis nodes to prevent the split-brain problem",
)
"""Verbatim from ``NUXEO_ARCHITECTURE_URL`` (nuxeo/doc.nuxeo.com-content, ``redis-architecture.md``)."""

# -- Nuxeo's retry and Sentinel's detection -------------------------------------------------------------
NUXEO_FIRST_RETRY_S = 2.0  # RedisFailoverExecutor: 2 s, then doubling
NUXEO_RETRY_BUDGET_S = 300.0  # nuxeo.redis.ha.timeout (failoverTimeout)
SENTINEL_DEFAULT_DOWN_AFTER_MS = 30_000  # sentinel.conf default
DOWN_AFTER_TABLE_MS = (5_000, 10_000, 30_000)
DEFAULT_FAILOVER_OBJECTIVE_S = 30.0  # Deployment.failover_objective_s default
FALSE_FAILOVER_BELOW_MS = 5_000  # below this, a stalled (not dead) master risks a needless failover
DOWN_AFTER_STEP_MS = 1_000  # suggestions are whole seconds
MIN_REPLICAS_MAX_LAG_S = 10  # Redis default of min-replicas-max-lag

# -- Redis Enterprise (redis-capacity-facts §5.1) --------------------------------------------------------
ENTERPRISE_MIN_NODES = 3  # and odd
ENTERPRISE_MIN_CORES = 2
ENTERPRISE_RECOMMENDED_CORES = 8
ENTERPRISE_MIN_RAM_BYTES = 8 * GIB
ENTERPRISE_RECOMMENDED_RAM_BYTES = 32 * GIB
ENTERPRISE_FREE_RAM = 0.30  # keep 30 % of each node's RAM free
ENTERPRISE_SHARD_MAX_BYTES = 25 * 1000 ** 3  # clustering needed beyond 25 GB per shard
ENTERPRISE_REPLICAS = 1  # one replica shard per master shard
ENTERPRISE_REPLICATION_FACTOR = 1 + ENTERPRISE_REPLICAS  # "enabling replication doubles memory consumption"
ENTERPRISE_PERSISTENT_DISK_FACTOR = 3  # persistent disk ≥ RAM × 3

# -- persistence -----------------------------------------------------------------------------------------
PERSISTENT_DISK_FACTOR = {"none": 0.0, "rdb": 2.0, "aof": 3.0}  # × maxmemory
DISK_RULE = {"none": "no persistence", "rdb": "dump + its temporary copy during BGSAVE (2 × maxmemory)",
             "aof": "the AOF base, its increments and a rewrite (3 × maxmemory, like Redis Enterprise's "
                    "persistent disk of 3 × RAM)"}
ADVISED_PERSISTENCE = "aof"


def disk_bytes(persistence: str, maxmemory_bytes: float) -> float:
    """Persistent disk for ``persistence`` (``none``, ``rdb``, ``aof``): ``PERSISTENT_DISK_FACTOR`` × maxmemory."""
    return PERSISTENT_DISK_FACTOR[persistence] * maxmemory_bytes


# ---------------------------------------------------------------------------------------------------------
# The outage a Nuxeo node sees


def nuxeo_retry_times_s(budget_s: float = NUXEO_RETRY_BUDGET_S) -> list[float]:
    """Cumulative times (s after the failed call) of Nuxeo's retries within the budget: 2, 6, 14, 30, 62 …"""
    out, delay_s, waited_s = [], NUXEO_FIRST_RETRY_S, 0.0
    while waited_s + delay_s <= budget_s:
        waited_s += delay_s
        out.append(waited_s)
        delay_s *= 2
    return out


def nuxeo_outage_s(unavailable_s: float, budget_s: float = NUXEO_RETRY_BUDGET_S) -> float | None:
    """When a Nuxeo node resumes (s after its call failed) if Redis is unavailable for ``unavailable_s``:
    the first retry whose cumulative delay is at or after the end of the outage. None when the retry
    budget (``nuxeo.redis.ha.timeout``) runs out first: the call fails for good."""
    return next((t for t in nuxeo_retry_times_s(budget_s) if t >= unavailable_s), None)


def promotion_overhead_ms(promotion_ms: float, down_after_ms: float) -> float:
    """What a failover takes beyond Sentinel's detection delay: the measured promotion time (fault →
    ``+switch-master``) minus the ``down-after-milliseconds`` it ran with (election, promotion, the
    clients' switch). It carries over to a production ``down-after``."""
    return max(0.0, promotion_ms - down_after_ms)


@dataclass(frozen=True)
class OutageRow:
    """The outage for one production ``down-after``: Redis unavailable (s) = down-after + the measured
    overhead; the Nuxeo node resumes at its next retry (``nuxeo_outage_s``, None: retries exhausted)."""

    down_after_ms: float
    promotion_overhead_ms: float
    redis_unavailable_s: float
    nuxeo_outage_s: float | None
    objective_s: float

    @property
    def meets_objective(self) -> bool:
        return self.nuxeo_outage_s is not None and self.nuxeo_outage_s <= self.objective_s

    def to_dict(self) -> dict:
        return {**asdict(self), "meets_objective": self.meets_objective}


def production_outage(down_after_ms: float, overhead_ms: float,
                      objective_s: float = DEFAULT_FAILOVER_OBJECTIVE_S) -> OutageRow:
    """The outage Nuxeo sees when the master dies for good with ``down_after_ms`` configured."""
    unavailable_s = (down_after_ms + overhead_ms) / 1000
    return OutageRow(down_after_ms, overhead_ms, unavailable_s, nuxeo_outage_s(unavailable_s), objective_s)


def suggest_down_after_ms(objective_s: float, overhead_ms: float = 0.0,
                          step_ms: int = DOWN_AFTER_STEP_MS) -> int | None:
    """The largest ``down-after-milliseconds`` (a multiple of ``step_ms``) whose Nuxeo-seen outage is at most
    ``objective_s``: the latest retry within the objective, minus the overhead, rounded down. None when no
    positive value meets it (the objective is shorter than the first retry that covers the overhead)."""
    retries = [t for t in nuxeo_retry_times_s() if t <= objective_s]
    if not retries:
        return None
    best_ms = math.floor((1000 * retries[-1] - overhead_ms) / step_ms) * step_ms
    return int(best_ms) if best_ms >= step_ms else None


def outage_table(overhead_ms: float, objective_s: float = DEFAULT_FAILOVER_OBJECTIVE_S,
                 down_after_ms: tuple[float, ...] = DOWN_AFTER_TABLE_MS) -> list[OutageRow]:
    """One row per ``down-after`` (the usual values, the suggestion for the objective), ascending."""
    suggested = suggest_down_after_ms(objective_s, overhead_ms)
    values = sorted(set(down_after_ms) | ({suggested} if suggested else set()))
    return [production_outage(v, overhead_ms, objective_s) for v in values]


# ---------------------------------------------------------------------------------------------------------
# What a failover loses, in the target's works


@dataclass(frozen=True)
class LossWindow:
    """A time window whose acknowledged works a failover can lose, at the target's write rate."""

    what: str
    window_s: float
    works_per_s: float

    @property
    def works_at_risk(self) -> float:
        return self.window_s * self.works_per_s

    def to_dict(self) -> dict:
        return {**asdict(self), "works_at_risk": self.works_at_risk}


# ---------------------------------------------------------------------------------------------------------
# Topologies


def min_replicas_to_write(replicas: int) -> int:
    """``min-replicas-to-write`` to configure: 1 with at least 2 replicas, else 0 (off). With a single replica
    the master would refuse every write whenever that replica is down or resyncing, and right after a
    failover (the new master has no replica until the old one returns): the WorkManager would stop."""
    return 1 if replicas >= 2 else 0


@dataclass(frozen=True)
class SentinelPlan:
    """The Sentinel deployment to recommend: at least 3 nodes (1 master + 2 replicas), one Sentinel on each,
    more Sentinels (if asked) elsewhere, quorum = majority. ``flags`` state every deviation from what the
    target asked for and its risk."""

    requested_replicas: int
    requested_sentinels: int
    replicas: int
    sentinels: int
    flags: tuple[str, ...] = field(default_factory=tuple)

    @property
    def data_nodes(self) -> int:
        return 1 + self.replicas

    @property
    def quorum(self) -> int:
        return self.sentinels // 2 + 1

    @property
    def sentinels_elsewhere(self) -> int:
        return max(0, self.sentinels - self.data_nodes)

    @property
    def min_replicas_to_write(self) -> int:
        return min_replicas_to_write(self.replicas)

    @property
    def placement(self) -> str:
        text = (f"one Sentinel on each of the {self.data_nodes} Redis nodes" if self.sentinels >= self.data_nodes
                else f"one Sentinel on {self.sentinels} of the {self.data_nodes} Redis nodes")
        if self.sentinels_elsewhere:
            text += (f", {self.sentinels_elsewhere} more on hosts outside them (for example Nuxeo nodes), "
                     "each in its own failure domain")
        return text

    @property
    def summary(self) -> str:
        return (f"{self.data_nodes} nodes, each running Redis and Sentinel: 1 master + {self.replicas} replicas, "
                f"{self.sentinels} Sentinels, quorum {self.quorum}")

    def to_dict(self) -> dict:
        return {"kind": "sentinel", "data_nodes": self.data_nodes, "replicas": self.replicas,
                "sentinels": self.sentinels, "quorum": self.quorum, "placement": self.placement,
                "min_replicas_to_write": self.min_replicas_to_write,
                "min_replicas_max_lag_s": MIN_REPLICAS_MAX_LAG_S if self.min_replicas_to_write else None,
                "requested_replicas": self.requested_replicas, "requested_sentinels": self.requested_sentinels,
                "summary": self.summary, "source": NUXEO_ARCHITECTURE_URL}


def sentinel_plan(replicas: int, sentinels: int) -> SentinelPlan:
    """3 Redis nodes at least (Nuxeo's Redis page: Sentinel needs 3 Redis nodes to prevent split-brain),
    3 Sentinels at least (a majority must elect the failover leader)."""
    flags = []
    planned_replicas = max(2, replicas)
    if replicas < 2:
        flags.append(
            f"the target asks for {replicas} replica{'' if replicas == 1 else 's'} ({1 + replicas} Redis "
            f"node{'' if replicas == 0 else 's'}); sized for 3 (1 master + 2 replicas) as Nuxeo's Redis page requires "
            "for Sentinel. With fewer: split-brain risk (a partitioned master and a promoted replica both "
            "accept works), no failover possible while one node is down for maintenance, and "
            "min-replicas-to-write cannot be used without stopping the WorkManager when the replica is down")
    planned_sentinels = max(3, sentinels)
    if sentinels < 3:
        flags.append(f"the target asks for {sentinels} Sentinel{'' if sentinels == 1 else 's'}: at least 3 on "
                     "independent failure domains are needed (a majority elects the failover leader); sized for "
                     f"{planned_sentinels}")
    return SentinelPlan(replicas, sentinels, planned_replicas, planned_sentinels, tuple(flags))


@dataclass(frozen=True)
class SizedFigure:
    """One Redis Enterprise figure: the value for this target, the rule it follows and the rule's source."""

    name: str
    value: float
    unit: str  # "nodes", "bytes", "cores"
    rule: str
    source: str


@dataclass(frozen=True)
class EnterprisePlan:
    """Redis Enterprise sized for one database holding the WorkManager (one shard: its Lua scripts touch
    keys in several hash slots, so it cannot be sharded) with replication."""

    nodes: int
    node_ram_bytes: float
    cores_min: int
    cores_recommended: int
    shard_bytes: float
    database_bytes: float
    persistent_disk_bytes: float
    flags: tuple[str, ...] = field(default_factory=tuple)

    @property
    def figures(self) -> list[SizedFigure]:
        return [
            SizedFigure("nodes", self.nodes, "nodes", f"odd, at least {ENTERPRISE_MIN_NODES}", RE_HARDWARE_URL),
            SizedFigure("RAM per node", self.node_ram_bytes, "bytes",
                        f"shard × fragmentation with {ENTERPRISE_FREE_RAM:.0%} of RAM kept free; at least "
                        f"{ENTERPRISE_MIN_RAM_BYTES / GIB:.0f} GB, {ENTERPRISE_RECOMMENDED_RAM_BYTES / GIB:.0f} GB "
                        "recommended", RE_HARDWARE_URL),
            SizedFigure("cores per node", self.cores_min, "cores",
                        f"at least {ENTERPRISE_MIN_CORES}, {ENTERPRISE_RECOMMENDED_CORES} recommended",
                        RE_HARDWARE_URL),
            SizedFigure("shard (maxmemory)", self.shard_bytes, "bytes",
                        f"one shard, at most {ENTERPRISE_SHARD_MAX_BYTES / 1000 ** 3:.0f} GB before clustering, "
                        "which the WorkManager cannot use", RE_CLUSTERING_URL),
            SizedFigure("database memory with replication", self.database_bytes, "bytes",
                        "replication doubles memory consumption", RE_MEMORY_LIMIT_URL),
            SizedFigure("persistent disk per node", self.persistent_disk_bytes, "bytes",
                        f"at least {ENTERPRISE_PERSISTENT_DISK_FACTOR} × RAM", RE_HARDWARE_URL),
        ]

    @property
    def summary(self) -> str:
        return (f"{self.nodes} nodes, 1 shard + 1 replica, database {human_bytes(self.database_bytes)}, "
                f"≥ {human_bytes(self.node_ram_bytes)} RAM and ≥ {self.cores_min} cores per node "
                f"({ENTERPRISE_FREE_RAM:.0%} RAM free)")

    def to_dict(self) -> dict:
        return {"kind": "enterprise", "nodes": self.nodes, "database_bytes": self.database_bytes,
                "node_ram_bytes": self.node_ram_bytes, "cores_min": self.cores_min,
                "cores_recommended": self.cores_recommended, "shard_bytes": self.shard_bytes,
                "persistent_disk_bytes": self.persistent_disk_bytes, "summary": self.summary,
                "figures": [asdict(f) for f in self.figures], "source": NUXEO_ARCHITECTURE_URL}


def enterprise_plan(maxmemory_bytes: float, fragmentation_ratio: float, requested_nodes: int = 3,
                    replicas: int = 1) -> EnterprisePlan:
    """Redis Enterprise for one shard of ``maxmemory_bytes``: the shard and its replica on different nodes,
    each node keeping 30 % of its RAM free; an odd number of nodes, at least 3."""
    flags = []
    nodes = max(ENTERPRISE_MIN_NODES, requested_nodes)
    if nodes % 2 == 0:
        nodes += 1
    if nodes != requested_nodes:
        flags.append(f"Redis Enterprise needs an odd number of nodes, at least {ENTERPRISE_MIN_NODES}: "
                     f"{nodes} instead of {requested_nodes}")
    if replicas < 1:
        flags.append("Redis Enterprise without replication: no failover; sized with replication on")
    node_ram = max(ENTERPRISE_MIN_RAM_BYTES, maxmemory_bytes * fragmentation_ratio / (1 - ENTERPRISE_FREE_RAM))
    if maxmemory_bytes > ENTERPRISE_SHARD_MAX_BYTES:
        flags.append(f"maxmemory {maxmemory_bytes / 1e9:.1f} GB exceeds Redis Enterprise's 25 GB per shard and the "
                     "WorkManager cannot be sharded: split workloads across databases or move to Nuxeo Stream")
    return EnterprisePlan(nodes, node_ram, ENTERPRISE_MIN_CORES, ENTERPRISE_RECOMMENDED_CORES, maxmemory_bytes,
                          maxmemory_bytes * ENTERPRISE_REPLICATION_FACTOR,
                          ENTERPRISE_PERSISTENT_DISK_FACTOR * node_ram, tuple(flags))


# ---------------------------------------------------------------------------------------------------------
# Persistence


class _Deployment(Protocol):
    persistence: str


class _Target(Protocol):
    deployment: _Deployment


class _Sized(Protocol):
    memory: dict
    disk: dict


@dataclass(frozen=True)
class PersistenceAdvice:
    """The one persistence recommendation, why, its disk (the sizing's rule for that mode), and how the
    target's own choice compares (``flag``; the target's disk sizing is not overridden)."""

    mode: str
    settings: tuple[str, ...]
    reason: str
    backups: str
    disk_bytes: float
    disk_rule: str
    target_mode: str
    target_disk_bytes: float
    flag: str | None

    def to_dict(self) -> dict:
        return asdict(self)


PERSISTENCE_REASON = (
    "Pending works are the only copy of what Nuxeo still has to do: Nuxeo keeps them in Redis so that they "
    "survive Nuxeo restarts (its Redis configuration page), so Redis must keep them across its own. Without "
    "persistence a Redis process that restarts (a crash with auto-restart, a reboot, a restart of all nodes) "
    "comes back empty, and its replicas copy the empty dataset: every pending work, transient-store entry and "
    "lock is gone. RDB alone loses everything written since the last snapshot (up to a minute or more under "
    "the default save points 3600 1 / 300 100 / 60 10000). AOF with an fsync every second loses at most about "
    "1 s, on the master and on each replica (on Redis Enterprise: the database's AOF persistence, fsync every "
    "second), for the price of 3 × maxmemory of disk, a write per second to the disk and AOF rewrites (forks, "
    "whose copy-on-write the node RAM already includes).")
PERSISTENCE_SETTINGS = ("appendonly yes", "appendfsync everysec", "aof-use-rdb-preamble yes")
PERSISTENCE_BACKUPS = ("Backups: as Nuxeo's Redis configuration page asks, keep RDB snapshots as backups and copy "
                       "them off-site (BGSAVE on a replica, then copy its dump.rdb). A restored backup brings back "
                       "old works: restore only with Nuxeo stopped, and expect some works to run again.")


def persistence_flag(target_mode: str, maxmemory_bytes: float) -> str | None:
    """The flag to raise when the target's ``deployment.persistence`` is not the advice (None when it is)."""
    if target_mode == ADVISED_PERSISTENCE:
        return None
    return (f"persistence '{target_mode}' requested; the advice is AOF everysec on the master and the replicas "
            f"(a restart loses at most about 1 s of works; {target_mode}: "
            + ("everything since the last snapshot" if target_mode == "rdb" else "everything") + "). "
            f"The disk here is sized for '{target_mode}' ({human_bytes(disk_bytes(target_mode, maxmemory_bytes))}); "
            f"AOF needs {human_bytes(disk_bytes(ADVISED_PERSISTENCE, maxmemory_bytes))}")


def persistence_advice(target: _Target, rec: _Sized) -> PersistenceAdvice:
    """AOF everysec on every node plus off-site RDB backups (``PERSISTENCE_REASON``), its disk by the sizing's
    rule, and the target's own mode and disk as sized (``rec.disk``), flagged when they differ."""
    maxmemory = rec.memory["maxmemory_bytes"]
    target_mode = target.deployment.persistence
    return PersistenceAdvice(ADVISED_PERSISTENCE, PERSISTENCE_SETTINGS, PERSISTENCE_REASON, PERSISTENCE_BACKUPS,
                             disk_bytes(ADVISED_PERSISTENCE, maxmemory), DISK_RULE[ADVISED_PERSISTENCE], target_mode,
                             rec.disk["bytes"], persistence_flag(target_mode, maxmemory))
