"""A run's quality verdict (``manifest.json`` → ``quality``): do its errors, its load generator and its
length let it be used as a measurement?

- ``error_ratio`` = failed requests / all requests (``summary.json``'s ``total``). Above
  ``max_error_ratio`` (``--max-error-ratio``, default :data:`DEFAULT_MAX_ERROR_RATIO`) the run is
  ``degraded``: its status says so, rcap exits with :data:`EXIT_DEGRADED`, and the models and the report
  leave it out unless told to include it.
- ``causes``: the failures grouped by what they mean (READONLY replica, NOPERM ACL, max clients …),
  read from Locust's ``locust_failures.csv`` (one row per request name and error text).
- ``loadgen_bound``: the busiest Locust process was CPU-bound (its latencies include its own queueing).
- ``p99_supported``: at least :data:`P99_MIN_REQUESTS` successful requests, so that 100 of them lie
  beyond the p99 (the rule the report uses before quoting a p99).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

DEFAULT_MAX_ERROR_RATIO = 0.01
"""Share of failed requests (0..1) above which a run is ``degraded``."""
P99_MIN_REQUESTS = 10_000
"""Successful requests a run needs for its p99 to rest on at least 100 samples beyond it."""
P99_RULE = f"at least {P99_MIN_REQUESTS:,} successful requests (100 beyond the p99)"
EXIT_DEGRADED = 3
"""Exit status of ``rcap bench``/``rcap sweep`` when a run is recorded ``degraded``."""
FAILURES_CSV = "locust_failures.csv"
LOCUST_LOG = "locust.log"

# (label, pattern on the error text, what it means): first match wins
CAUSES: tuple[tuple[str, re.Pattern, str], ...] = tuple((label, re.compile(rx, re.I), meaning) for label, rx, meaning in (
    ("READONLY", r"\bREADONLY\b|read only replica", "the target is a replica: writes are refused"),
    ("NOPERM", r"\bNOPERM\b|no permissions", "the ACL user lacks a command (e.g. EVALSHA) or the key pattern"),
    ("max clients", r"max number of clients", "the server's maxclients is reached"),
    ("OOM", r"\bOOM\b|command not allowed when used memory", "maxmemory reached with a no-eviction policy"),
    ("auth", r"WRONGPASS|NOAUTH|invalid username-password|AUTH refused", "authentication refused"),
    ("LOADING", r"\bLOADING\b", "the server is loading its dataset"),
    ("MASTERDOWN", r"MASTERDOWN|CLUSTERDOWN|TRYAGAIN", "no master available (failover or cluster down)"),
    ("BUSY", r"\bBUSY\b", "a script is running too long"),
    ("connection", r"ConnectionLost|ConnectionError|TimeoutError|network:|connection (refused|reset|closed)"
                   r"|timed? ?out|broken pipe",
     "connections lost, refused or timed out"),
))


def classify(error: str) -> str:
    """The cause label of one error text (``other`` when none matches)."""
    for label, pattern, _meaning in CAUSES:
        if pattern.search(error):
            return label
    return "other"


_LOG_ROW = re.compile(r"^\s*(\d+)\s{2,}(\S.*?)\s*$")


def read_failures(run_path: Path) -> list[dict[str, Any]]:
    """Locust's failures table: ``[{"name", "error", "occurrences"}]`` (empty if there is none), from
    ``locust_failures.csv``, else from the error report at the end of ``locust.log`` (Locust may write
    the CSV before the last failures reach its stats)."""
    return _failures_csv(Path(run_path) / FAILURES_CSV) or _failures_log(Path(run_path) / LOCUST_LOG)


def _failures_log(path: Path) -> list[dict[str, Any]]:
    """The rows of the last "Error report" table in ``locust.log``: ``<occurrences>  <error>``."""
    if not path.is_file():
        return []
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    starts = [i for i, line in enumerate(lines) if line.lstrip().startswith("# occurrences")]
    if not starts:
        return []
    rows = []
    for line in lines[starts[-1] + 1:]:
        if line.startswith("---"):
            if rows:
                break
            continue
        m = _LOG_ROW.match(line)
        if not m:
            break
        rows.append({"name": "", "error": m.group(2)[:300], "occurrences": int(m.group(1))})
    return rows


def _failures_csv(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    rows = []
    try:
        with open(path, encoding="utf-8", errors="replace", newline="") as fh:
            for row in csv.DictReader(fh):
                try:
                    n = int(row.get("Occurrences") or 0)
                except ValueError:
                    continue
                rows.append({"name": row.get("Name") or "", "error": (row.get("Error") or "")[:300], "occurrences": n})
    except (OSError, csv.Error):
        return []
    return rows


def causes(failures: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Failures grouped by cause, most frequent first: ``{"cause", "meaning", "errors", "example"}``."""
    meanings = {label: meaning for label, _p, meaning in CAUSES}
    groups: dict[str, dict[str, Any]] = {}
    for f in failures:
        label = classify(f["error"])
        g = groups.setdefault(label, {"cause": label, "meaning": meanings.get(label, "unclassified errors"),
                                      "errors": 0, "example": (f"{f['name']}: {f['error']}" if f["name"] else f["error"])[:200]})
        g["errors"] += f["occurrences"]
    return sorted(groups.values(), key=lambda g: -g["errors"])


def verdict(summary: dict, *, loadgen_bound: bool | None, max_error_ratio: float = DEFAULT_MAX_ERROR_RATIO,
            failures: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The ``quality`` block of a manifest from the run's ``summary.json`` (and failures table)."""
    total = (summary or {}).get("total") or {}
    ok = int(total.get("count") or 0)
    errors = int(total.get("errors") or 0)
    requests = ok + errors
    ratio = errors / requests if requests else None
    degraded = ratio is not None and ratio > max_error_ratio
    return {
        "verdict": "degraded" if degraded else "ok",
        "requests": requests,
        "errors": errors,
        "error_ratio": round(ratio, 6) if ratio is not None else None,
        "max_error_ratio": max_error_ratio,
        "causes": causes(failures or []),
        "loadgen_bound": loadgen_bound,
        "p99_supported": ok >= P99_MIN_REQUESTS,
        "p99_rule": P99_RULE,
    }


def one_line(quality: dict[str, Any]) -> str:
    """``degraded: 97.3 % of 12,345 requests failed (READONLY: the target is a replica …; …)``."""
    named = "; ".join(f"{c['cause']}: {c['meaning']} ({c['errors']:,})" for c in quality.get("causes") or [])
    ratio = quality.get("error_ratio") or 0.0
    return (f"degraded: {ratio * 100:.1f} % of {quality.get('requests', 0):,} requests failed "
            f"(above --max-error-ratio {quality['max_error_ratio'] * 100:g} %)"
            + (f": {named}" if named else ": causes not recorded (see locust.log)"))
