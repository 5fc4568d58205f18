"""Child processes of a topology: free loopback ports, spawning, liveness and stopping.

Every child runs in its own session (so a terminal's Ctrl-C reaches only the owner, which then tears
down). A child started for a Python owner (tests, notebooks) also gets ``PR_SET_PDEATHSIG`` = SIGKILL,
so a killed owner never leaves an orphan. The signal follows the *thread* that spawned the child:
start topologies from a long-lived thread (normally the main one).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import random
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass

import psutil

from rcapcore.errors import TopologyError

PR_SET_PDEATHSIG = 1
CLUSTER_BUS_OFFSET = 10000
# Random ports come from below the usual ephemeral range, so port + 10000 (cluster bus) stays valid.
_PORT_LOW, _PORT_HIGH = 20000, 45000


def port_is_free(host: str, port: int) -> bool:
    """True if a TCP listener could bind ``host:port`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def accepts(host: str, port: int, timeout_s: float = 0.5) -> bool:
    """True if something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


class PortAllocator:
    """Hands out ports for one topology: consecutive from ``base`` (checked, ``TopologyError`` if taken),
    or random free ones. ``bus=True`` also needs port + 10000 free (cluster bus)."""

    def __init__(self, base: int | None = None):
        if base is not None and not 1024 <= base <= 65535 - 64:
            raise TopologyError(f"--port-base {base} is out of range (1024..65471)")
        self.base = base
        self._next = base
        self._given: set[int] = set()

    def take(self, host: str, *, bus: bool = False) -> int:
        if self._next is not None:
            port = self._next
            self._next += 1
            for p in (port, port + CLUSTER_BUS_OFFSET) if bus else (port,):
                if p > 65535 or not port_is_free(host, p):
                    raise TopologyError(f"port {p} on {host} is in use or invalid (--port-base {self.base})")
            self._given.add(port)
            return port
        for _ in range(200):
            port = random.randrange(_PORT_LOW, _PORT_HIGH)
            if port in self._given:
                continue
            if port_is_free(host, port) and (not bus or port_is_free(host, port + CLUSTER_BUS_OFFSET)):
                self._given.add(port)
                return port
        raise TopologyError(f"no free port found on {host}")

    @property
    def fixed(self) -> bool:
        return self.base is not None


_DEFERRED = {signal.SIGINT, signal.SIGTERM}


def _child_setup(parent_pid: int, owned: bool):
    libc = ctypes.CDLL(None, use_errno=True)

    def preexec() -> None:
        signal.pthread_sigmask(signal.SIG_SETMASK, set())  # undo deferred_signals() in the child
        if owned:
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            if os.getppid() != parent_pid:  # the owner died before prctl took effect
                os._exit(1)

    return preexec


@contextlib.contextmanager
def deferred_signals():
    """Hold SIGINT/SIGTERM back (main thread only) while a child is spawned and recorded, so Ctrl-C can
    never leave a started process that teardown does not know about; they are delivered on exit."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _DEFERRED)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


SECRET_ENV = ("RCAP_PASSWORD", "RCAP_PASSWORD_FILE")
"""Environment variables that may hold (or point at) a password: never passed to a child."""


def child_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """``env`` (default: this process's environment) without :data:`SECRET_ENV`."""
    return {k: v for k, v in (os.environ if env is None else env).items() if k not in SECRET_ENV}


def spawn(argv: list[str], log_path: str, *, owned: bool, cwd: str | None = None,
          env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start ``argv`` in its own session with stdout/stderr appended to ``log_path``.

    ``owned=True`` ties the child's life to this process (PR_SET_PDEATHSIG). ``env`` replaces the
    environment (default: inherited); either way :data:`SECRET_ENV` is removed (a password reaches
    a child only through a private file it is given).
    """
    # an explicit env may name the private password file meant for this child; nothing else passes
    env = child_env() if env is None else {k: v for k, v in env.items() if k != "RCAP_PASSWORD"}
    with open(log_path, "ab") as log:
        try:
            return subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=cwd, env=env,
                start_new_session=True, close_fds=True,
                preexec_fn=_child_setup(os.getpid(), owned))
        except OSError as exc:
            raise TopologyError(f"cannot start {argv[0]}: {exc.strerror}") from None


@dataclass(frozen=True)
class ProcessId:
    """A pid plus its start time, so a recycled pid is never mistaken for our process."""

    pid: int
    create_time: float

    @classmethod
    def of(cls, pid: int) -> ProcessId:
        try:
            return cls(pid, psutil.Process(pid).create_time())
        except psutil.Error:
            return cls(pid, 0.0)

    def process(self) -> psutil.Process | None:
        """The live process, or None if it exited, is a zombie, or the pid was reused."""
        try:
            proc = psutil.Process(self.pid)
            if abs(proc.create_time() - self.create_time) > 0.01 or proc.status() == psutil.STATUS_ZOMBIE:
                return None
            return proc
        except psutil.Error:
            return None

    def alive(self) -> bool:
        return self.process() is not None


def signal_process(pid: ProcessId, sig: int) -> bool:
    """Send ``sig`` to the process group of ``pid`` (each child leads its own). False if it is gone."""
    if pid.process() is None:
        return False
    try:
        os.killpg(pid.pid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        os.kill(pid.pid, sig)
    return True


def stop_processes(pids: list[ProcessId], timeout_s: float = 3.0) -> None:
    """SIGTERM (after SIGCONT, in case one is stopped) then SIGKILL what is left after ``timeout_s``; reap
    our own children."""
    procs = [p for p in (pid.process() for pid in pids) if p is not None]
    for proc in procs:
        for sig in (signal.SIGCONT, signal.SIGTERM):
            try:
                os.killpg(proc.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
    _, alive = psutil.wait_procs(procs, timeout=timeout_s)
    for proc in alive:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    psutil.wait_procs(alive, timeout=timeout_s)
    _reap_children()


def _reap_children() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def wait_until(predicate, timeout_s: float, what: str, *, poll_s: float = 0.05, check=None):
    """Poll ``predicate()`` every ``poll_s`` until it returns a truthy value (returned) or ``timeout_s``
    passes (``TopologyError`` naming ``what``). ``check()`` runs each round and may raise."""
    deadline = time.monotonic() + timeout_s
    while True:
        if check is not None:
            check()
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TopologyError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(poll_s)


__all__ = ["PortAllocator", "accepts", "deferred_signals", "ProcessId", "port_is_free", "spawn", "signal_process", "stop_processes",
           "wait_until"]
