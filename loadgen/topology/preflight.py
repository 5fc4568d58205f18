"""Checks before the load starts: will the target accept what a run sends?

Each check sends one command that changes nothing: ``INFO replication`` (a replica refuses writes with
READONLY), ``UNLINK <prefix>rcap-preflight-<random>`` (a write on a key that does not exist: NOPERM if
the ACL's key pattern excludes the prefix, READONLY on a replica) and ``EVALSHA <unknown sha> 1 <key>``
(NOSCRIPT when allowed, NOPERM when the ACL lacks EVALSHA). The answers are one-line problems; the
run still starts, and its quality verdict (:mod:`loadgen.recorder.quality`) names the causes it met.
"""

from __future__ import annotations

import secrets

import redis

_UNKNOWN_SHA = "0" * 40


def problems(client, prefix: str) -> list[str]:
    """One line per problem found on ``client`` for keys under ``prefix`` (empty: none found)."""
    found: list[str] = []
    try:
        info = client.info("replication")
        if isinstance(info, dict) and info.get("role") in ("slave", "replica"):
            found.append("READONLY: the target is a replica, which refuses writes; point rcap at the master")
    except redis.RedisError as exc:
        if "NOPERM" in str(exc):
            found.append("NOPERM: the ACL user may not run INFO (server telemetry will be missing)")
    key = f"{prefix}rcap-preflight-{secrets.token_hex(8)}"  # a name nobody uses: nothing is deleted
    for label, args in (("write keys under the prefix", ("UNLINK", key)),
                        ("run EVALSHA (the WorkManager's Lua scripts)", ("EVALSHA", _UNKNOWN_SHA, 1, key))):
        try:
            client.execute_command(*args)
        except redis.exceptions.NoScriptError:
            continue  # allowed: the script is just not loaded
        except redis.exceptions.ReadOnlyError:
            if not any(f.startswith("READONLY") for f in found):
                found.append("READONLY: the target refuses writes (a replica)")
        except redis.ResponseError as exc:
            text = str(exc)
            if "NOSCRIPT" in text or "no matching script" in text.lower():
                continue
            if "NOPERM" in text or "no permissions" in text.lower() or \
                    isinstance(exc, getattr(redis.exceptions, "NoPermissionError", ())):
                found.append(f"NOPERM: the ACL user may not {label} {prefix!r}")
            elif "READONLY" in text:
                if not any(f.startswith("READONLY") for f in found):
                    found.append("READONLY: the target refuses writes (a replica)")
            else:
                found.append(f"{args[0]} refused: {text.splitlines()[0][:200]}")
        except redis.RedisError:
            continue  # connection trouble: check() and the run report it
    return found
