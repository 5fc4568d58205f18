"""A go-live checklist per deployment option, drawn from one sizing (``analysis.sizing.Recommendation``).

``checklists(rec, target)`` returns one :class:`GoLiveChecklist` per option: self-managed VMs (Redis OSS +
Sentinel), Redis Enterprise, and each managed service of the instance catalog (ElastiCache for Redis OSS and
for Valkey, Azure Cache for Redis, Memorystore for Redis; Memorystore for Redis Cluster only as "not usable").
Each checklist is data: items with a title, the action and a ``source`` (a URL, or :data:`DERIVED` when the
figure comes from this sizing), plus configuration snippets. Vendor facts were read from the pages cited;
where a default could not be checked, the item says "check the service's default" instead of asserting it.

Every figure comes from the recommendation (bytes, works, utilization 0..1): maxmemory and node RAM from
``rec.memory`` (``node_parts`` are ``analysis.memory.recommend_memory``'s parts), replicas and quorum from
``rec.topology``, the backlog from ``rec.mass_operation`` and ``rec.traffic``, CPU from ``rec.cpu``. The node
types come from the catalog (``analysis.catalog.candidates``: the smallest row that holds the node).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from analysis import memory as mem
from analysis import servers
from analysis.catalog import GIB, InstanceType, candidates, load_catalog, offers_persistence
from analysis.targets import TargetLoad
from rcapcore.units import human_bytes

MB = 1024 ** 2
DERIVED = "derived from this sizing"
TOPICS = ("eviction", "cluster", "persistence", "versions", "config", "monitoring", "backups", "instance",
          "maxmemory")
"""The items every usable checklist carries (more may follow)."""

# Public pages read for this checklist (see docs/report.md, "Go-live checklist").
SRC = {
    "nuxeo_and_redis": "https://doc.nuxeo.com/nxdoc/2021/nuxeo-and-redis/",
    "nuxeo_redis_conf": "https://doc.nuxeo.com/nxdoc/2021/redis-configuration/",
    "nuxeo_scripts": "rcap reference nuxeo-redis-traffic.md §5.4 (Nuxeo's RedisWorkQueuing Lua scripts)",
    "nuxeo_conf_props": "rcap reference nuxeo-redis-traffic.md §5.1; https://doc.nuxeo.com/nxdoc/2021/redis-configuration/",
    "redis_admin": "https://redis.io/docs/latest/operate/oss_and_stack/management/admin/",
    "redis_sentinel": "https://redis.io/docs/latest/operate/oss_and_stack/management/sentinel/",
    "redis_persistence": "https://redis.io/docs/latest/operate/oss_and_stack/management/persistence/",
    "ec_policy_default": "https://aws.amazon.com/premiumsupport/knowledge-center/oom-command-not-allowed-redis/",
    "ec_param_groups": "https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/ParameterGroups.Management.html",
    "ec_cluster_param": "https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/ParameterGroups.Modifying.html",
    "ec_aof": "https://docs.aws.amazon.com/AmazonElastiCache/latest/red-ug/RedisAOF.html",
    "ec_multi_az": "https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/AutoFailover.html",
    "ec_backups": "https://aws.amazon.com/premiumsupport/knowledge-center/fault-tolerance-elasticache/",
    "ec_versions": "https://docs.aws.amazon.com/AmazonElastiCache/latest/red-ug/supported-engine-versions.html",
    "ec_valkey_versions": "https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/supported-engine-versions.html",
    "ec_reserved": "https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/redis-memory-management.html",
    "az_memory": "https://learn.microsoft.com/azure/azure-cache-for-redis/cache-best-practices-memory-management",
    "az_persistence": "https://learn.microsoft.com/azure/azure-cache-for-redis/cache-how-to-premium-persistence",
    "az_versions": "https://azure.microsoft.com/en-us/updates/upgrade-your-azure-cache-for-redis-instances-to-use-"
                   "redis-version-6-by-30-june-2023/",
    "az_retirement": "https://docs.azure.cn/en-us/azure-cache-for-redis/cache-best-practices-memory-management",
    "ms_configs": "https://cloud.google.com/memorystore/docs/redis/supported-redis-configurations",
    "ms_rdb": "https://cloud.google.com/memorystore/docs/redis/about-rdb-snapshots",
    "ms_export": "https://cloud.google.com/memorystore/docs/redis/export-data",
    "ms_export_overview": "https://cloud.google.com/memorystore/docs/redis/import-export-overview",
    "ec_export": "https://docs.aws.amazon.com/sdk-for-kotlin/api/latest/elasticache/aws.sdk.kotlin.services.elasticache."
                 "model/-copy-snapshot-request/target-bucket.html",
    "az_export": "https://learn.microsoft.com/powershell/module/az.rediscache/export-azrediscache",
    "re_backups": "https://redis.io/docs/latest/operate/rs/databases/import-export/schedule-backups/ ; "
                  "https://redis.io/redis-enterprise/technology/backup-disaster-recovery/",
    "ms_versions": "https://cloud.google.com/memorystore/docs/redis/supported-versions",
    "ms_memory": "https://cloud.google.com/memorystore/docs/redis/memory-management-best-practices",
    "ms_cluster_configs": "https://cloud.google.com/memorystore/docs/cluster/supported-instance-configurations",
    "re_hardware": "https://redis.io/docs/latest/operate/rs/installing-upgrading/install/plan-deployment/"
                   "hardware-requirements/",
    "re_memory_limit": "https://redis.io/docs/latest/operate/rs/databases/memory-performance/memory-limit/",
    "re_persistence": "https://redis.io/docs/latest/operate/rs/databases/configure/database-persistence/",
}

# Engine versions each managed service offers, as read on its versions page (major.minor).
OFFERED_VERSIONS = {
    "elasticache": (("4.0", "5.0", "6.0", "6.2", "7.0", "7.1"), "ec_versions"),
    "cache-for-redis": (("6",), "az_versions"),
    "memorystore-redis": (("3.2", "4.0", "5.0", "6.2", "7.0", "7.2"), "ms_versions"),  # its "6.x" is 6.2.13
}


@dataclass(frozen=True)
class ChecklistItem:
    """One thing to do before go-live. ``source``: URL(s) separated by " ; ", or :data:`DERIVED`.
    ``snippet``: configuration text to paste (empty when the action says it all)."""

    topic: str
    title: str
    action: str
    source: str
    snippet: str = ""


@dataclass
class GoLiveChecklist:
    """The checklist of one deployment option. ``usable`` False: Nuxeo cannot run on it (the items say why).
    ``instances``: the catalog rows chosen (``InstanceType.to_dict()``); ``maxmemory_bytes``: the maxmemory
    the chosen node allows, keyed by instance name."""

    option: str
    title: str
    usable: bool
    items: list[ChecklistItem] = field(default_factory=list)
    instances: list[dict] = field(default_factory=list)
    maxmemory_bytes: dict[str, float] = field(default_factory=dict)

    def item(self, topic: str) -> ChecklistItem:
        """The first item of ``topic`` (KeyError when absent)."""
        for it in self.items:
            if it.topic == topic:
                return it
        raise KeyError(topic)

    def topics(self) -> list[str]:
        return [it.topic for it in self.items]


@dataclass(frozen=True)
class MemoryModel:
    """What the sizing says about one Redis node, in bytes (from ``rec.memory``)."""

    maxmemory_bytes: float  # the sized maxmemory
    headroom: float  # share of maxmemory kept free
    per_maxmemory_byte: float  # node RAM per byte of maxmemory (maxmemory + fragmentation + copy-on-write)
    fixed_bytes: float  # node RAM that does not scale with maxmemory (replica buffers, OS reserve)
    node_ram_bytes: float
    bytes_per_work: float | None  # one pending work (None: the target has no works)
    sized_pending_works: float  # steady pending works + the mass operation's peak backlog

    @classmethod
    def of(cls, rec) -> "MemoryModel":
        m, parts = rec.memory, rec.memory["node_parts"]
        maxmem = m["maxmemory_bytes"]
        ratio = (maxmem + parts["fragmentation"] + parts["fork copy-on-write"]) / maxmem
        mo = rec.mass_operation or {}
        steady = rec.traffic.get("steady_pending_works") or 0.0
        bpw = mo.get("bytes_per_work")
        if not bpw and steady:  # no mass operation: the steady works' own size
            bpw = m["parts"]["steady works"] / math.ceil(steady)
        return cls(maxmem, parts["headroom"] / maxmem, ratio,
                   parts["replica output buffers"] + parts["OS reserve"], sum(parts.values()), bpw or None,
                   steady + (mo.get("peak_backlog") or 0.0))

    @property
    def sized_peak_bytes(self) -> float:
        """used_memory at the sized peak: maxmemory less its headroom."""
        return self.maxmemory_bytes * (1 - self.headroom)

    def maxmemory_for_ram(self, ram_bytes: float) -> float:
        """The largest maxmemory a self-managed node of ``ram_bytes`` holds under the same overhead model."""
        return max(0.0, (ram_bytes - self.fixed_bytes) / self.per_maxmemory_byte)

    def extra_works(self, maxmemory_bytes: float) -> float | None:
        """Pending works ``maxmemory_bytes`` absorbs beyond the sized peak, keeping the same headroom."""
        if not self.bytes_per_work:
            return None
        return max(0.0, (maxmemory_bytes - self.maxmemory_bytes) * (1 - self.headroom) / self.bytes_per_work)

    def works_at_maxmemory(self, maxmemory_bytes: float) -> float | None:
        """Pending works at which used_memory reaches ``maxmemory_bytes`` (writes then fail with OOM)."""
        if not self.bytes_per_work:
            return None
        return self.sized_pending_works + max(0.0, maxmemory_bytes - self.sized_peak_bytes) / self.bytes_per_work


# ---------------------------------------------------------------------------------------------- formatting

def _mb(b: float) -> int:
    """Whole MiB, rounded down (a maxmemory never above what was computed)."""
    return int(b // MB)


def _count(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def _pct(x: float) -> str:
    return f"{100 * x:.0f} %"


def _price(it: dict) -> str:
    if it.get("price_usd_per_hour") is None:
        return "no public price recorded"
    return (f"${it['price_usd_per_hour']:.4f}/h on demand ({it['price_region']}, price page dated "
            f"{it['price_date']}, a secondary source: check the vendor's page)")


def _src(*keys: str) -> str:
    return " ; ".join(SRC[k] for k in keys)


# ---------------------------------------------------------------------------------------------- shared items

def _lts(target: TargetLoad) -> str:
    """The Nuxeo LTS to check versions against: ``deployment.nuxeo_lts``, else the business level's version."""
    if target.deployment.nuxeo_lts:
        return target.deployment.nuxeo_lts
    v = target.business.nuxeo_version if target.business is not None else ""
    return {"2021": "2021", "10.10": "2019"}.get(v, "")


