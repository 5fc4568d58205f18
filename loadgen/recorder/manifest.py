"""What a run's ``manifest.json`` says about the host, the software and the Redis server.

Everything here is read-only: ``INFO server`` and ``CONFIG GET`` on the target, ``/proc`` and psutil
on the host. The manifest layout is documented in ``data/README.md``.
"""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

import loadgen
from rcapcore.paths import checkout_root

MANIFEST_VERSION = 1
_CONFIG_KEYS = ("maxmemory", "maxmemory-policy", "appendonly", "appendfsync", "save", "io-threads",
                "io-threads-do-reads", "hz", "repl-backlog-size", "client-output-buffer-limit")


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def git_sha(repo_dir: Path | None = None) -> str | None:
    """The rcap checkout's commit, with ``-dirty`` when it has uncommitted changes (None outside git,
    and for an installed wheel, whose version ``rcap`` then says what ran)."""
    repo_dir = repo_dir or checkout_root()
    if repo_dir is None:
        return None
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo_dir, capture_output=True,
                             text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo_dir,
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{sha}-dirty" if dirty else sha


def software() -> dict[str, Any]:
    """Versions of rcap and of the libraries that shape the measurement."""
    return {
        "rcap": loadgen.__version__,
        "rcap_git_sha": git_sha(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "locust": _version("locust"),
        "redis_py": _version("redis"),
        "hiredis": _version("hiredis"),
        "hdrhistogram": _version("hdrhistogram"),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def host() -> dict[str, Any]:
    """The load machine: CPU model, cores, RAM (bytes), OS."""
    return {
        "hostname": platform.node(),
        "cpu_model": _cpu_model(),
        "cpu_logical_cores": psutil.cpu_count(logical=True),
        "cpu_physical_cores": psutil.cpu_count(logical=False),
        "ram_bytes": psutil.virtual_memory().total,
        "os": f"{platform.system()} {platform.release()}",
        "load_avg_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def server_identity(info: dict[str, Any]) -> dict[str, Any]:
    """Family, version and build from ``INFO server``. Valkey says ``server_name:valkey`` and
    ``valkey_version`` next to a frozen ``redis_version:7.2.4`` (compatibility only), so the family's own
    version is the one that tells the memory layout."""
    valkey = "valkey_version" in info or str(info.get("server_name", "")).lower() == "valkey"
    family = "valkey" if valkey else "redis"
    version = info.get("valkey_version") if valkey else info.get("redis_version")
    build = {k: info.get(k) for k in ("redis_build_id", "redis_git_sha1", "redis_git_dirty", "gcc_version")
             if info.get(k) not in (None, "", 0, "0", "00000000")}
    return {"server_family": family, "server_version": str(version) if version is not None else None,
            "server": f"{family}-{version}" if version is not None else None, "build": build}


def server(client: Any) -> tuple[dict[str, Any], list[str]]:
    """Redis version, allocator, binary and the settings that matter, from one node.

    Returns ``(settings, warnings)``. ``CONFIG GET`` is refused on some managed services (Redis
    Enterprise, ElastiCache); the settings are then ``None`` and a warning says so.
    """
    warnings: list[str] = []
    info = client.info("server")
    out: dict[str, Any] = {
        **server_identity(info),
        "redis_version": info.get("redis_version"),
        "redis_mode": info.get("redis_mode"),
        "executable": info.get("executable"),
        "os": info.get("os"),
        "arch_bits": info.get("arch_bits"),
    }
    mem = client.info("memory")
    out["mem_allocator"] = mem.get("mem_allocator")
    out["maxmemory_bytes"] = mem.get("maxmemory")
    out["maxmemory_policy"] = mem.get("maxmemory_policy")
    config: dict[str, Any] = {}
    try:
        for key in _CONFIG_KEYS:
            config.update(client.config_get(key))
    except Exception as exc:  # noqa: BLE001  (refused or renamed CONFIG)
        warnings.append(f"CONFIG GET refused by the server ({type(exc).__name__}); settings unknown")
    out["config"] = config
    aof = config.get("appendonly")
    save = config.get("save")
    if config:
        kinds = [k for k, on in (("rdb", bool(save)), ("aof", aof == "yes")) if on]
        out["persistence"] = "+".join(kinds) or "none"
        out["io_threads"] = int(config["io-threads"]) if config.get("io-threads") else None
    else:
        out["persistence"] = None
        out["io_threads"] = None
    if out["mem_allocator"] and not str(out["mem_allocator"]).startswith("jemalloc"):
        warnings.append(f"Redis uses {out['mem_allocator']}, not jemalloc as production does: "
                        "memory figures differ")
    return out, warnings
