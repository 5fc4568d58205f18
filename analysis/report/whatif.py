"""What-ifs on the drivers that matter: one table from ``Recommendation.what_ifs`` (``analysis.whatif``) and a
paragraph naming the driver. Every figure is read from the recommendation: nothing is re-derived here."""

from __future__ import annotations

from analysis.plots import human_bytes
from analysis.report.runset import Context
from analysis.report.section import Section, table


def duration(s: float | None) -> str:
    """``42`` → ``'42 s'``, ``700`` → ``'11.7 min'``, ``9000`` → ``'2.5 h'``; None → ``'—'``."""
    if s is None:
        return "—"
    if s < 120:
        return f"{s:,.0f} s"
    return f"{s / 60:,.1f} min" if s < 7200 else f"{s / 3600:,.1f} h"


def works(n: float | None) -> str:
    if n is None:
        return "—"
    return f"{n:,.0f} work" + ("" if round(n) == 1 else "s")


def _vs_maxmemory(w: dict) -> str:
    if w["oom_t_s"] is not None:
        return f"OOM at t = {duration(w['oom_t_s'])}"
    if w["headroom_bytes"] is None:
        return "—"
    return f"margin {human_bytes(w['headroom_bytes'])} ({w['headroom_bytes'] / w['maxmemory_bytes']:.0%})"


def _lag(w: dict) -> str:
    waiting = w.get("live_waiting_works")
    if w["live_lag_max_s"] is not None:
        return f"up to {duration(w['live_lag_max_s'])}" + (f" ({waiting:,.0f} live works waiting)" if waiting else "")
    if waiting and w["oom_t_s"] is not None:
        return f"{waiting:,.0f} live works waiting at the OOM"
    return "—"


def what_if_rows(rec) -> list[dict]:
    """One display row per case of ``rec.what_ifs``."""
    rows = []
    for w in rec.what_ifs:
        label = w["label"]
        if w["peak_memory_bytes"] is None:
            label += f": {w['note']}"
        elif w["label"].startswith(("largest", "reindex in ")):
            label += f": {w['documents']:,} documents"
        rows.append({
            "what if": label,
            "peak backlog": works(w["peak_backlog_works"]),
            "peak memory": "—" if w["peak_memory_bytes"] is None else human_bytes(w["peak_memory_bytes"]),
            "vs maxmemory": _vs_maxmemory(w),
            "queue empty at": duration(w["drained_t_s"]),
            "live-indexing lag": _lag(w),
            "maxmemory needed": ("—" if w["maxmemory_needed_bytes"] is None
                                 else human_bytes(w["maxmemory_needed_bytes"])),
        })
    return rows


def _pct(w: dict, ref: dict) -> str:
    return f"{w['peak_memory_bytes'] / ref['peak_memory_bytes'] - 1:+.0%}"


def what_if_paragraph(rec) -> str:
    """Which driver matters, from the cases' own figures."""
    by = {w["label"]: w for w in rec.what_ifs}
    maxmem = human_bytes(rec.memory["maxmemory_bytes"])
    ref = by.get("reindex ×1")
    parts = [f"Each case is played against the recommended maxmemory of **{maxmem}** (times from the start of "
             "the event; peak memory is used_memory, uncapped: what the case would need)."]
    if ref is not None:
        x2, slow = by["reindex ×2"], by["indexing speed ×0.5"]
        steady = next(w for w in rec.what_ifs if w["label"].endswith(" ×2") and not w["label"].startswith("reindex"))
        oom2 = (f"reaches maxmemory at t = {duration(x2['oom_t_s'])}" if x2["oom_t_s"] is not None
                else "still fits")
        parts.append(f"**The size of the mass operation is the driver**: twice the documents moves peak memory "
                     f"{_pct(x2, ref)} and {oom2}; halving the indexing speed moves it {_pct(slow, ref)}, doubling "
                     f"the steady load {_pct(steady, ref)}.")
        mo = rec.mass_operation or {}
        if mo.get("arrival_works_per_s", 0) > mo.get("service_rate_per_s", 0):
            parts.append(f"Its works are scheduled faster than they are consumed ({mo['arrival_works_per_s']:,.1f} "
                         f"against {mo['service_rate_per_s']:,.1f} works/s), so the scheduling rate sets when "
                         "maxmemory is reached and the size how far past it the backlog would grow.")
        if mo.get("live_indexing_works_per_s"):
            parts.append("Live IndexingWorkers wait behind the buckets in the same elasticSearchIndexing queue "
                         "(FIFO), so their lag and their memory grow with the reindex.")
        big = by.get("largest mass operation absorbed")
        if big and big["documents"]:
            parts.append(f"The recommended maxmemory absorbs a mass operation of up to **{big['documents']:,} "
                         f"documents** ({big['works']:,} works, {big['change'].split('(')[-1].rstrip(')')}).")
        elif big:
            parts.append(big["note"][0].upper() + big["note"][1:] + ".")
        down = by.get("Elasticsearch down during the reindex")
        if down and down["oom_t_s"] is not None:
            parts.append(f"With Elasticsearch down during the reindex, Redis reaches maxmemory after "
                         f"**{duration(down['oom_t_s'])}**.")
    stop = by.get("all consumers stopped, no mass operation")
    if stop and stop["oom_t_s"] is not None:
        parts.append(f"With every consumer stopped and no mass operation, after **{duration(stop['oom_t_s'])}**.")
    grown = [w for w in rec.what_ifs if w["label"].startswith("reindex in ")]
    if grown:
        parts.append("Growth: " + "; ".join(
            f"{w['label']}, {w['documents']:,} documents, "
            + (f"OOM at t = {duration(w['oom_t_s'])}" if w["oom_t_s"] is not None else "fits")
            + f" (needs maxmemory {human_bytes(w['maxmemory_needed_bytes'])})" for w in grown) + ".")
    elif ref is not None:
        parts.append("Growth: no growth rate given (`mass_operation.documents_growth_per_year`).")
    return " ".join(parts)


def what_if_section(ctx: Context, rec=None) -> Section:
    """The what-if table and the paragraph naming the driver that matters."""
    rec = rec or ctx.recommendation
    sec = Section()
    if not rec.what_ifs:
        return sec.md("_No what-ifs for this target._")
    sec.md(what_if_paragraph(rec))
    sec.add(table(what_if_rows(rec), index="what if"))
    assumed = sorted({w["note"].removeprefix("assumed: ") for w in rec.what_ifs if w["note"].startswith("assumed")})
    if assumed:
        sec.md("Assumed: " + "; ".join(assumed) + ".")
    sec.values.update(what_ifs=rec.what_ifs)
    return sec