def _layout(target: TargetLoad) -> mem.RedisLayout:
    d = target.deployment
    return mem.RedisLayout.for_server(d.server_id, mem.Allocator.parse(d.allocator))


def _documented(lts: str) -> str:
    if not lts:
        return "Nuxeo's documented Redis versions: " + servers.NUXEO_MATRIX_TEXT.split(": ", 1)[1]
    if lts in servers.NUXEO_NO_REDIS:
        return f"Nuxeo LTS {lts} does not support Redis (removed in LTS 2023)"
    ok = servers.NUXEO_SUPPORTED_REDIS[lts]
    return f"Nuxeo LTS {lts} documents Redis {ok[0]}.x to {ok[-1]}.x"


def _in_range(version: str, lts: str) -> bool | None:
    """Whether ``version`` (major.minor, or a bare major) is in the LTS's documented list (None: unknown)."""
    if not lts or lts in servers.NUXEO_NO_REDIS:
        return None
    ok = servers.NUXEO_SUPPORTED_REDIS[lts]
    if "." not in version:
        return True if any(v.startswith(version + ".") for v in ok) else False
    return version in ok


def _target_version_flag(target: TargetLoad, lts: str) -> str:
    flags = servers.nuxeo_support_flags(_layout(target), lts)
    d = target.deployment
    if flags:
        return " Flag: " + flags[0].split("; ", 1)[-1] + "."
    if lts:
        return f" The target's server ({d.server_id}) is within that range."
    return f" The target's server is {d.server_id}; set deployment.nuxeo_lts to check it."


