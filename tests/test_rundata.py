"""The run-data contract (rcapcore.rundata): typed JSON that round-trips the recorded files exactly, and
one resolver of run, sweep and suite folders for every command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rcapcore.errors import BadInput
from rcapcore.rundata import (MANIFEST, RESULT, SUMMARY, SWEEP, Manifest, Result, Summary, SweepManifest, append_jsonl,
                              open_runs, write_json)

REFERENCE = Path(__file__).resolve().parent.parent / "data" / "reference"


def _recorded(name: str) -> list[Path]:
    return sorted(REFERENCE.rglob(name))


@pytest.mark.parametrize("cls,name", [(Manifest, MANIFEST), (Summary, SUMMARY), (Result, RESULT),
                                      (SweepManifest, SWEEP)])
def test_typed_json_round_trips_every_reference_file(cls, name):
    files = _recorded(name)
    assert files, f"no reference {name}"
    for path in files:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text)
        back = cls.from_dict(data).to_dict()
        assert back == data and list(back) == list(data), path  # same keys, same order
        assert json.dumps(back, indent=2, sort_keys=True) == json.dumps(data, indent=2, sort_keys=True)


def test_unknown_keys_survive_and_typed_fields_read():
    data = {"run_id": "r1", "status": "complete", "from_the_future": {"x": 1}, "target": {"topology": "sentinel"},
            "scenario": {"name": "kv", "workload": "kv"}, "parameters": {"users": 3}, "start_t": 10.0}
    m = Manifest.from_dict(data)
    assert m.extra == {"from_the_future": {"x": 1}}
    assert (m.workload, m.topology_name, m.param("users"), m.load_origin_t) == ("kv", "sentinel", 3, 10.0)
    assert m.to_dict() == data
    m.end_t = 12.5  # set after loading: appended
    assert m.to_dict()["end_t"] == 12.5


def _run(folder: Path, name: str, status: str = "complete") -> Path:
    path = folder / name
    path.mkdir(parents=True)
    write_json(path / MANIFEST, {"run_id": name, "status": status})
    return path


def test_open_runs_resolves_runs_sweeps_and_suite_folders_alike(tmp_path):
    suite = tmp_path / "suite"
    sweep = suite / "sweep-a"
    steps = [_run(sweep, "s1"), _run(sweep, "s2", "interrupted"), _run(sweep, "s3", "degraded")]
    write_json(sweep / SWEEP, {"sweep_id": "sweep-a", "runs": [{"run_id": p.name} for p in steps]
                               + [{"run_id": "never-started"}]})
    lone = _run(suite, "lone")
    odd = _run(suite / "nested", "odd", "running")

    whole = open_runs([suite])
    assert whole.sweeps == [sweep.resolve()]
    assert set(whole.all_runs) == {p.resolve() for p in (*steps, lone, odd)}
    assert set(whole.usable) == {steps[0].resolve(), lone.resolve()}  # interrupted step, degraded, running out
    assert "left out 2" in whole.note
    with_degraded = open_runs([suite], include_degraded=True)
    assert set(with_degraded.usable) == {steps[0].resolve(), steps[2].resolve(), lone.resolve(), odd.resolve()}
    # the same runs whether the suite, its sweep and runs, or the run directories are named
    parts = open_runs([sweep, lone, odd])
    assert set(parts.usable) == set(whole.usable) and parts.sweeps == whole.sweeps
    assert open_runs([lone]).usable == [lone.resolve()]


def test_open_runs_refuses_what_holds_no_run(tmp_path):
    with pytest.raises(BadInput, match="no such"):
        open_runs([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(BadInput, match="neither a run nor a sweep"):
        open_runs([tmp_path / "empty"])
    assert open_runs([tmp_path / "empty", tmp_path / "missing"], missing_ok=True).all_runs == []


def test_one_writer_redacts_and_writes_whole_lines(tmp_path):
    path = tmp_path / "x.jsonl"
    append_jsonl(path, [{"url": "redis://u:s3cret-pass@h:6379", "v": float("nan")}, {"n": 1}])
    append_jsonl(path, [])
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines][1] == {"n": 1}
    first = json.loads(lines[0])
    assert "s3cret-pass" not in lines[0] and first["v"] is None
