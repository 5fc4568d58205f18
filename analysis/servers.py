"""Which server a sizing is for, which servers the runs came from, and what Nuxeo documents about them.

A target names the server the customer will run (``deployment.server``: ``redis-7.2``, ``redis-7.4``,
``redis-8.x``, ``valkey-8.x`` …); runs record theirs (family, version, allocator in ``manifest.json``). The
memory model sizes for the target's server; when the runs come from another one, :func:`cross_server_note`
says so with the modelled difference for the same load.

Nuxeo's supported Redis versions, from its compatibility matrix (``[DOC-MATRIX]`` in
/work/shared/reference/nuxeo-redis-traffic.md §6.1, which read it from the nuxeo documentation sources):
LTS 2016, 2017 and 2019: Redis 2.8.x, 3.0.x, 3.2.x, 4.0.x; LTS 2021: 2.8.x to 6.0.x. Redis support was
removed in LTS 2023 (NXP-31901). Checked again for this issue: the stored revisions of that page in
``nuxeo/doc.nuxeo.com-content`` (up to FT 10.2) list 2.8.x–4.0.x for LTS 2015–2017; the LTS 2019/2021 columns
are taken from the reference file, which read the page on the documentation's master branch. Valkey is not
mentioned anywhere in Nuxeo's documentation that we could find; rcap says so rather than guess.
"""

from __future__ import annotations

import re
from typing import Sequence

from analysis import memory as mem

NUXEO_SUPPORTED_REDIS = {
    "2016": ("2.8", "3.0", "3.2", "4.0"),
    "2017": ("2.8", "3.0", "3.2", "4.0"),
    "2019": ("2.8", "3.0", "3.2", "4.0"),
    "2021": ("2.8", "3.0", "3.2", "4.0", "5.0", "6.0"),
}
NUXEO_NO_REDIS = ("2023", "2025")  # Redis support removed in LTS 2023
NUXEO_LTS = tuple(NUXEO_SUPPORTED_REDIS) + NUXEO_NO_REDIS
NUXEO_SOURCE = "Nuxeo compatibility matrix (doc.nuxeo.com, 'Compatibility Matrix', Redis row)"
NUXEO_MATRIX_TEXT = ("Nuxeo's documented Redis versions: LTS 2016–2019 2.8.x–4.0.x, LTS 2021 2.8.x–6.0.x; Redis "
                     "support removed in LTS 2023; Valkey not mentioned (" + NUXEO_SOURCE + "); set "
                     "deployment.nuxeo_lts to check the target's server against it")


def run_layouts(runs: Sequence | None) -> list[mem.RedisLayout]:
    """The distinct memory layouts (server family, version, allocator kind) of the runs' servers."""
    from analysis.validation import layout_of  # noqa: PLC0415

    out: dict[tuple, mem.RedisLayout] = {}
    for run in runs or ():
        if not (run.manifest.get("server") or {}):
            continue
        try:
            lay = layout_of(run.manifest)
        except Exception:  # noqa: BLE001  (a server this version does not model: nothing to compare)
            continue
        out.setdefault((lay.family, lay.version, lay.allocator.kind), lay)
    return list(out.values())


def same_server(a: mem.RedisLayout, b: mem.RedisLayout) -> bool:
    return (a.family, a.version, a.allocator.kind) == (b.family, b.version, b.allocator.kind)


def cross_server_note(runs_layout: mem.RedisLayout, target_layout: mem.RedisLayout, runs_dataset_bytes: float,
                      target_dataset_bytes: float) -> dict:
    """What changes when the runs' server is not the target's: the same load's modelled dataset on both."""
    diff = (target_dataset_bytes - runs_dataset_bytes) / runs_dataset_bytes if runs_dataset_bytes else 0.0
    text = (f"runs recorded on {runs_layout.label}, target runs {target_layout.label}: memory is sized with the "
            f"target's layout; the same load would take {runs_dataset_bytes / mem.MIB:,.1f} MiB on the runs' server "
            f"and {target_dataset_bytes / mem.MIB:,.1f} MiB on the target's ({100 * diff:+.1f} %)")
    return {"runs_server": runs_layout.label, "target_server": target_layout.label,
            "runs_dataset_bytes": runs_dataset_bytes, "target_dataset_bytes": target_dataset_bytes,
            "difference": diff, "text": text}


def nuxeo_support_flags(layout: mem.RedisLayout, nuxeo_lts: str) -> list[str]:
    """A flag when Nuxeo's documentation states a range for ``nuxeo_lts`` and the target's server is outside
    it; nothing when the LTS is not given."""
    if not nuxeo_lts:
        return []
    if nuxeo_lts in NUXEO_NO_REDIS:
        return [f"Nuxeo LTS {nuxeo_lts} no longer supports Redis (removed in LTS 2023, NXP-31901): its WorkManager, "
                "KV store and PubSub run on Kafka/MongoDB; this sizing applies to LTS 2021 or earlier"]
    supported = NUXEO_SUPPORTED_REDIS[nuxeo_lts]
    listed = f"Redis {supported[0]}.x to {supported[-1]}.x"
    if layout.family == "valkey":
        return [f"Nuxeo LTS {nuxeo_lts} documents {listed} ({NUXEO_SOURCE}); Valkey is not mentioned in Nuxeo's "
                f"documentation, so {layout.server} is outside the documented range (the Nuxeo scripts ran "
                "unchanged on it in rcap's tests; validate with Nuxeo support before going live)"]
    m = re.match(r"(\d+)\.(\d+|x)", layout.version)
    major_minor = f"{m.group(1)}.{m.group(2)}" if m else layout.version
    if major_minor not in supported:
        return [f"Nuxeo LTS {nuxeo_lts} documents {listed} ({NUXEO_SOURCE}); {layout.server} is outside that "
                "range (the Nuxeo scripts ran unchanged on Redis 7.x in rcap's tests; validate with Nuxeo support "
                "before going live)"]
    return []


# The report's ceiling section says this whatever the target's server (see BENCHMARKS.md, "io-threads").
IO_THREADS_NOTE = (
    "io-threads (Valkey 8, Redis 8; also Redis 6/7) are **not modelled**: the ceiling is one main thread's, and "
    "the Nuxeo WorkManager's Lua scripts run on the main thread whatever io-threads says; I/O threads can only "
    "take socket reads and writes off it. On the lab machine (2 vCPUs shared with the load generator) io-threads 2 "
    "never raised the works/s reached with unpipelined lifecycles: ×0.81–0.85 with 3 client processes (the I/O "
    "thread stayed idle) and ×0.06–0.11 with 6 (it competed with the clients for the two cores). On a dedicated "
    "server host the gain is bounded by the share of main-thread time spent in socket I/O; measure it there "
    "(`benchmarks/io_threads.py`) before counting on it.")