def _versions_item(target: TargetLoad, option: str, lts: str) -> ChecklistItem:
    text = _documented(lts) + "."
    if option in OFFERED_VERSIONS:
        offered, key = OFFERED_VERSIONS[option]
        inside = [v for v in offered if _in_range(v, lts)]
        text += f" The service offers Redis {', '.join(offered)}"
        if lts and lts not in servers.NUXEO_NO_REDIS:
            if not inside:
                text += "; none is in Nuxeo's documented range: validate with Nuxeo support"
            else:
                best = inside[-1]
                text += f"; pick Redis {best}" + (" (confirm the minor version: INFO server redis_version)"
                                                 if "." not in best else "")
                majors = {v.split(".")[0] for v in servers.NUXEO_SUPPORTED_REDIS[lts]}
                near = [v for v in offered if v not in inside and v.split(".")[0] in majors]
                if near:
                    text += f" ({', '.join(near)}: a later minor version than documented)"
        text += "."
        return ChecklistItem("versions", "Redis version", text, _src(key) + " ; " + servers.NUXEO_SOURCE)
    if option == "elasticache-valkey":
        text += (" The service runs Valkey (7.2 and later); Valkey is not mentioned in Nuxeo's documentation, so it "
                 "is outside the documented range: validate with Nuxeo support (the Nuxeo scripts ran unchanged on "
                 "Valkey in rcap's tests).")
        return ChecklistItem("versions", "Engine version", text, _src("ec_valkey_versions") + " ; " + servers.NUXEO_SOURCE)
    if option == "enterprise":
        text += (" Check which open-source Redis version the Redis Enterprise release embeds and compare."
                 + _target_version_flag(target, lts))
        return ChecklistItem("versions", "Redis version", text, servers.NUXEO_SOURCE)
    text += (f" Install {'Redis ' + servers.NUXEO_SUPPORTED_REDIS[lts][-1] + '.x' if lts in servers.NUXEO_SUPPORTED_REDIS else 'a documented version'}"
             " for a supported setup." + _target_version_flag(target, lts))
    return ChecklistItem("versions", "Redis version", text, servers.NUXEO_SOURCE)


def _cluster_item(how: str, source: str) -> ChecklistItem:
    return ChecklistItem(
        "cluster", "Cluster mode disabled",
        "One shard, no Redis Cluster API: Nuxeo's WorkManager Lua scripts touch several keys without hash tags "
        "(nuxeo:work:data, nuxeo:work:queue:<queue> …), which a cluster rejects with CROSSSLOT; KEYS and "
        f"PSUBSCRIBE nuxeo:* also assume one keyspace. {how}",
        _src("nuxeo_scripts") + (" ; " + source if source else ""))


def _eviction_item(how: str, source: str) -> ChecklistItem:
    return ChecklistItem(
        "eviction", "maxmemory-policy noeviction",
        "Nuxeo keeps its job queue and transient data in Redis and cannot work with an evicting Redis: an evicted "
        f"work is lost without error. {how}",
        _src("nuxeo_and_redis") + " ; " + source)


def _replicas(rec, target: TargetLoad) -> int:
    t = rec.topology
    if "data_nodes" in t:
        return int(t["data_nodes"]) - 1
    return target.deployment.replicas


