"""PubSub fan-out: deliveries = published × subscribers, lost messages and delivery latency (msg/s, µs)."""

from __future__ import annotations

import pandas as pd

from analysis import plots
from analysis.report.runset import Context, RunSet
from analysis.report.section import Section

DELIVERY_OP = "pubsub delivery"


def _duration_s(run) -> float:
    m = run.manifest
    return float(m.get("elapsed_s") or m.get("parameters", {}).get("duration_s") or 0.0)


def pubsub_points(runs: RunSet):
    """One row per complete ``pubsub`` run: ``subscribers``, ``published_per_s``, ``delivered_per_s``,
    ``lost`` (messages), ``p50_us``, ``p99_us`` (publish → delivery)."""
    rows = []
    for run in runs.of("pubsub"):
        totals = run.counters.get("totals", run.counters)
        secs = _duration_s(run)
        delivery = run.summary.get("ops", {}).get(DELIVERY_OP, {})
        nodes = run.manifest.get("scenario", {}).get("params", {}).get("nodes")
        if not secs or not nodes:
            continue
        published = totals.get("messages_published", 0)
        delivered = totals.get("messages_delivered", 0)
        rows.append({"subscribers": nodes, "published_per_s": published / secs, "delivered_per_s": delivered / secs,
                     "lost": max(published * nodes - delivered, 0), "p50_us": delivery.get("p50_us"),
                     "p99_us": delivery.get("p99_us"), "run_id": run.id})
    return pd.DataFrame(rows, columns=["subscribers", "published_per_s", "delivered_per_s", "lost", "p50_us",
                                       "p99_us", "run_id"])


def pubsub_section(ctx: Context) -> Section:
    """Measured fan-out (deliveries = published × subscribers) and delivery latency."""
    sec = Section()
    pts = pubsub_points(ctx.runs)
    if pts.empty:
        return sec.md("_No complete `pubsub` run in the run set: the fan-out was not measured._")
    fitted = pts[["subscribers"]].assign(delivered_per_s=pts["published_per_s"] * pts["subscribers"])
    counts = ", ".join(f"{n:g}" for n in sorted(pts["subscribers"].unique()))
    sec.figure(plots.pubsub_fanout(pts, fitted=fitted),
               f"PubSub fan-out measured with {counts} subscribed Nuxeo nodes: messages published and delivered per "
               "second against the model (published × subscribers), and publish-to-delivery latency.")
    shown = pts.assign(**{"published (msg/s)": pts["published_per_s"].round(0),
                          "delivered (msg/s)": pts["delivered_per_s"].round(0),
                          "lost (messages)": pts["lost"], "p50 (µs)": pts["p50_us"], "p99 (µs)": pts["p99_us"]})
    sec.add(shown[["subscribers", "published (msg/s)", "delivered (msg/s)", "lost (messages)", "p50 (µs)",
                   "p99 (µs)"]].set_index("subscribers"))
    sec.values["pubsub_lost"] = int(pts["lost"].sum())
    return sec
