"""What-ifs on the drivers that matter (analysis.whatif), against the recommended maxmemory."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from analysis import memory as mem
from analysis import sizing
from analysis.targets import load_target

EXAMPLE = "data/targets/example.yaml"


@pytest.fixture(scope="module")
def rec():
    return sizing.size(load_target(EXAMPLE))


@pytest.fixture(scope="module")
def by(rec):
    return {w["label"]: w for w in rec.what_ifs}


def _layout():
    return mem.RedisLayout.for_version("7.2", mem.Allocator.parse("jemalloc"))


def _steady_dataset(rec) -> float:
    return rec.memory["dataset_bytes"] - rec.memory["parts"]["mass operation peak"]


def test_reindex_size_drives_peak_memory_and_oom(rec, by):
    maxmem = rec.memory["maxmemory_bytes"]
    x1, x2, x5 = by["reindex ×1"], by["reindex ×2"], by["reindex ×5"]
    assert x1["peak_memory_bytes"] == rec.memory["dataset_bytes"]  # ×1 is the recommendation itself
    assert x1["maxmemory_needed_bytes"] == maxmem and x1["oom_t_s"] is None
    assert x1["headroom_bytes"] == pytest.approx(maxmem - x1["peak_memory_bytes"]) and x1["headroom_bytes"] > 0
    assert x1["peak_memory_bytes"] < x2["peak_memory_bytes"] < x5["peak_memory_bytes"]
    assert x1["maxmemory_needed_bytes"] < x2["maxmemory_needed_bytes"] < x5["maxmemory_needed_bytes"]
    for w in rec.what_ifs:  # OOM exactly when the peak reaches maxmemory, and only then no margin
        if w["peak_memory_bytes"] is not None and w["label"] not in ("Elasticsearch down during the reindex",
                                                                     "all consumers stopped, no mass operation"):
            assert (w["oom_t_s"] is not None) == (w["peak_memory_bytes"] >= maxmem), w["label"]
            assert (w["headroom_bytes"] is None) == (w["oom_t_s"] is not None), w["label"]
    assert x2["oom_t_s"] is not None and x5["oom_t_s"] is not None
    # buckets pile up at λ − μ from t = 0 whatever the size: the scheduling rate sets when, not the size
    assert x5["oom_t_s"] == pytest.approx(x2["oom_t_s"], rel=0.01)
    assert x2["documents"] == 2 * x1["documents"] and x5["works"] == 5 * x1["works"]


def test_slower_indexing_gives_a_larger_peak_and_a_longer_lag(by):
    x1, slow = by["reindex ×1"], by["indexing speed ×0.5"]
    assert slow["peak_memory_bytes"] > x1["peak_memory_bytes"]
    assert slow["peak_backlog_works"] > x1["peak_backlog_works"]
    assert slow["drained_t_s"] > x1["drained_t_s"] and slow["live_lag_max_s"] > x1["live_lag_max_s"]


def test_all_consumers_stopped_reaches_maxmemory_at_the_arrival_rate(rec, by):
    w = by["all consumers stopped, no mass operation"]
    # from the inputs: 40 docs/s × 3 works; payloads of the 2021 mix: IndexingWorker 1,700 B, fulltext 1,110 B,
    # listener 3,000 B, one each per document
    rate = 40 * 3
    shape = mem.WorkShape(round((1700 + 1110 + 3000) / 3))
    per_work = mem.pending_works_bytes(100_000, shape, _layout()) / 100_000
    expect = (rec.memory["maxmemory_bytes"] - _steady_dataset(rec)) / (rate * per_work)
    assert w["oom_t_s"] == pytest.approx(expect, rel=0.01)
    assert w["peak_backlog_works"] == pytest.approx(rate * w["oom_t_s"], rel=1e-3)
    assert w["maxmemory_needed_bytes"] is None and w["headroom_bytes"] is None


def test_elasticsearch_down_holds_every_bucket_then_the_live_works(rec, by):
    w = by["Elasticsearch down during the reindex"]
    layout = _layout()
    bucket = mem.pending_works_bytes(100_000, mem.WorkShape(20700, payload_mix=((1, 20700, 200),)), layout) / 100_000
    live = mem.pending_works_bytes(100_000, mem.WorkShape(1700), layout) / 100_000
    # 20,000 buckets arrive in 500 s (40/s), live IndexingWorkers 40/s for as long as it lasts; none consumed
    room = rec.memory["maxmemory_bytes"] - _steady_dataset(rec) - 20_000 * bucket
    assert room > 0  # every bucket fits: the live works alone then fill maxmemory
    expect = room / (40 * live)  # t at which 40 t live works fill what the buckets leave
    assert w["oom_t_s"] == pytest.approx(expect, rel=0.02)
    assert w["oom_t_s"] > 500
    assert w["peak_backlog_works"] == pytest.approx(20_000)
    assert w["live_waiting_works"] == pytest.approx(40 * w["oom_t_s"], rel=1e-3)
    assert "assumed" in w["note"] and "other queues run" in w["note"]


def test_largest_mass_operation_absorbed_is_the_limit(rec, by):
    w = by["largest mass operation absorbed"]
    target = load_target(EXAMPLE)
    maxmem = rec.memory["maxmemory_bytes"]
    measured, layout = sizing.measured_from_runs(None), _layout()

    def peak(documents: float) -> float:
        t = replace(target, mass_operation=replace(target.mass_operation, documents=int(documents)))
        return sizing.estimate(t, measured, layout).memory.dataset_bytes

    assert w["documents"] > target.mass_operation.documents  # the recommendation keeps headroom
    assert peak(w["documents"]) < maxmem <= peak(w["documents"] * 1.05)
    assert w["oom_t_s"] is None and w["works"] == w["documents"] // 500


def _with_growth(tmp_path, rate: str):
    text = open(EXAMPLE, encoding="utf-8").read().replace(
        "  threads_per_node: 4", f"  threads_per_node: 4\n  documents_growth_per_year: {rate}")
    path = tmp_path / "grow.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_growth_horizon_only_with_a_rate(rec, by, tmp_path):
    assert by["growth horizon"]["note"] == "no growth rate given" and by["growth horizon"]["peak_memory_bytes"] is None
    assert not any(w["label"].startswith("reindex in ") for w in rec.what_ifs)
    grown = sizing.size(load_target(str(_with_growth(tmp_path, "0.2"))))
    g = {w["label"]: w for w in grown.what_ifs}
    assert "growth horizon" not in g
    assert g["reindex in 1 year"]["documents"] == 12_000_000
    assert g["reindex in 3 years"]["documents"] == round(10_000_000 * 1.2 ** 3)
    assert g["reindex in 1 year"]["peak_memory_bytes"] < g["reindex in 3 years"]["peak_memory_bytes"]
    # played against today's maxmemory (the growth is a what-if, not part of the sizing)
    assert grown.memory["maxmemory_bytes"] == rec.memory["maxmemory_bytes"]


@pytest.mark.parametrize("rate, fragment", [(".nan", "not a finite number"), ("-0.1", "must be >= 0"),
                                            ("1.0e+6", "upper bound"), ("fast", "expected a number")])
def test_bad_growth_rate_is_one_line_exit_2(tmp_path, capsys, rate, fragment):
    from rcap.cli import main

    code = main(["size", str(_with_growth(tmp_path, rate))])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "documents_growth_per_year" in err[0] and fragment in err[0], err


def test_section_and_table_are_clean(rec):
    from analysis.report.whatif import what_if_section

    sec = what_if_section(None, rec)
    (tab,) = sec.tables
    assert list(tab.columns) == ["peak backlog", "peak memory", "vs maxmemory", "queue empty at",
                                 "live-indexing lag", "maxmemory needed"]
    assert len(tab) == len(rec.what_ifs)
    text = "\n".join(sec.items[i] for i in range(len(sec.items)) if isinstance(sec.items[i], str))
    text += "\n" + tab.to_string()
    assert "nan" not in text.lower().replace("nanosecond", "")
    assert "(s)" not in text
    for a, b in re.findall(r"([\d,.]+)\s*[–-]\s*([\d,.]+)", text):
        assert a != b, (a, b)
    assert "driver" in text and "OOM at t = " in text and "no growth rate given" in text
    assert re.search(r"\d{1,3}(,\d{3})+ works", tab.to_string())  # thousands separators
    assert "if reindex ×2" in rec.table() and "OOM at t=" in rec.table()


def test_no_limit_when_the_mass_operation_never_piles_up():
    """Scheduled slower than consumed (0.2 works/s against 6 works/s): no size reaches maxmemory, and the
    report says so instead of a made-up figure."""
    t = load_target(EXAMPLE)
    slow = replace(t, mass_operation=replace(t.mass_operation, schedule_docs_per_s=100))
    w = next(w for w in sizing.size(slow).what_ifs if w["label"] == "largest mass operation absorbed")
    assert w["documents"] is None and w["peak_memory_bytes"] is None and w["note"].startswith("no limit")