def _monitoring_items(rec, target: TargetLoad, mm: MemoryModel, maxmemory_bytes: float, memory_metric: str = "",
                      metric_source: str = "", of: str = "maxmemory") -> list[ChecklistItem]:
    """Alerts whose thresholds follow from the sizing, with their INFO field names (Redis 7)."""
    steady = math.ceil(rec.traffic.get("steady_pending_works") or 0.0)
    out = [("memory", f"used_memory (INFO memory) above {_pct(mm.sized_peak_bytes / maxmemory_bytes)} of {of} "
                      f"({human_bytes(mm.sized_peak_bytes)}): the sized peak, past which the {_pct(mm.headroom)} headroom is "
                      "being used" + (f"; {memory_metric}" if memory_metric else ""))]
    if mm.bytes_per_work:
        out.append(("pending works", f"HLEN nuxeo:work:data (all queues) above {math.ceil(mm.sized_pending_works):,} "
                                     f"(steady {steady:,} + the mass operation's peak backlog); {of} is reached near "
                                     f"{mm.works_at_maxmemory(maxmemory_bytes):,.0f}"))
    mo = rec.mass_operation or {}
    if mo.get("time_to_drain_s"):
        out.append(("backlog draining", f"pending works still above the steady {steady:,} more than "
                                        f"{mo['time_to_drain_s'] / 60:,.0f} min after a mass operation's peak (its "
                                        "sized drain time): consumers stopped or Elasticsearch slow"))
    c = rec.cpu
    out.append(("main-thread CPU", f"rate of used_cpu_sys_main_thread + used_cpu_user_main_thread (INFO cpu) above "
                                   f"{c['max_utilization']:.2f} CPU-s/s; the sizing expects {c['utilization_peak']:.2f} "
                                   "at peak"))
    replicas = _replicas(rec, target)
    if replicas:
        backlog = mem.NodeOverheads().repl_backlog_bytes
        out.append(("replication", f"master_link_status:up on each replica and connected_slaves:{replicas} on the "
                                   "master; replica lag (master_repl_offset minus the replica's offset) above "
                                   f"repl-backlog-size ({human_bytes(backlog)}): a reconnect would need a full resync (a fork)"))
    clients = int(rec.traffic.get("clients") or 0) + int(rec.traffic.get("subscribers") or 0)
    out.append(("connections", f"connected_clients far from {clients} (Nuxeo's pools); any increase of "
                               "rejected_connections"))
    out.append(("evictions and OOM", "evicted_keys above 0, or errorstat_OOM present (INFO errorstats): Nuxeo writes "
                                     "lost or refused"))
    src = DERIVED + (" ; " + metric_source if metric_source else "")
    return [ChecklistItem("monitoring", f"Alert: {title}", text + ".", src) for title, text in out]


def _maxmemory_item(mm: MemoryModel, rows: list[tuple[str, float]], managed: bool, source: str) -> ChecklistItem:
    parts = []
    for name, allowed in rows:
        extra = mm.extra_works(allowed)
        works = (f", which absorbs about {extra:,.0f} more pending works than the sized peak at the same "
                 "headroom" if extra is not None else "")
        if managed:
            parts.append(f"{name}: usable memory {human_bytes(allowed)} (the vendor sets maxmemory and reserves the rest) "
                         f"vs {human_bytes(mm.maxmemory_bytes)} sized{works}")
        else:
            parts.append(f"{name}: maxmemory {_mb(allowed)}mb fits its RAM (sized {_mb(mm.maxmemory_bytes)}mb)"
                         f"{works}")
    lead = ("Size maxmemory to the RAM actually bought, keeping the node overheads (fragmentation, fork "
            "copy-on-write, replica buffers, OS reserve): the cheapest insurance against OOM. " if not managed else
            "Keep the vendor's reserved memory; the margin of the node bought is the insurance against OOM. ")
    return ChecklistItem("maxmemory", "maxmemory for the node bought", lead + "; ".join(parts) + ".",
                         DERIVED + (" ; " + source if source else ""))


def _instance_item(it: dict, need: str, rec) -> ChecklistItem:
    burst = it["name"].split(".")[0] in ("t3", "t4g", "cache.t3", "cache.t4g") or it["name"].startswith("Standard_B")
    note = (f" Burstable CPU: check its baseline covers the main thread's peak {rec.cpu['utilization_peak']:.2f} "
            "CPU-s/s plus the fork of each snapshot." if burst else "")
    if it["name"].startswith("cache.t4g.small") or it["name"].startswith("cache.t3.small"):
        note += " AWS recommends reserved-memory-percent 30 % on small node types."
    usable = f", {it['usable_memory_gib']:.2f} GiB usable" if it["managed"] else ""
    vcpu = f"{it['vcpu']} vCPU, " if it.get("vcpu") else ""
    return ChecklistItem("instance", f"Node type ({it['provider']} {it['service']})",
                         f"{it['name']}: {vcpu}{it['memory_gib']:g} GiB{usable}; the smallest catalog row that holds "
                         f"{need}. Price: {_price(it)}.{note}",
                         " ; ".join(x for x in (it["source"], it.get("price_source"), DERIVED) if x))


def _pick(catalog: list[InstanceType], rec, maxmemory_bytes: float, node_ram_bytes: float, service: str,
          providers, keep=None) -> list[dict]:
    rows = [it for it in catalog if it.service == service and (keep is None or keep(it))]
    return [i.to_dict() for i in candidates(rows, maxmemory_bytes, node_ram_bytes, rec.network["link_gbps"],
                                            providers)]


# ---------------------------------------------------------------------------------------------- options

