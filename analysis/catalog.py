"""The instance catalog (``data/catalog/instance-types.csv``): node types and vendor memory rules.

Each row's figures cite a public source (see ``data/catalog/README.md``). Memory in bytes in the API,
GiB in the file; network in Gbit/s.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

from rcapcore.errors import BadInput
from rcapcore.paths import shipped

GIB = 1024 ** 3
DEFAULT_PATH = shipped("catalog") / "instance-types.csv"
COLUMNS = ("provider", "service", "name", "vcpu", "memory_gib", "network_gbps", "usable_memory_fraction",
           "cluster_only", "source")
# optional: an on-demand price where a public price page was read (empty cells: no public price recorded)
PRICE_COLUMNS = ("price_usd_per_hour", "price_region", "price_date", "price_source")


@dataclass(frozen=True)
class InstanceType:
    """One node type. ``usable_memory_fraction`` None = a plain VM (rcap sizes its RAM itself)."""

    provider: str
    service: str
    name: str
    vcpu: int | None
    memory_bytes: float
    network_gbps: float | None
    usable_memory_fraction: float | None
    cluster_only: bool
    source: str
    price_usd_per_hour: float | None = None  # on-demand, Linux, one node; None: no public price recorded
    price_region: str = ""
    price_date: str = ""  # date of the price page read (ISO)
    price_source: str = ""

    @property
    def managed(self) -> bool:
        return self.usable_memory_fraction is not None

    @property
    def usable_memory_bytes(self) -> float:
        """Dataset bytes the vendor lets you use (managed) or the whole RAM (VM)."""
        return self.memory_bytes * (self.usable_memory_fraction or 1.0)

    def to_dict(self) -> dict:
        return {"provider": self.provider, "service": self.service, "name": self.name, "vcpu": self.vcpu,
                "memory_gib": self.memory_bytes / GIB, "network_gbps": self.network_gbps,
                "usable_memory_gib": self.usable_memory_bytes / GIB, "managed": self.managed,
                "source": self.source, "price_usd_per_hour": self.price_usd_per_hour,
                "price_region": self.price_region, "price_date": self.price_date, "price_source": self.price_source}


def _num(text: str, path, line: int, col: str, kind=float):
    if text.strip() == "":
        return None
    try:
        value = kind(text)
    except ValueError:
        raise BadInput(f"{path}:{line}: column {col}: {text!r} is not a number") from None
    if value < 0 or (isinstance(value, float) and math.isnan(value)):
        raise BadInput(f"{path}:{line}: column {col}: must be >= 0")
    return value


def load_catalog(path: str | Path | None = None) -> list[InstanceType]:
    """Read the catalog; a malformed row raises ``BadInput`` naming the file and line."""
    path = Path(path or DEFAULT_PATH)
    if not path.exists():
        raise BadInput(f"instance catalog {path} not found")
    out = []
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        if tuple(reader.fieldnames or ()) not in (COLUMNS, COLUMNS + PRICE_COLUMNS):
            raise BadInput(f"{path}:1: columns must be {','.join(COLUMNS)}[,{','.join(PRICE_COLUMNS)}]")
        for row in reader:
            line = reader.line_num
            if not row["source"].strip():
                raise BadInput(f"{path}:{line}: every row must cite its source")
            mem = _num(row["memory_gib"], path, line, "memory_gib")
            if not mem:
                raise BadInput(f"{path}:{line}: memory_gib is required")
            frac = _num(row["usable_memory_fraction"], path, line, "usable_memory_fraction")
            if frac is not None and not 0 < frac <= 1:
                raise BadInput(f"{path}:{line}: usable_memory_fraction must be in (0, 1]")
            price = _num(row.get("price_usd_per_hour") or "", path, line, "price_usd_per_hour")
            when, where, cite = ((row.get(c) or "").strip() for c in ("price_date", "price_region", "price_source"))
            if price is not None and not (when and where and cite):
                raise BadInput(f"{path}:{line}: a price needs its price_region, price_date and price_source")
            out.append(InstanceType(row["provider"].strip(), row["service"].strip(), row["name"].strip(),
                                    _num(row["vcpu"], path, line, "vcpu", int), mem * GIB,
                                    _num(row["network_gbps"], path, line, "network_gbps"), frac,
                                    row["cluster_only"].strip().lower() == "true", row["source"].strip(),
                                    price, where, when, cite))
    return out


NO_PERSISTENCE_TIERS = {"cache-for-redis": ("Basic", "Standard")}
"""Managed tiers that offer no persistence: Azure Cache for Redis Basic and Standard (Premium only;
https://learn.microsoft.com/azure/azure-cache-for-redis/cache-how-to-premium-persistence)."""


def offers_persistence(it: InstanceType) -> bool:
    """Whether the node type can persist its dataset (RDB/AOF or the service's own)."""
    return not it.name.startswith(NO_PERSISTENCE_TIERS.get(it.service, ()))


def candidates(catalog: list[InstanceType], maxmemory_bytes: float, node_ram_bytes: float,
               network_gbps: float = 0.0, providers: tuple[str, ...] | None = None,
               single_shard: bool = True, persistence: bool = False) -> list[InstanceType]:
    """The smallest fitting node type per (provider, service): least memory, then fewest vCPUs, then the
    lowest recorded price (rows without a price after priced ones), then the catalog's order.

    A managed node fits when its usable memory holds ``maxmemory_bytes`` (the vendor's reserve covers the
    rest); a VM fits when its RAM holds ``node_ram_bytes``. Cluster-only services are skipped when the
    workload needs a single shard (the WorkManager). With ``persistence``, tiers that cannot persist
    (:func:`offers_persistence`) are skipped.
    """
    best: dict[tuple[str, str], InstanceType] = {}
    for it in catalog:
        if providers and it.provider not in providers:
            continue
        if single_shard and it.cluster_only:
            continue
        if persistence and not offers_persistence(it):
            continue
        need = maxmemory_bytes if it.managed else node_ram_bytes
        if it.usable_memory_bytes < need:
            continue
        if it.network_gbps is not None and it.network_gbps < network_gbps:
            continue
        key = (it.provider, it.service)
        if key not in best or _size_key(it) < _size_key(best[key]):
            best[key] = it
    return sorted(best.values(), key=lambda i: (i.provider, i.service))


def _size_key(it: InstanceType) -> tuple:
    return (it.memory_bytes, it.vcpu or 0, it.price_usd_per_hour is None, it.price_usd_per_hour or 0.0)
