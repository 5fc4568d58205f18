"""Figures of the sizing report (matplotlib), made to stay readable in print.

Every function takes plain numbers or DataFrames whose column names carry their units
(``_us``, ``_bytes``, ``_ops_per_s``, ``_s``) and returns a :class:`matplotlib.figure.Figure`
with labelled axes (units in the labels), a title and a legend. Colours come from a
colour-blind-safe palette, and each series also differs by marker or line style, so a
black-and-white print keeps them apart.
"""

from __future__ import annotations

import textwrap
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, MultipleLocator, ScalarFormatter

from rcapcore.units import human_bytes  # noqa: F401  (the figures' labels; callers import it from here too)

# Okabe-Ito: distinguishable for colour-blind readers and in greyscale with the markers below.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
MARKERS = ("o", "s", "^", "D", "v", "P", "X")
LINESTYLES = ("-", "--", "-.", ":")

REPORT_STYLE = {
    "figure.figsize": (7.0, 3.8),
    "figure.dpi": 110,
    "savefig.dpi": 150,
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "axes.grid": True,
    "grid.alpha": 0.35,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.linewidth": 1.8,
    "lines.markersize": 5,
}


def use_report_style() -> None:
    """Apply the report's matplotlib settings (figure size in inches, fonts in points)."""
    plt.rcParams.update(REPORT_STYLE)


