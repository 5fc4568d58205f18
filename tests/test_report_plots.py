"""The report's figures: every axis labelled with its unit, series kept apart in greyscale, PNG renders."""

from __future__ import annotations

import io
import re

import numpy as np
import pandas as pd
import pytest

from analysis import plots

UNIT = re.compile(r"\((ops/s|µs|bytes|works|msg/s|s|min|h|%[^)]*)\)|users|nodes")


def _axes_labelled(fig):
    for ax in fig.axes:
        for label in (ax.get_xlabel(), ax.get_ylabel()):
            if label:
                assert UNIT.search(label), f"axis label without a unit: {label!r}"
        assert ax.get_xlabel() or ax.get_ylabel()


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    data = buf.getvalue()
    assert data.startswith(b"\x89PNG") and len(data) > 5000
    return data


@pytest.fixture
def sweep():
    users = np.array([1, 2, 4, 8, 16])
    ops = 1000 * users / (1 + 0.05 * (users - 1) + 0.004 * users * (users - 1))
    return pd.DataFrame({"users": users, "ops_per_s": ops, "p50_us": 80 + 5 * users, "p99_us": 300 + 40 * users})


def test_throughput_latency_draws_measured_fit_ceiling_and_slo(sweep):
    fitted = pd.DataFrame({"users": np.linspace(1, 16, 20)})
    fitted["ops_per_s"] = np.interp(fitted["users"], sweep["users"], sweep["ops_per_s"])
    fig = plots.throughput_latency(sweep, workload="workmanager", fitted=fitted, ceiling_ops_per_s=7000, slo_us=900)
    _axes_labelled(fig)
    left, right = fig.axes
    labels = plots.legend_texts(fig)  # one legend below both panels: it covers no curve
    assert not left.get_legend() and not right.get_legend()
    assert labels[0] == "measured" and "fitted model" in labels and any("7,000" in s for s in labels)
    assert any("900" in s for s in labels)
    assert right.get_yscale() == "log"
    # series differ by marker or line style, not only colour
    styles = {(line.get_marker(), line.get_linestyle()) for line in left.get_lines()}
    assert len(styles) == len(left.get_lines())
    _png(fig)


def test_memory_vs_backlog_switches_to_log_axes_when_projecting_far():
    measured = pd.DataFrame({"backlog_works": np.arange(0, 20_000, 1000)})
    measured["used_memory_bytes"] = 1e6 + 1500 * measured["backlog_works"]
    near = plots.memory_vs_backlog(measured, target_backlog_works=30_000, target_used_memory_bytes=4.6e7)
    far = plots.memory_vs_backlog(measured, target_backlog_works=10_000_000, target_used_memory_bytes=1.5e10,
                                  maxmemory_bytes=2.5e10)
    assert near.axes[0].get_xscale() == "linear"
    assert far.axes[0].get_xscale() == "log" and far.axes[0].get_yscale() == "log"
    texts = plots.legend_texts(far)
    assert any("10,000,000 works" in t and "GiB" in t for t in texts)
    for fig in (near, far):
        _axes_labelled(fig)
        _png(fig)


def test_mass_operation_timeline_marks_maxmemory_and_oom():
    t = pd.DataFrame({"t_s": np.arange(0, 7200, 60.0)})
    t["backlog_works"] = np.minimum(t["t_s"] * 400, 2e6)
    t["used_memory_bytes"] = 1400 * t["backlog_works"]
    fig = plots.mass_operation_timeline(t, maxmemory_bytes=2.0e9, oom_at_s=3600)
    _axes_labelled(fig)
    assert "(min)" in fig.axes[1].get_xlabel()  # two hours: minutes, not 7200 seconds
    texts = plots.legend_texts(fig)
    assert any(s.startswith("maxmemory 1.9 GiB") for s in texts) and any("OOM" in s for s in texts)
    _png(fig)


def test_pubsub_failover_latency_and_validation_figures_render():
    ps = pd.DataFrame({"subscribers": [1, 2, 4], "published_per_s": [500] * 3, "delivered_per_s": [500, 1000, 2000],
                       "p50_us": [90, 95, 120], "p99_us": [300, 320, 400]})
    th = pd.DataFrame({"t_s": np.tile(np.arange(30.0), 2), "node": ["a"] * 30 + ["b"] * 30, "ops_per_s": 800.0})
    ev = pd.DataFrame({"t_s": [11.0, 12.5], "kind": ["+sdown", "+switch-master"]})
    lat = pd.DataFrame({"t_s": np.tile(np.arange(10.0), 2), "op": ["GET"] * 10 + ["SET"] * 10, "p99_us": 100.0})
    err = pd.DataFrame({"check": ["memory ×10", "ceiling"], "error_pct": [2.0, -20.0], "goal_pct": [3.0, 15.0]})
    figs = [plots.pubsub_fanout(ps), plots.failover_timeline(th, events=ev, fault_at_s=10, fault_end_s=20,
                                                             windows=[(10.1, 13.0)]),
            plots.latency_over_time(lat), plots.validation_errors(err)]
    for fig in figs:
        _axes_labelled(fig)
        _png(fig)
    # a check outside its goal is drawn in the warning colour
    bars = figs[3].axes[0].patches
    assert bars[0].get_facecolor() != bars[1].get_facecolor()


def test_human_bytes():
    assert plots.human_bytes(512) == "512 B"
    assert plots.human_bytes(1536) == "1.5 KiB"
    assert plots.human_bytes(3 * 2**30) == "3.0 GiB"


def test_tick_labels_use_thousands_separators_and_pubsub_ticks_only_measured_counts():
    sweep = pd.DataFrame({"rate": [10_000.0, 12_500.0, 15_000.0], "ops_per_s": [9_800.0, 12_100.0, 14_000.0],
                          "p50_us": [200.0, 260.0, 400.0], "p99_us": [900.0, 1500.0, 4000.0]})
    fig = plots.throughput_latency(sweep, workload="kv", load_column="rate", load_label="offered load (ops/s)")
    fig.canvas.draw()
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels() if t.get_text()]
    assert labels and all("," in s for s in labels if len(s.replace("−", "")) > 3), labels
    pts = pd.DataFrame({"subscribers": [1, 4], "published_per_s": [137.0, 137.0], "delivered_per_s": [137.0, 548.0],
                        "p50_us": [393.0, 493.0], "p99_us": [5599.0, 5131.0]})
    fig = plots.pubsub_fanout(pts)
    fig.canvas.draw()
    for ax in fig.axes:
        assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "4"]