def _persistence_lines(persistence: str) -> list[str]:
    if persistence == "rdb":
        return ["save 3600 1 300 100 60 10000        # Redis 7's default snapshot schedule", "appendonly no"]
    if persistence == "aof":
        return ["appendonly yes", "appendfsync everysec"]
    return ['save ""', "appendonly no"]


def _self_managed(rec, target: TargetLoad, mm: MemoryModel, catalog, lts: str, down_after_ms: int | None
                  ) -> GoLiveChecklist:
    d = target.deployment
    replicas = _replicas(rec, target) if rec.topology.get("kind") != "enterprise" else d.replicas
    sentinel = rec.topology.get("kind") != "standalone"  # an Enterprise target's OSS alternative is Sentinel
    cl = GoLiveChecklist("self-managed", "Self-managed VMs (Redis OSS" + (" + Sentinel)" if sentinel else ")"), True)
    sentinels = rec.topology.get("sentinels", max(3, d.sentinels))
    quorum = rec.topology.get("quorum", sentinels // 2 + 1)
    cl.items.append(_eviction_item(
        "Set maxmemory-policy noeviction in redis.conf (Redis's own default, but set it explicitly).",
        _src("redis_admin")))
    cl.items.append(_cluster_item("Run plain replication (cluster-enabled no), Sentinel for failover.", ""))
    disk = rec.disk
    cl.items.append(ChecklistItem(
        "persistence", f"Persistence: {disk['persistence']}",
        f"The sizing's persistence is {disk['persistence']}: "
        + (f"plan {human_bytes(disk['bytes'])} of disk per data node ({disk['rule']})." if disk["bytes"] else
           "no disk for persistence; a restart or a crash of every node loses the pending works.")
        + " Nuxeo recommends persistence for the required service level and RDB copies as "
        "backups; master/replica replication gives fast recovery (Nuxeo never reads replicas).",
        _src("nuxeo_redis_conf", "redis_persistence") + " ; " + DERIVED))
    cl.items.append(_versions_item(target, "self-managed", lts))
    conf = [f"maxmemory {_mb(mm.maxmemory_bytes)}mb              # sized; or the larger value of the maxmemory item "
            "for your VM", "maxmemory-policy noeviction"] + _persistence_lines(disk["persistence"])
    if replicas >= 2:
        conf += ["min-replicas-to-write 1", "min-replicas-max-lag 10"]
    cl.items.append(ChecklistItem("config", "redis.conf (every data node)",
                                  "Paste on the master and the replicas (replicas add replicaof <master-host> 6379).",
                                  DERIVED + " ; " + _src("redis_admin"), "\n".join(conf)))
    if replicas >= 2:
        cl.items.append(ChecklistItem(
            "config", "min-replicas-to-write 1 (set)",
            f"With {replicas} replicas the master keeps accepting writes while one replica is down, and refuses "
            "them when it is cut off from all of them for 10 s: bounds what a partitioned old master acknowledges "
            "and later loses.", _src("redis_sentinel")))
    elif replicas == 1:
        cl.items.append(ChecklistItem(
            "config", "min-replicas-to-write (not set)",
            "Leave it unset with 1 replica: with that replica down, or right after a failover, the master would "
            "refuse every write and the Nuxeo WorkManager would stop. Consider it only with 2 replicas or more.",
            _src("redis_sentinel")))
    else:
        cl.items.append(ChecklistItem(
            "config", "min-replicas-to-write (not set)",
            "No replica: the setting does not apply (it would make the master refuse every write).",
            _src("redis_sentinel")))
    if sentinel:
        down = down_after_ms or rec.topology.get("down_after_ms") or 30000
        why = ("" if down_after_ms or rec.topology.get("down_after_ms") else
               "  # Sentinel's default; the HA section derives the value for the outage objective")
        snt = [f"sentinel monitor mymaster <master-host> 6379 {quorum}",
               f"sentinel down-after-milliseconds mymaster {down}{why}",
               "sentinel parallel-syncs mymaster 1"]
        cl.items.append(ChecklistItem("config", f"sentinel.conf ({_count(sentinels, 'Sentinel')}, quorum {quorum})",
                                      f"Run {sentinels} Sentinels on independent failure domains; quorum {quorum} "
                                      "(majority).", DERIVED + " ; " + _src("redis_sentinel"), "\n".join(snt)))
    nx = ["nuxeo.templates=<your templates>,redis", "nuxeo.redis.enabled=true", "nuxeo.redis.prefix=nuxeo:"]
    if sentinel:
        nx += ["nuxeo.redis.ha.enabled=true", "nuxeo.redis.ha.master=mymaster",
               "nuxeo.redis.ha.hosts=" + ",".join(f"<sentinel-{i + 1}>" for i in range(sentinels)),
               "nuxeo.redis.ha.port=26379"]
    else:
        nx += ["nuxeo.redis.host=<redis-host>", "nuxeo.redis.port=6379"]
    nx += ["nuxeo.redis.password=<from your secret store>"]
    if d.tls and not sentinel:
        nx += ["nuxeo.redis.ssl=true"]
    cl.items.append(ChecklistItem("config", "nuxeo.conf (every Nuxeo node)",
                                  "Host names are placeholders." + (" TLS: nuxeo.redis.ssl applies in server mode "
                                                                    "only, not with Sentinel." if d.tls else ""),
                                  _src("nuxeo_conf_props"), "\n".join(nx)))
    cl.items.append(ChecklistItem(
        "config", "OS settings (every data node)",
        "vm.overcommit_memory=1 so that the fork for a snapshot or a replica's full sync does not fail when the "
        "kernel counts the child's possible copy of the dataset; transparent huge pages off, because after a fork "
        "they make copy-on-write copy 2 MB pages (latency spikes, more memory).",
        _src("redis_admin"),
        "sysctl -w vm.overcommit_memory=1     # and in /etc/sysctl.conf\n"
        "echo never > /sys/kernel/mm/transparent_hugepage/enabled"))
    cl.items += _monitoring_items(rec, target, mm, mm.maxmemory_bytes)
    cl.items.append(ChecklistItem(
        "backups", "Backups",
        "Copy the RDB file (dump.rdb, after a successful BGSAVE: rdb_last_bgsave_status:ok) off-site on a schedule; "
        "Nuxeo's documentation recommends RDB files as backups, saved off-site. Restore: stop Nuxeo, put the file "
        "in place, start Redis.", _src("nuxeo_redis_conf", "redis_persistence")))
    vms = [it for it in (_pick(catalog, rec, 0, mm.node_ram_bytes, s, tuple(d.providers) or None)
                         for s in ("ec2", "vm", "compute-engine")) for it in it]
    need = f"a data node's {human_bytes(mm.node_ram_bytes)} RAM"
    for it in vms:
        cl.items.append(_instance_item(it, need, rec))
        cl.maxmemory_bytes[it["name"]] = mm.maxmemory_for_ram(it["memory_gib"] * GIB)
    cl.instances = vms
    cl.items.append(_maxmemory_item(mm, list(cl.maxmemory_bytes.items()), False, ""))
    return cl


def _enterprise(rec, target: TargetLoad, mm: MemoryModel, catalog, lts: str) -> GoLiveChecklist:
    from analysis import ha  # noqa: PLC0415

    d = target.deployment
    cl = GoLiveChecklist("enterprise", "Redis Enterprise Software", True)
    # the Enterprise sizing is the HA section's (analysis.ha.enterprise_plan): the topology itself, or the
    # option the sizing attaches to a Sentinel or standalone recommendation
    topo = rec.topology if rec.topology.get("kind") == "enterprise" else rec.topology["enterprise_option"]
    cl.items.append(_eviction_item(
        "Set the database's eviction policy to noeviction (database configuration); check the database's default "
        "eviction policy rather than assume it.", _src("re_memory_limit")))
    cl.items.append(_cluster_item("One shard (no database clustering), with its replica on another node; the "
                                  "OSS Cluster API stays off.", _src("re_hardware")))
    p = rec.disk["persistence"]
    choice = {"rdb": "a snapshot schedule", "aof": "AOF fsync every 1 s", "none": "None"}[p]
    cl.items.append(ChecklistItem(
        "persistence", f"Persistence: {p}",
        f"Set the database's persistence to {choice} (options: none, AOF every write or every second, snapshots "
        f"every 1, 6 or 12 h). Persistent disk: at least 3 × RAM per node.",
        _src("re_persistence", "re_hardware")))
    cl.items.append(_versions_item(target, "enterprise", lts))
    cl.items.append(ChecklistItem(
        "config", "Database settings",
        f"{topo['nodes']} nodes; one database, 1 shard + {_count(d.replicas, 'replica')}, memory limit "
        f"{human_bytes(topo['database_bytes'])} (replication doubles memory); each node keeps 30 % of its RAM free, "
        "≥ 8 GB RAM and ≥ 2 cores.", DERIVED + " ; " + _src("re_hardware", "re_memory_limit"),
        "\n".join(["nuxeo.templates=<your templates>,redis", "nuxeo.redis.enabled=true",
                   "nuxeo.redis.host=<database endpoint>", "nuxeo.redis.port=<database port>",
                   "nuxeo.redis.password=<from your secret store>", "nuxeo.redis.prefix=nuxeo:"]
                  + (["nuxeo.redis.ssl=true"] if d.tls else []))))
    cl.items.append(ChecklistItem("config", "OS settings",
                                  "Follow Redis Enterprise's installation prerequisites for each node's OS.",
                                  _src("re_hardware")))
    cl.items += _monitoring_items(rec, target, mm, mm.maxmemory_bytes)
    cl.items.append(ChecklistItem(
        "backups", "Backups",
        "Schedule the database's periodic backup (every 24, 12, 4 or 1 h) to storage off the cluster (Amazon S3, "
        "Azure Blob Storage, Google Cloud Storage, FTP); Nuxeo recommends RDB copies off-site.",
        _src("re_backups", "nuxeo_redis_conf")))
    vms = [it for it in (_pick(catalog, rec, 0, topo["node_ram_bytes"], s, tuple(d.providers) or None)
                         for s in ("ec2", "vm", "compute-engine")) for it in it]
    for it in vms:
        cl.items.append(_instance_item(it, f"a node's {human_bytes(topo['node_ram_bytes'])} RAM (30 % free)", rec))
        cl.maxmemory_bytes[it["name"]] = (it["memory_gib"] * GIB * (1 - ha.ENTERPRISE_FREE_RAM)
                                          / (1 + rec.memory["node_parts"]["fragmentation"] / mm.maxmemory_bytes))
    cl.instances = vms
    cl.items.append(ChecklistItem(
        "maxmemory", "Database memory limit for the nodes bought",
        "; ".join(f"{n}: a shard up to {human_bytes(b)} keeps 30 % of the node free"
                  + (f" (about {mm.extra_works(b):,.0f} more pending works than the sized peak)"
                     if mm.extra_works(b) is not None else "")
                  for n, b in cl.maxmemory_bytes.items()) + ".", DERIVED + " ; " + _src("re_hardware")))
    return cl


def _managed(option: str, rec, target: TargetLoad, mm: MemoryModel, catalog, lts: str) -> GoLiveChecklist:
    d = target.deployment
    providers = tuple(d.providers) or None
    p = rec.disk["persistence"]
    insts = _pick(catalog, rec, mm.maxmemory_bytes, mm.node_ram_bytes, option, providers,
                  offers_persistence if p != "none" else None)  # the sizing's rule (analysis.catalog)
    nx = ["nuxeo.templates=<your templates>,redis", "nuxeo.redis.enabled=true",
          "nuxeo.redis.host=<primary endpoint>", "nuxeo.redis.port=6379",
          "nuxeo.redis.password=<from your secret store>", "nuxeo.redis.prefix=nuxeo:"] + (
        ["nuxeo.redis.ssl=true"] if d.tls else [])
    if option in ("elasticache", "elasticache-valkey"):
        engine = "Valkey" if option == "elasticache-valkey" else "Redis OSS"
        cl = GoLiveChecklist(option, f"AWS ElastiCache for {engine}", True)
        cl.items.append(_eviction_item(
            "ElastiCache's default maxmemory-policy is volatile-lru and its default parameter groups cannot be "
            "modified: create a custom parameter group with maxmemory-policy noeviction and assign it.",
            _src("ec_policy_default", "ec_param_groups")))
        cl.items.append(_cluster_item("Create a replication group with cluster mode disabled (one shard: a primary "
                                      "and its replicas); cluster-enabled no.", _src("ec_cluster_param")))
        cl.items.append(ChecklistItem(
            "persistence", "Persistence: replicas, Multi-AZ and snapshots",
            "No AOF on Redis OSS 2.8.22 and later, and AOF is off for Multi-AZ groups: durability comes from "
            "replicas in other Availability Zones with Multi-AZ automatic failover, plus daily automatic backups "
            "(RDB snapshots to S3)." + (" The sizing's AOF is not available here: accept the snapshot's loss window "
                                        "or choose another option." if p == "aof" else "")
            + (" Check the same for the Valkey engine." if option == "elasticache-valkey" else ""),
            _src("ec_aof", "ec_multi_az", "ec_backups")))
        cl.items.append(_versions_item(target, option, lts))
        cl.items.append(ChecklistItem(
            "config", "Parameter group and nuxeo.conf",
            "Custom parameter group of the engine's family; keep reserved-memory-percent at its 25 % default "
            f"(do not lower it); Multi-AZ on, {_count(max(1, _replicas(rec, target)), 'replica')}; Nuxeo connects "
            "to the primary endpoint (server mode, not Sentinel).",
            _src("ec_param_groups", "ec_reserved", "nuxeo_conf_props"),
            "maxmemory-policy = noeviction\ncluster-enabled = no\nreserved-memory-percent = 25\n\n" + "\n".join(nx)))
        cl.items += _monitoring_items(rec, target, mm, _usable(insts, mm),
                                         "the service's memory-usage metric for the same threshold",
                                         _src("ec_reserved"), of="usable memory")
        cl.items.append(ChecklistItem(
            "backups", "Backups",
            "Enable daily automatic backups (retention up to 35 days) and copy a snapshot to your own S3 bucket "
            "(CopySnapshot with a target bucket) for an off-site copy, as Nuxeo recommends for RDB files.",
            _src("ec_backups", "ec_export", "nuxeo_redis_conf")))
        source = _src("ec_reserved")
    elif option == "cache-for-redis":
        cl = GoLiveChecklist(option, "Azure Cache for Redis", True)
        cl.items.append(_eviction_item(
            "Azure's default policy is volatile-lru: set Maxmemory policy to noeviction in the cache's Advanced "
            "settings (maxmemory-policy).", _src("az_memory")))
        cl.items.append(_cluster_item("Leave clustering off (a Premium option).", _src("az_persistence")))
        cl.items.append(ChecklistItem(
            "persistence", "Persistence: Premium tier only",
            "Basic and Standard caches have no persistence; Premium offers RDB or AOF to your storage account."
            + (f" The sizing's persistence is {p}: a Premium size is chosen below." if p != "none" else
               " The sizing asks for none: Standard is enough (replicated, no persistence).")
            + " Microsoft has announced the retirement of Azure Cache for Redis: check the date and Azure Managed "
              "Redis before committing.", _src("az_persistence", "az_retirement")))
        cl.items.append(_versions_item(target, option, lts))
        cl.items.append(ChecklistItem(
            "config", "Advanced settings and nuxeo.conf",
            "Keep maxmemory-reserved and maxfragmentationmemory-reserved at least at their 10 % defaults.",
            _src("az_memory", "nuxeo_conf_props"),
            "maxmemory-policy: noeviction\n" + ("persistence: " + ("RDB (backup frequency as required)" if p == "rdb"
                                                                   else "AOF") + "\n" if p != "none" else "")
            + "\n" + "\n".join(nx)))
        cl.items += _monitoring_items(rec, target, mm, _usable(insts, mm),
                                         "Azure metric Used Memory Percentage for the same threshold",
                                         _src("az_memory"), of="usable memory")
        cl.items.append(ChecklistItem(
            "backups", "Backups",
            "Persistence is not a backup: export the cache (RDB) to a storage container on a schedule for off-site "
            "copies, as Nuxeo recommends; check that the tier chosen offers export.",
            _src("az_persistence", "az_export", "nuxeo_redis_conf")))
        source = _src("az_memory")
    elif option == "memorystore-redis":
        cl = GoLiveChecklist(option, "GCP Memorystore for Redis", True)
        cl.items.append(_eviction_item(
            "Memorystore's default maxmemory policy is volatile-lru: set the Redis configuration "
            "maxmemory-policy=noeviction at creation or update (no restart needed).", _src("ms_configs")))
        cl.items.append(_cluster_item("Use Memorystore for Redis (one primary, Standard tier replicas), not "
                                      "Memorystore for Redis Cluster.", ""))
        cl.items.append(ChecklistItem(
            "persistence", "Persistence: RDB snapshots",
            "Standard tier for high availability (replicas, automatic failover) with RDB snapshots enabled "
            "(interval 1 h to 24 h); recovery is from the latest snapshot."
            + (" AOF is not offered by these pages: accept the snapshot's loss window or choose another option."
               if p == "aof" else ""), _src("ms_rdb")))
        cl.items.append(_versions_item(target, option, lts))
        cl.items.append(ChecklistItem(
            "config", "Redis configuration and nuxeo.conf",
            "Memorystore sets maxmemory-gb to the capacity; lower it to 80 % of capacity before an export, "
            "scaling or upgrade (fork).", _src("ms_configs", "ms_memory", "nuxeo_conf_props"),
            "maxmemory-policy=noeviction\ntier: Standard\npersistence: RDB snapshots\n\n" + "\n".join(nx)))
        cl.items += _monitoring_items(rec, target, mm, _usable(insts, mm),
                                         "system memory usage ratio above 80 %", _src("ms_memory"),
                                         of="usable memory")
        cl.items.append(ChecklistItem(
            "backups", "Backups",
            "RDB snapshots serve the service's own recovery and cannot be downloaded: export the instance (an RDB "
            "file) to a Cloud Storage bucket on a schedule for off-site copies, as Nuxeo recommends; run exports at "
            "low write load (the fork can double memory).",
            _src("ms_rdb", "ms_export", "ms_export_overview", "nuxeo_redis_conf")))
        source = _src("ms_memory")
    else:
        raise ValueError(option)
    for it in insts:
        cl.items.append(_instance_item(it, f"maxmemory {human_bytes(mm.maxmemory_bytes)} in its usable memory", rec))
        cl.maxmemory_bytes[it["name"]] = it["usable_memory_gib"] * GIB
    if not insts:
        cl.items.append(ChecklistItem("instance", "Node type",
                                      f"No catalog row holds maxmemory {human_bytes(mm.maxmemory_bytes)}.", DERIVED))
    cl.instances = insts
    cl.items.append(_maxmemory_item(mm, list(cl.maxmemory_bytes.items()), True, source))
    return cl


def _usable(insts: list[dict], mm: MemoryModel) -> float:
    return insts[0]["usable_memory_gib"] * GIB if insts else mm.maxmemory_bytes


def _not_usable_cluster() -> GoLiveChecklist:
    return GoLiveChecklist("memorystore-cluster", "GCP Memorystore for Redis Cluster", False, [
        ChecklistItem("cluster", "Not usable: cluster-only API",
                      "The service offers only the Redis Cluster API; Nuxeo's WorkManager scripts touch keys in "
                      "several hash slots in one call and fail with CROSSSLOT. Use Memorystore for Redis instead.",
                      _src("nuxeo_scripts", "ms_cluster_configs"))])


MANAGED = ("elasticache", "elasticache-valkey", "cache-for-redis", "memorystore-redis")
PROVIDER = {"elasticache": "aws", "elasticache-valkey": "aws", "cache-for-redis": "azure",
            "memorystore-redis": "gcp", "memorystore-cluster": "gcp"}


def checklists(rec, target: TargetLoad, *, catalog_path: str | None = None,
               down_after_ms: int | None = None) -> list[GoLiveChecklist]:
    """One checklist per deployment option for the sizing ``rec`` (``analysis.sizing.size(target)``).

    Managed services are those the catalog lists (restricted to ``deployment.providers`` when given).
    ``down_after_ms``: Sentinel's down-after-milliseconds to write (default: ``rec.topology['down_after_ms']``
    when the sizing gives one, else Sentinel's default 30,000 ms, said so in the snippet).
    """
    catalog = load_catalog(catalog_path)
    mm = MemoryModel.of(rec)
    lts = _lts(target)
    providers = set(target.deployment.providers)
    services = {it.service for it in catalog}
    out = [_self_managed(rec, target, mm, catalog, lts, down_after_ms), _enterprise(rec, target, mm, catalog, lts)]
    for option in MANAGED:
        if option in services and (not providers or PROVIDER[option] in providers):
            out.append(_managed(option, rec, target, mm, catalog, lts))
    if "memorystore-cluster" in services and (not providers or "gcp" in providers):
        out.append(_not_usable_cluster())
    return out
