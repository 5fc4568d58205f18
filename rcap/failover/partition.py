"""Network partitions between loopback addresses, with iptables.

Each node of a ``bind_hosts=True`` topology listens on its own address (127.0.0.10, .11, …) and binds
its outgoing connections to it, so DROP rules on address pairs cut the master off from its replicas
and sentinels while the load generator (source 127.0.0.1) still reaches it: Jepsen's "old master in
a minority" scenario.

The rules live in a dedicated chain ``RCAP-PART-<pid>`` jumped to from INPUT, so a crashed run can be
cleaned by name (:func:`remove_stale_chains`) and nothing else in the firewall is touched.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field

from rcapcore.errors import BadInput, TopologyError

CHAIN_PREFIX = "RCAP-PART-"
_CHAIN_RE = re.compile(rf"^{CHAIN_PREFIX}(\d+)$")


def _iptables() -> str:
    path = shutil.which("iptables") or next(
        (p for p in ("/usr/sbin/iptables", "/sbin/iptables") if os.access(p, os.X_OK)), None)
    if not path:
        raise TopologyError("iptables not found: partition experiments need it "
                            "(Debian package iptables, installed by scripts/install-system.sh)")
    return path


def _run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([_iptables(), "-w", "5", *args], capture_output=True, text=True, timeout=20)
    if check and proc.returncode != 0:
        raise TopologyError(f"iptables {' '.join(args)} failed: {proc.stderr.strip() or proc.returncode}")
    return proc


def check_available() -> None:
    """Raise ``TopologyError`` (one line) if iptables cannot be used here (missing, not root)."""
    proc = _run("-S", "INPUT", check=False)
    if proc.returncode != 0:
        raise TopologyError(f"iptables cannot be used here ({proc.stderr.strip() or 'not root?'}): "
                            "partition experiments need root and iptables")


def _loopback(addr: str) -> str:
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        raise BadInput(f"partition address {addr!r} is not an IPv4 address") from None
    if not ip.is_loopback:
        raise BadInput(f"partition address {addr} is not a loopback address (rcap only cuts 127.0.0.0/8)")
    return str(ip)


@dataclass
class Partition:
    """DROP every packet between ``isolated`` and each address of ``peers`` (both directions).

    Use as a context manager, or :meth:`cut` / :meth:`heal` (idempotent; :meth:`heal` always removes the
    chain). ``cut_at``/``healed_at`` are epoch seconds.
    """

    isolated: str
    peers: list[str]
    chain: str = field(default_factory=lambda: f"{CHAIN_PREFIX}{os.getpid()}")
    cut_at: float | None = None
    healed_at: float | None = None

    def __post_init__(self) -> None:
        self.isolated = _loopback(self.isolated)
        self.peers = sorted({_loopback(p) for p in self.peers} - {self.isolated})
        if not self.peers:
            raise BadInput("a partition needs at least one peer address different from the isolated one")
        if self.isolated == "127.0.0.1" or "127.0.0.1" in self.peers:
            raise BadInput("127.0.0.1 is the load generator's address: start the topology with bind_hosts=True")

    def cut(self) -> None:
        check_available()
        self.heal()  # a leftover chain from an earlier cut in this process
        _run("-N", self.chain)
        try:
            for peer in self.peers:
                _run("-A", self.chain, "-s", self.isolated, "-d", peer, "-j", "DROP")
                _run("-A", self.chain, "-s", peer, "-d", self.isolated, "-j", "DROP")
            self.cut_at = time.time()  # the jump below is what cuts: every rule takes effect at once
            _run("-I", "INPUT", "1", "-j", self.chain)
        except BaseException:
            self.heal()
            raise

    def heal(self) -> None:
        was_cut = _remove_chain(self.chain)
        if was_cut and self.cut_at is not None:
            self.healed_at = time.time()

    def __enter__(self) -> Partition:
        self.cut()
        return self

    def __exit__(self, *exc) -> None:
        self.heal()


def _remove_chain(chain: str) -> bool:
    """Unhook and delete ``chain``; True if it existed."""
    while _run("-D", "INPUT", "-j", chain, check=False).returncode == 0:
        pass
    if _run("-F", chain, check=False).returncode != 0:
        return False
    _run("-X", chain, check=False)
    return True


def remove_stale_chains() -> list[str]:
    """Delete ``RCAP-PART-<pid>`` chains whose process is gone (left by a crashed run)."""
    removed = []
    proc = _run("-S", check=False)
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "-N":
            match = _CHAIN_RE.match(parts[1])
            if match and not _pid_exists(int(match.group(1))):
                _remove_chain(parts[1])
                removed.append(parts[1])
    return removed


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
