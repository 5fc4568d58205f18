"""Synthesise a recorded 1-hour mass-operation run (for the long-run analysis benchmark, BENCHMARKS.md).

Replays the committed reference mass-operation run's lines second after second for ``--seconds``
(default 3,600): ``latency.jsonl`` (every op and kind, each second), one INFO sample per node per
second (3 nodes → ≈10,800 server samples) and ``workload.jsonl`` (one backlog sample per second).
The backlog grows by ``--works-per-s`` and the master's ``used_memory`` by ``--bytes-per-work`` per
work, so the memory model has a long series to calibrate on. Nothing here touches Redis.

    .venv/bin/python benchmarks/synth_long_run.py /tmp/long-run
"""

from __future__ import annotations

import argparse
import json
import shutil
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TEMPLATE = REPO / "data" / "reference" / "20261125T180202Z-mass-operation-bdf7"


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def synthesise(out: Path, seconds: int = 3600, works_per_s: float = 150.0, bytes_per_work: float = 2300.0) -> Path:
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / "server").mkdir()
    for name in ("counters.json", "events.jsonl", "summary.json"):
        shutil.copy(TEMPLATE / name, out / name)
    manifest = json.loads((TEMPLATE / "manifest.json").read_text())
    t0 = float(manifest["start_t"])
    manifest.update(run_id="synthetic-1h-mass-operation", end_t=t0 + seconds, elapsed_s=seconds,
                    server_samples=3 * seconds)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))

    latency = _lines(TEMPLATE / "latency.jsonl")
    by_t: dict[int, list[dict]] = defaultdict(list)
    for rec in latency:
        by_t[rec["t"]].append(rec)
    steady = by_t[sorted(by_t)[len(by_t) // 2]]  # a full second of every op and kind
    with open(out / "latency.jsonl", "w", encoding="utf-8") as fh:
        for s in range(seconds):
            t = int(t0) + 1 + s
            fh.writelines(json.dumps({**rec, "t": t}, separators=(",", ":")) + "\n" for rec in steady)

    with open(out / "workload.jsonl", "w", encoding="utf-8") as fh:
        for s in range(seconds):
            fh.write(json.dumps({"t": round(t0 + s + 0.8, 3), "work_backlog": int(s * works_per_s)}) + "\n")

    for path in sorted((TEMPLATE / "server").glob("*.jsonl")):
        first = _lines(path)[0]
        base_mem = first["info"]["used_memory"]
        calls = first["info"].get("total_commands_processed", 0)
        with open(out / "server" / path.name, "w", encoding="utf-8") as fh:
            for s in range(seconds):
                info = dict(first["info"])
                info["used_memory"] = int(base_mem + s * works_per_s * bytes_per_work)
                info["total_commands_processed"] = calls + s * 1000
                fh.write(json.dumps({**first, "t": round(t0 + s + 0.75, 3), "info": info}) + "\n")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--seconds", type=int, default=3600)
    args = ap.parse_args()
    out = synthesise(args.out, args.seconds)
    print(out)


if __name__ == "__main__":
    main()
