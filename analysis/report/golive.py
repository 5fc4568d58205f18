"""The go-live checklists (``analysis.golive``) as report tables: one table per deployment option (item / what
to do / source), its configuration snippets below it."""

from __future__ import annotations

from analysis import sizing
from analysis.golive import DERIVED, GoLiveChecklist, checklists
from analysis.report.failover import ha_advice
from analysis.report.runset import Context
from analysis.report.section import Section, table


def _target(ctx: Context):
    """The target as the recommendation sized it (the context's topology)."""
    t = ctx.target
    return t if ctx.topology == t.deployment.topology else sizing.with_deployment(t, topology=ctx.topology)


def golive_section(ctx: Context, rec=None) -> Section:
    """One table per deployment option, for ``rec`` (default: the context's recommendation)."""
    rec = rec or ctx.recommendation
    sec = Section()
    # Sentinel's down-after is the HA section's (the value that meets the failover objective): one number
    lists = checklists(rec, _target(ctx), down_after_ms=ha_advice(ctx).get("down_after_ms"))
    sec.md("Before go-live, work through the checklist of the option you deploy. Figures marked \"this sizing\" "
           "come from this report's sizing; vendor facts cite the page they were read on (numbered sources under "
           "each table). Node types are the smallest catalog rows that hold the node; where no public price was "
           "recorded, the table says so.")
    for cl in lists:
        sec.md(f"#### {cl.title}" + ("" if cl.usable else " (not usable)"))
        rows, refs = _rows(cl)
        sec.add(table(rows, index="item"))
        for it in cl.items:
            if it.snippet:
                sec.md(f"*{it.title}*\n\n```\n{it.snippet}\n```")
        sec.md("Sources: " + "; ".join(f"[{n}] {ref}" for ref, n in refs.items()))
    sec.values["golive"] = {cl.option: {"usable": cl.usable, "topics": sorted(set(cl.topics())),
                                        "instances": [i["name"] for i in cl.instances],
                                        "maxmemory_bytes": dict(cl.maxmemory_bytes)} for cl in lists}
    return sec


def _rows(cl: GoLiveChecklist) -> tuple[list[dict], dict[str, int]]:
    """Table rows with numbered source references (one list of sources under each table keeps the table narrow)."""
    refs: dict[str, int] = {}
    rows = []
    for it in cl.items:
        cites = []
        for ref in (r.strip() for r in it.source.split(" ; ")):
            if ref == DERIVED:
                cites.append("this sizing")
            elif ref:
                cites.append(f"[{refs.setdefault(ref, len(refs) + 1)}]")
        rows.append({"item": it.title, "what to do": it.action, "source": ", ".join(cites)})
    return rows, refs