def _bytes_axis(ax, axis: str = "y") -> None:
    """Label a bytes axis in KiB/MiB/GiB, with ticks at round multiples of the unit on a linear scale."""
    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_formatter(FuncFormatter(lambda v, _pos: human_bytes(v) if v >= 0 else ""))
    scale = ax.get_yscale() if axis == "y" else ax.get_xscale()
    if scale == "log":  # ticks at 1, 10, 100 KiB/MiB/GiB: round numbers in the labels' units
        target.set_major_locator(FixedLocator([1024 ** k * m for k in range(1, 5) for m in (1, 10, 100)]))
        target.set_minor_locator(FixedLocator([]))
        return
    if scale != "linear":
        return
    top = (ax.get_ylim() if axis == "y" else ax.get_xlim())[1]
    unit = 1024 ** max(0, min(4, int(np.log(max(top, 1)) // np.log(1024))))
    for step in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000):
        if top / (step * unit) <= 6:
            break
    target.set_major_locator(MultipleLocator(step * unit))


def _new(nrows: int = 1, ncols: int = 1, **kw) -> tuple[Figure, np.ndarray]:
    use_report_style()
    fig, axes = plt.subplots(nrows, ncols, squeeze=False, layout="constrained", **kw)
    return fig, axes.ravel()


def _break_gaps(df: pd.DataFrame, x: str, max_gap: float) -> pd.DataFrame:
    """Insert a NaN row where ``x`` jumps by more than ``max_gap``, so the line is not drawn across
    missing samples (a node that did not answer)."""
    gaps = df[x].diff() > max_gap
    if not gaps.any():
        return df
    holes = df.loc[gaps, [x]].copy()
    holes[x] = holes[x] - max_gap / 2
    return pd.concat([df, holes]).sort_values(x, kind="stable")


def _number(v: float, _pos=None) -> str:
    """Tick label: thousands separators ("12,500", never "12500"), no trailing ".0"."""
    if v == 0:
        return "0"
    return f"{v:,.0f}" if abs(v) >= 100 or float(v).is_integer() else f"{v:,.3g}"


def _readable_ticks(ax) -> None:
    """At most six ticks per linear axis, labelled with thousands separators, so neighbouring labels
    never run together ("1000012500"). Axes with their own formatter (bytes, fixed ticks) are left as set."""
    narrow = ax.get_position().width < 0.5  # a panel of a two-column figure: fewer x labels fit
    for axis, scale in ((ax.xaxis, ax.get_xscale()), (ax.yaxis, ax.get_yscale())):
        if scale == "linear" and type(axis.get_major_formatter()) is ScalarFormatter:
            if not isinstance(axis.get_major_locator(), FixedLocator):
                axis.set_major_locator(MaxNLocator(nbins=4 if narrow and axis is ax.xaxis else 6))
            axis.set_major_formatter(FuncFormatter(_number))


def _legend_below(fig: Figure) -> None:
    """One legend for the figure, below the axes, so it never covers a curve: the axes' legends are
    gathered (a label shared by two panels appears once)."""
    handles, labels = [], []
    for ax in fig.axes:
        legend = ax.get_legend()
        if legend is None:
            continue
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels and not lab.startswith("_"):
                handles.append(h)
                labels.append(lab)
        legend.remove()
    if handles:
        # columns by label length: a legend wider than the figure is cut off in print
        longest = max(len(lab) for lab in labels)
        ncols = 3 if longest <= 24 else 2 if longest <= 42 else 1
        fig.legend(handles, labels, loc="outside lower center", ncols=min(ncols, len(labels)), frameon=False,
                   fontsize=8)


def legend_texts(fig: Figure) -> list[str]:
    """Every legend entry of a figure (its figure legend and any axes legend)."""
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    return [t.get_text() for lg in legends for t in lg.get_texts()]


def _done(fig: Figure) -> Figure:
    for ax in fig.axes:
        _readable_ticks(ax)
    _legend_below(fig)
    plt.close(fig)  # the caller displays it; closing avoids a second copy from the inline backend
    return fig


def throughput_latency(
    measured: pd.DataFrame,
    *,
    workload: str,
    load_column: str = "users",
    load_label: str = "concurrent users",
    fitted: pd.DataFrame | None = None,
    ceiling_ops_per_s: float | None = None,
    slo_us: float | None = None,
) -> Figure:
    """Throughput against load (left) and latency against throughput (right) for one workload.

    ``measured``: one row per sweep step with ``load_column``, ``ops_per_s``, ``p50_us``, ``p99_us``.
    ``fitted``: the model curve, columns ``load_column`` and ``ops_per_s`` (e.g. the USL fit),
    optionally ``ops_per_s_low``/``ops_per_s_high`` for its confidence band.
    ``ceiling_ops_per_s``: a predicted single-shard ceiling, drawn as a horizontal line.
    ``slo_us``: the p99 latency objective, drawn on the latency panel.
    """
    fig, (ax1, ax2) = _new(1, 2, figsize=(7.5, 3.6))
    m = measured.sort_values(load_column)
    ax1.plot(m[load_column], m["ops_per_s"], MARKERS[0], color=PALETTE[0], label="measured")
    if fitted is not None and len(fitted):
        f = fitted.sort_values(load_column)
        ax1.plot(f[load_column], f["ops_per_s"], LINESTYLES[1], color=PALETTE[1], label="fitted model")
        if {"ops_per_s_low", "ops_per_s_high"} <= set(f.columns):
            ax1.fill_between(f[load_column], f["ops_per_s_low"], f["ops_per_s_high"],
                             color=PALETTE[1], alpha=0.15, label="model 95% interval")
    if ceiling_ops_per_s:
        ax1.axhline(ceiling_ops_per_s, color=PALETTE[2], linestyle=LINESTYLES[2],
                    label=f"predicted ceiling {ceiling_ops_per_s:,.0f} ops/s")
    ax1.set_xlabel(load_label)
    if ceiling_ops_per_s and ceiling_ops_per_s > 5 * float(measured["ops_per_s"].max()):
        ax1.set_yscale("log")  # a far ceiling and the measurements both stay readable
        ax1.set_ylabel("throughput (ops/s, log scale)")
    else:
        ax1.set_ylabel("throughput (ops/s)")
        ax1.set_ylim(bottom=0)
    ax1.set_title(f"{workload}: throughput")
    ax1.legend(loc="lower right")

    m = measured.sort_values(load_column)  # joined in load order: a closed loop past its peak turns back
    ax2.plot(m["ops_per_s"], m["p50_us"], marker=MARKERS[0], color=PALETTE[0], label="p50")
    ax2.plot(m["ops_per_s"], m["p99_us"], marker=MARKERS[1], linestyle=LINESTYLES[1],
             color=PALETTE[1], label="p99")
    if slo_us:
        ax2.axhline(slo_us, color=PALETTE[6], linestyle=LINESTYLES[3], label=f"p99 objective {slo_us:,.0f} µs")
    ax2.set_xlabel("throughput (ops/s)")
    ax2.set_ylabel("latency (µs)")
    ax2.set_yscale("log")
    ax2.set_title(f"{workload}: latency")
    ax2.legend(loc="upper left")
    return _done(fig)


def memory_vs_backlog(
    measured: pd.DataFrame,
    *,
    fitted: pd.DataFrame | None = None,
    target_backlog_works: float | None = None,
    target_used_memory_bytes: float | None = None,
    maxmemory_bytes: float | None = None,
    label: str = "",
    total_used_memory_bytes: float | None = None,
) -> Figure:
    """Redis memory against the number of pending works, with the fit and its projection.

    ``measured``: ``backlog_works``, ``used_memory_bytes`` (one row per server sample).
    ``fitted``: ``backlog_works``, ``used_memory_bytes`` and optionally ``low_bytes``/``high_bytes``,
    spanning from the measurements to the target.
    The target point (``target_backlog_works``, ``target_used_memory_bytes``: the pending works alone) is
    marked, and above it ``total_used_memory_bytes`` (every part of the dataset at that peak). When it lies
    more than 10 times beyond the measurements, both axes are logarithmic so both stay visible.
    """
    fig, (ax,) = _new()
    ax.plot(measured["backlog_works"], measured["used_memory_bytes"], MARKERS[0], color=PALETTE[0],
            markersize=3, alpha=0.7, label="measured (1 s samples)")
    if fitted is not None and len(fitted):
        f = fitted.sort_values("backlog_works")
        ax.plot(f["backlog_works"], f["used_memory_bytes"], LINESTYLES[1], color=PALETTE[1],
                label="fitted model")
        if {"low_bytes", "high_bytes"} <= set(f.columns):
            ax.fill_between(f["backlog_works"], f["low_bytes"], f["high_bytes"], color=PALETTE[1],
                            alpha=0.15, label="95% interval")
    if target_backlog_works and target_used_memory_bytes:
        ax.plot([target_backlog_works], [target_used_memory_bytes], MARKERS[2], color=PALETTE[2],
                markersize=9, label=f"target peak: {target_backlog_works:,.0f} works alone, "
                                    f"{human_bytes(target_used_memory_bytes)}")
        if total_used_memory_bytes:
            ax.plot([target_backlog_works], [total_used_memory_bytes], MARKERS[3], color=PALETTE[3],
                    markersize=8, label=f"used_memory at that peak, all parts: {human_bytes(total_used_memory_bytes)}")
    if maxmemory_bytes:
        ax.axhline(maxmemory_bytes, color=PALETTE[6], linestyle=LINESTYLES[3],
                   label=f"recommended maxmemory {human_bytes(maxmemory_bytes)}")
    max_measured = float(measured["backlog_works"].max()) if len(measured) else 0.0
    if target_backlog_works and max_measured > 0 and target_backlog_works > 10 * max_measured:
        ax.set_xscale("log")
        ax.set_yscale("log")
    _bytes_axis(ax)
    ax.set_xlabel("pending works in the queues (works)")
    ax.set_ylabel("Redis used_memory (bytes)")
    ax.set_title(f"Memory against backlog{': ' + label if label else ''}")
    ax.legend(loc="center left" if ax.get_xscale() == "log" else "lower right")
    return _done(fig)


def mass_operation_timeline(
    predicted: pd.DataFrame,
    *,
    maxmemory_bytes: float | None = None,
    measured: pd.DataFrame | None = None,
    oom_at_s: float | None = None,
    title: str = "Mass operation",
) -> Figure:
    """Backlog (top) and Redis memory (bottom) over time during a mass operation.

    ``predicted``: ``t_s``, ``backlog_works``, ``used_memory_bytes`` from the backlog model.
    ``measured``: the same columns from a recorded run, drawn as points when given.
    ``oom_at_s``: the moment memory reaches maxmemory (new works fail with OOM), marked on both panels.
    """
    fig, (ax1, ax2) = _new(2, 1, figsize=(7.0, 5.2), sharex=True)
    scale, unit = (3600.0, "h") if predicted["t_s"].max() > 4 * 3600 else (
        (60.0, "min") if predicted["t_s"].max() > 300 else (1.0, "s"))
    t = predicted["t_s"] / scale
    ax1.plot(t, predicted["backlog_works"], color=PALETTE[0], label="predicted backlog")
    ax2.plot(t, predicted["used_memory_bytes"], color=PALETTE[0], label="predicted used_memory")
    if measured is not None and len(measured):
        tm = measured["t_s"] / scale
        ax1.plot(tm, measured["backlog_works"], MARKERS[1], color=PALETTE[1], markersize=3, label="measured")
        ax2.plot(tm, measured["used_memory_bytes"], MARKERS[1], color=PALETTE[1], markersize=3,
                 label="measured")
    if maxmemory_bytes:
        ax2.axhline(maxmemory_bytes, color=PALETTE[6], linestyle=LINESTYLES[1],
                    label=f"maxmemory {human_bytes(maxmemory_bytes)}")
    if oom_at_s is not None:
        for ax in (ax1, ax2):
            ax.axvline(oom_at_s / scale, color=PALETTE[1], linestyle=LINESTYLES[3],
                       label="maxmemory reached: new works fail (OOM)")
    ax1.set_ylabel("pending works (works)")
    ax1.set_ylim(bottom=0)
    ax1.set_title(title)
    ax1.legend(loc="upper right")
    ax2.set_ylabel("used_memory (bytes)")
    top = max(float(predicted["used_memory_bytes"].max()), float(maxmemory_bytes or 0))
    ax2.set_ylim(0, top * 1.1)
    _bytes_axis(ax2)
    ax2.set_xlabel(f"time since the operation started ({unit})")
    ax2.legend(loc="upper right")
    return _done(fig)


def pubsub_fanout(measured: pd.DataFrame, *, fitted: pd.DataFrame | None = None) -> Figure:
    """PubSub fan-out: deliveries per second (left) and delivery latency (right) against subscribers.

    ``measured``: ``subscribers``, ``published_per_s``, ``delivered_per_s``, ``p50_us``, ``p99_us``
    (one row per run or step). ``fitted``: ``subscribers``, ``delivered_per_s`` from the network model.
    """
    fig, (ax1, ax2) = _new(1, 2, figsize=(7.5, 3.6))
    m = measured.sort_values("subscribers")
    ax1.plot(m["subscribers"], m["delivered_per_s"], marker=MARKERS[0], color=PALETTE[0], label="delivered")
    ax1.plot(m["subscribers"], m["published_per_s"], marker=MARKERS[1], linestyle=LINESTYLES[1],
             color=PALETTE[1], label="published")
    if fitted is not None and len(fitted):
        ax1.plot(fitted["subscribers"], fitted["delivered_per_s"], LINESTYLES[2], color=PALETTE[2],
                 label="model: published × subscribers")
    for ax in (ax1, ax2):  # ticks only where runs were measured: never "1.5 subscribed nodes"
        ax.xaxis.set_major_locator(FixedLocator(sorted(m["subscribers"].unique())))
        ax.xaxis.set_major_formatter(FuncFormatter(_number))
    ax1.set_xlabel("subscribed Nuxeo nodes")
    ax1.set_ylabel("messages per second (msg/s)")
    ax1.set_ylim(bottom=0)
    ax1.set_title("PubSub fan-out")
    ax1.legend(loc="upper left")
    ax2.plot(m["subscribers"], m["p50_us"], marker=MARKERS[0], color=PALETTE[0], label="p50")
    ax2.plot(m["subscribers"], m["p99_us"], marker=MARKERS[1], linestyle=LINESTYLES[1], color=PALETTE[1],
             label="p99")
    ax2.set_xlabel("subscribed Nuxeo nodes")
    ax2.set_ylabel("publish→delivery latency (µs)")
    ax2.set_yscale("log")
    ax2.set_title("Delivery latency")
    ax2.legend(loc="upper left")
    return _done(fig)


def latency_over_time(series: pd.DataFrame, *, ops: Sequence[str] | None = None, title: str = "") -> Figure:
    """p99 latency per second for a few operations.

    ``series``: ``t_s`` (seconds since the run started), ``op``, ``p99_us``.
    """
    fig, (ax,) = _new()
    names = list(ops) if ops else sorted(series["op"].unique())
    for i, op in enumerate(names):
        s = series[series["op"] == op].sort_values("t_s")
        ax.plot(s["t_s"], s["p99_us"], color=PALETTE[i % len(PALETTE)],
                linestyle=LINESTYLES[i % len(LINESTYLES)], marker=MARKERS[i % len(MARKERS)],
                markersize=3, label=op)
    ax.set_xlabel("time since the run started (s)")
    ax.set_ylabel("p99 latency (µs)")
    ax.set_yscale("log")
    ax.set_title(title or "p99 latency per second")
    ax.legend(loc="upper right", ncol=2)
    return _done(fig)


def failover_timeline(
    throughput: pd.DataFrame,
    *,
    events: pd.DataFrame | None = None,
    fault_at_s: float | None = None,
    fault_end_s: float | None = None,
    windows: Sequence[tuple[float, float]] = (),
    title: str = "Failover",
) -> Figure:
    """Commands per second served by each Redis node around a fault, with the failover events.

    ``throughput``: ``t_s`` (seconds since the load started), ``node``, ``ops_per_s`` (server side,
    from the 1 s samples). ``events``: ``t_s`` and ``kind`` (``+sdown``, ``+odown``, ``+switch-master``…),
    drawn as labelled vertical lines. ``windows``: the client's unavailability windows (start, end) in s,
    shaded. The fault lasts from ``fault_at_s`` to ``fault_end_s``.
    """
    fig, (ax,) = _new(figsize=(7.0, 3.9))
    for i, (node, th) in enumerate(sorted(throughput.groupby("node"), key=lambda kv: str(kv[0]))):
        th = _break_gaps(th.sort_values("t_s"), "t_s", max_gap=2.0)
        ax.plot(th["t_s"], th["ops_per_s"], color=PALETTE[i % len(PALETTE)],
                linestyle=LINESTYLES[i % len(LINESTYLES)], marker=MARKERS[i % len(MARKERS)], markersize=3,
                label=f"node {node}")
    for j, (start, end) in enumerate(windows):
        ax.axvspan(start, end, color=PALETTE[1], alpha=0.18,
                   label=f"client unavailable ({1000 * (end - start):,.0f} ms)" if j == 0 else None)
    if fault_at_s is not None:
        ax.axvline(fault_at_s, color=PALETTE[6], linewidth=1.2, label="fault injected")
    if fault_end_s is not None:
        ax.axvline(fault_end_s, color=PALETTE[6], linewidth=1.2, linestyle=LINESTYLES[1], label="fault ends")
    ax.set_ylim(bottom=0)
    if events is not None and len(events):
        top = ax.get_ylim()[1]
        for i, (t, kind) in enumerate(zip(events["t_s"], events["kind"])):
            ax.axvline(t, color=PALETTE[2], linestyle=LINESTYLES[3], linewidth=1)
            ax.text(t, top * (0.97 - 0.09 * (i % 5)), f" {kind}", fontsize=8, color=PALETTE[2], va="top")
    ax.set_xlabel("time since the load started (s)")
    ax.set_ylabel("commands per node (ops/s)")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    return _done(fig)


def validation_errors(errors: pd.DataFrame) -> Figure:
    """Each model's prediction error on runs its fit did not use, against its goal.

    ``errors``: ``check`` (a short label), ``error_pct`` (signed, %: predicted vs measured) and
    optionally ``goal_pct`` (the tolerance, ± %).
    """
    e = errors.reset_index(drop=True)
    labels = [textwrap.fill(str(c), 38) for c in e["check"]]  # long names would squeeze the bars off the page
    lines = sum(lab.count("\n") + 1 for lab in labels)
    fig, (ax,) = _new(figsize=(7.0, 1.2 + 0.28 * max(lines, 3)))
    y = np.arange(len(e))
    ok = e["error_pct"].abs() <= e["goal_pct"] if "goal_pct" in e else pd.Series(True, index=e.index)
    ax.barh(y, e["error_pct"], color=[PALETTE[0] if k else PALETTE[1] for k in ok],
            hatch=None, edgecolor="black", linewidth=0.5)
    for i, row in e.iterrows():
        if "goal_pct" in e and pd.notna(row.get("goal_pct")):
            ax.plot([-row["goal_pct"], row["goal_pct"]], [i, i], "|", color=PALETTE[6], markersize=14)
        ax.text(row["error_pct"], i, f" {row['error_pct']:+.1f}%", va="center",
                ha="left" if row["error_pct"] >= 0 else "right", fontsize=8)
    ax.set_yticks(y, labels, fontsize=8)
    ax.axvline(0, color="black", linewidth=0.8)
    lim = max(float(e["error_pct"].abs().max()) if len(e) else 1.0,
              float(e["goal_pct"].max()) if "goal_pct" in e and len(e) else 0.0) * 1.35 + 0.5
    ax.set_xlim(-lim, lim)
    ax.set_xlabel("prediction error (%, predicted vs measured; ticks = goal)")
    ax.set_title("Model validation on runs the fit did not use")
    ax.invert_yaxis()
    return _done(fig)


def comparison_changes(changes: pd.DataFrame, *, metric: str = "p99_us", title: str = "") -> Figure:
    """A/B comparison: per op, the relative change B/A − 1 of ``metric`` (%) with its confidence
    interval; filled markers where the change is larger than the noise (``analysis.compare``).

    ``changes``: one row per op with ``op``, ``a``, ``low``, ``high``, ``rel``, ``significant``
    (``diff``/``low``/``high`` in the metric's unit, as :class:`analysis.compare.Change`)."""
    df = changes.dropna(subset=["rel"]).reset_index(drop=True)
    fig, axes = _new(figsize=(7.0, max(2.0, 0.35 * len(df) + 1.2)))
    ax = axes[0]
    y = np.arange(len(df))
    rel = 100 * df["rel"].to_numpy(float)
    lo = 100 * df["low"].to_numpy(float) / df["a"].to_numpy(float)
    hi = 100 * df["high"].to_numpy(float) / df["a"].to_numpy(float)
    ax.errorbar(rel, y, xerr=[rel - lo, hi - rel], fmt="none", ecolor=PALETTE[0], capsize=3)
    sig = df["significant"].to_numpy(bool)
    if sig.any():
        ax.scatter(rel[sig], y[sig], color=PALETTE[1], marker=MARKERS[1], zorder=3, label="larger than the noise")
    if (~sig).any():
        ax.scatter(rel[~sig], y[~sig], facecolors="white", edgecolors=PALETTE[0], marker=MARKERS[0], zorder=3,
                   label="within the noise")
    ax.axvline(0, color="0.3", linewidth=1)
    ax.set_yticks(y, df["op"])
    ax.invert_yaxis()
    name = metric.replace("_us", "").replace("ops_per_s", "throughput")
    ax.set_xlabel(f"change of {name}, B vs A (%)")
    ax.set_title(title or f"{name}: B − A with its confidence interval")
    ax.legend(loc="best")
    return _done(fig)
