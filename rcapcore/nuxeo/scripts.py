"""The Lua scripts of the Nuxeo model, their SHA1s, SCRIPT LOAD and the NOSCRIPT reload-and-retry.

The scripts in ``lua/`` were written from the step-by-step description of the traffic spec
(§1.2 WorkManager, §2.1 KV compare-and-set). Their SHA1 is computed locally, so a caller can send
``EVALSHA`` without a round trip; :func:`load_scripts` registers them at start (``SCRIPT LOAD``) and
:func:`execute_with_reload` re-sends ``SCRIPT LOAD`` once on a ``NOSCRIPT`` error, as Nuxeo does after a
Redis restart.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from typing import Any, Callable, Iterable

WORK_SCRIPT_NAMES = (
    "scheduling-work",
    "pop-work",
    "running-work",
    "completed-work",
    "cancelled-scheduled-work",
    "cancelled-running-work",
    "init-work-queue",
    "metrics-work-queue",
)
KV_SCRIPT_NAMES = ("compare-and-set", "compare-and-del", "compare-null-and-set")


@dataclass(frozen=True)
class Script:
    """One Lua script: ``name`` (the file stem), ``source`` (UTF-8 bytes) and its hex ``sha``."""

    name: str
    source: bytes
    sha: str

    @property
    def sha_bytes(self) -> bytes:
        return self.sha.encode()


def _read(name: str) -> Script:
    source = resources.files("rcapcore.nuxeo").joinpath("lua").joinpath(f"{name}.lua").read_bytes()
    return Script(name=name, source=source, sha=hashlib.sha1(source).hexdigest())


SCRIPTS: dict[str, Script] = {name: _read(name) for name in WORK_SCRIPT_NAMES + KV_SCRIPT_NAMES}
SCRIPTS_BY_SHA: dict[bytes, Script] = {s.sha_bytes: s for s in SCRIPTS.values()}


def load_scripts(execute: Callable[..., Any], names: Iterable[str] = tuple(SCRIPTS)) -> dict[str, str]:
    """``SCRIPT LOAD`` each named script through ``execute(*args)`` (e.g. ``redis.execute_command``).

    Returns name → SHA1 and checks that the server computed the same SHA1 as we did.
    """
    loaded = {}
    for name in names:
        script = SCRIPTS[name]
        reply = execute("SCRIPT", "LOAD", script.source)
        # a cluster client loads on every primary and answers {node: sha}
        for sha in (reply.values() if isinstance(reply, dict) else (reply,)):
            sha = sha.decode() if isinstance(sha, bytes) else sha
            if sha != script.sha:
                raise RuntimeError(f"server SHA1 {sha} differs from local {script.sha} for {name}")
        loaded[name] = sha
    return loaded


def is_noscript(exc: BaseException) -> bool:
    """True if ``exc`` is Redis's ``NOSCRIPT`` error (script cache flushed or server restarted)."""
    return str(exc).startswith("NOSCRIPT") or type(exc).__name__ == "NoScriptError"


def execute_with_reload(execute: Callable[..., Any], args: tuple) -> Any:
    """Send ``args`` through ``execute(*args)``; on ``NOSCRIPT``, ``SCRIPT LOAD`` the script and retry once.

    ``args`` is an ``EVALSHA <sha> …`` tuple from a command builder (other commands pass through).
    """
    try:
        return execute(*args)
    except Exception as exc:
        if not is_noscript(exc) or len(args) < 2:
            raise
        sha = args[1] if isinstance(args[1], bytes) else str(args[1]).encode()
        script = SCRIPTS_BY_SHA.get(sha)
        if script is None:
            raise
        execute("SCRIPT", "LOAD", script.source)
        return execute(*args)
