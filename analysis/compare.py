"""Per-operation tables of a run, and A/B comparison of runs with bootstrap confidence intervals.

``op_table(run)`` is what ``rcap show`` and the end of ``rcap bench`` print: per op the count, errors,
steady ops/s, measured (and, in open loop, corrected) percentiles in µs, plus the server's CPU and memory.

``compare(runs_a, runs_b)`` answers the load tester's daily question, "did this config change make a
difference?": for each op the change in throughput and in p50 … p99.9 (B − A), each with a bootstrap
confidence interval, and whether the change is larger than the noise. The noise is estimated by
resampling what varies between repetitions:

- one run per side: blocks of consecutive steady seconds (moving-block bootstrap, so the per-second
  autocorrelation of a load test is kept); this is within-run noise only, and the result says so;
- several runs per side (``rcap bench --repeat K``): runs first, then blocks of seconds inside each
  chosen run, so run-to-run noise (warm-up, neighbours on the machine) widens the interval as it should.

Percentiles are exact: each resample sums the per-second µs HdrHistogram counts and reads the
percentile off the merged counts, the same way ``summary.json`` is built. Files only, never Redis.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np

if TYPE_CHECKING:  # pandas only for the annotation: analysis.compare loads it lazily
    import pandas as pd

from analysis.runs import Run
from rcapcore.errors import BadInput
from rcapcore.latency import (MEASURED, PERCENTILES, bucket_counts, bucket_values, decode, new_histogram,
                              read_latency_lines)
from rcapcore.rundata import LATENCY

METRICS = ("ops_per_s", *PERCENTILES)
"""What is compared per op: steady throughput (ops/s) and the latency percentiles (µs)."""


# --- one run's per-second histograms as a counts matrix -------------------------------------------


@dataclass
class OpSeconds:
    """One op's seconds of one run: ``counts[s, i]`` is the number of samples of second ``s`` in HDR
    bucket ``first_index + i``; ``errors[s]`` the failed requests of that second; ``steady[s]`` whether the
    second is inside ``summary.json``'s steady window (the seconds its ``ops_per_s`` averages over)."""

    counts: np.ndarray
    errors: np.ndarray
    steady: np.ndarray
    first_index: int


def _bucket_values() -> np.ndarray:
    """µs value reported for each HDR bucket index of rcap's histogram layout (highest equivalent value)."""
    return bucket_values(new_histogram())[0]


def op_seconds(run: Run, kind: str = MEASURED) -> dict[str, OpSeconds]:
    """Per op, the seconds of ``run`` as counts matrices (same definitions as ``summary.json``:
    percentiles over every second, throughput over the steady seconds)."""
    lo, hi = run.summary.get("steady_first_t"), run.summary.get("steady_last_t")
    rows: dict[str, dict[int, tuple[np.ndarray | None, int]]] = {}
    for rec in read_latency_lines(run.path / LATENCY):
        if rec.get("kind", MEASURED) != kind:
            continue
        t = int(rec.get("t", 0))
        counts = None
        if rec.get("hdr") and rec.get("count", 0):
            hist = decode(rec["hdr"])
            counts = bucket_counts(hist).astype(np.int64)
        prev_counts, prev_errors = rows.setdefault(rec["op"], {}).get(t, (None, 0))
        if prev_counts is not None and counts is not None:
            counts = counts + prev_counts
        rows[rec["op"]][t] = (counts if counts is not None else prev_counts, prev_errors + int(rec.get("errors", 0)))
    out = {}
    n_buckets = len(_bucket_values())
    for op, seconds in rows.items():
        ts = sorted(seconds)
        mats = [seconds[t][0] if seconds[t][0] is not None else np.zeros(n_buckets, np.int64) for t in ts]
        mat = np.vstack(mats)
        nz = np.flatnonzero(mat.sum(axis=0))
        first, last = (int(nz[0]), int(nz[-1]) + 1) if nz.size else (0, 1)
        steady = np.array([lo is None or lo <= t <= hi for t in ts])
        out[op] = OpSeconds(counts=mat[:, first:last], errors=np.array([seconds[t][1] for t in ts]),
                            steady=steady, first_index=first)
    return out


def _percentiles_us(summed: np.ndarray, first_index: int) -> dict[str, float | None]:
    """Percentiles (µs) of merged HDR counts (rows: resamples), as hdrh's get_percentile_to_value_dict."""
    summed = np.atleast_2d(summed)
    total = summed.sum(axis=1)
    cum = np.cumsum(summed, axis=1)
    values = _bucket_values()[first_index:first_index + summed.shape[1]]
    out = {}
    for name, p in PERCENTILES.items():
        target = np.maximum((p * total / 100.0 + 0.5).astype(np.int64), 1)
        idx = np.array([np.searchsorted(c, k) for c, k in zip(cum, target)])
        vals = values[np.minimum(idx, len(values) - 1)].astype(float)
        vals[total == 0] = np.nan
        out[name] = vals
    return out


# --- the bootstrap --------------------------------------------------------------------------------


def _block_indices(n: int, rng: np.random.Generator, n_boot: int) -> np.ndarray:
    """Moving-block bootstrap of ``n`` consecutive seconds: ``n_boot`` rows of ``n`` indices."""
    block = max(1, int(round(n ** (1 / 3))))
    starts = rng.integers(0, max(1, n - block + 1), size=(n_boot, math.ceil(n / block)))
    idx = (starts[:, :, None] + np.arange(block)[None, None, :]).reshape(n_boot, -1)[:, :n]
    return np.minimum(idx, n - 1)


def _resample(sides: Sequence[OpSeconds], rng: np.random.Generator, n_boot: int) -> dict[str, np.ndarray]:
    """Bootstrap distribution of each metric for one side (one or several runs of one op)."""
    first = min(s.first_index for s in sides)
    width = max(s.first_index + s.counts.shape[1] for s in sides) - first
    padded = []
    for s in sides:
        m = np.zeros((s.counts.shape[0], width), np.int64)
        m[:, s.first_index - first:s.first_index - first + s.counts.shape[1]] = s.counts
        padded.append(m)
    summed = np.zeros((n_boot, width), np.int64)
    steady_count = np.zeros(n_boot)
    steady_seconds = np.zeros(n_boot)
    # runs resampled first (run-to-run noise), then blocks of seconds inside each chosen run
    picks = rng.integers(0, len(padded), size=(n_boot, len(padded))) if len(padded) > 1 else np.zeros((n_boot, 1), int)
    for r in range(len(padded)):
        for k, mat in enumerate(padded):
            rows = np.flatnonzero(picks[:, r] == k)
            if rows.size == 0:
                continue
            idx = _block_indices(mat.shape[0], rng, rows.size)
            steady = sides[k].steady
            per_second = mat.sum(axis=1)
            for j, row in enumerate(rows):
                summed[row] += mat[idx[j]].sum(axis=0)
                mask = steady[idx[j]]
                steady_count[row] += per_second[idx[j]][mask].sum()
                steady_seconds[row] += mask.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        out = {"ops_per_s": np.where(steady_seconds > 0, steady_count / steady_seconds, np.nan)}
    out.update(_percentiles_us(summed, first))
    return out


def _point(sides: Sequence[OpSeconds]) -> dict[str, float | None]:
    first = min(s.first_index for s in sides)
    width = max(s.first_index + s.counts.shape[1] for s in sides) - first
    summed = np.zeros(width, np.int64)
    steady_count = steady_seconds = 0
    for s in sides:
        summed[s.first_index - first:s.first_index - first + s.counts.shape[1]] += s.counts.sum(axis=0)
        steady_count += int(s.counts[s.steady].sum())
        steady_seconds += int(s.steady.sum())
    out: dict[str, float | None] = {"ops_per_s": steady_count / steady_seconds if steady_seconds else None}
    out.update({k: (None if np.isnan(v[0]) else float(v[0])) for k, v in _percentiles_us(summed, first).items()})
    return out


@dataclass(frozen=True)
class Change:
    """B − A for one metric: ``a``, ``b`` (point values), ``diff`` = b − a with its confidence interval
    [``low``, ``high``] (same unit as the metric), ``rel`` = b / a − 1, and ``significant``: the interval
    excludes 0, i.e. the change is larger than the resampled noise."""

    metric: str
    a: float | None
    b: float | None
    diff: float | None
    low: float | None
    high: float | None
    rel: float | None
    significant: bool


@dataclass
class OpComparison:
    op: str
    count_a: int
    count_b: int
    errors_a: int
    errors_b: int
    changes: list[Change] = field(default_factory=list)

    def change(self, metric: str) -> Change:
        return next(c for c in self.changes if c.metric == metric)


@dataclass
class Comparison:
    """The result of :func:`compare`; ``to_dict()`` is ``rcap compare --json``."""

    runs_a: list[str]
    runs_b: list[str]
    kind: str
    confidence: float
    n_boot: int
    noise: str
    ops: list[OpComparison]
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def frame(self, metric: str | None = None) -> "pd.DataFrame":
        """One row per op and metric (``op``, ``metric``, ``a``, ``b``, ``diff``, ``low``, ``high``, ``rel``,
        ``significant``, ``count_a``, ``count_b``); only ``metric`` if given."""
        import pandas as pd  # noqa: PLC0415

        rows = [{"op": oc.op, "count_a": oc.count_a, "count_b": oc.count_b, **asdict(c)}
                for oc in self.ops for c in oc.changes if metric is None or c.metric == metric]
        return pd.DataFrame(rows)

    def table(self) -> str:
        """Plain-text table: one line per op and metric."""
        lines = [f"A: {', '.join(self.runs_a)}", f"B: {', '.join(self.runs_b)}",
                 f"{self.kind} latency; {self.confidence:.0%} intervals of B − A, {self.n_boot} resamples "
                 f"({self.noise}); * = larger than the noise", ""]
        head = f"{'op':<34} {'metric':<10} {'A':>11} {'B':>11} {'B − A':>11} {'interval':>25} {'rel':>8}"
        lines += [head, "-" * len(head)]
        for oc in self.ops:
            for c in oc.changes:
                unit = "/s" if c.metric == "ops_per_s" else " µs"
                lines.append(
                    f"{oc.op[:34]:<34} {c.metric.replace('_us', ''):<10} {_fmt(c.a):>11} {_fmt(c.b):>11} "
                    f"{_fmt(c.diff, signed=True):>11} {'[' + _fmt(c.low, signed=True) + ', ' + _fmt(c.high, signed=True) + ']' + unit:>25} "
                    f"{_pct(c.rel):>7}{'*' if c.significant else ' '}")
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def _fmt(v: float | None, signed: bool = False) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    return f"{v:+,.0f}" if signed else f"{v:,.0f}"


def _pct(v: float | None) -> str:
    return "–" if v is None or not math.isfinite(v) else f"{v:+.1%}"


def compare(runs_a: Iterable[Run], runs_b: Iterable[Run], *, kind: str = MEASURED, confidence: float = 0.95,
            n_boot: int = 1000, seed: int = 0) -> Comparison:
    """Compare two sets of runs (one run each, or repetitions) op by op; see the module docstring."""
    runs_a, runs_b = list(runs_a), list(runs_b)
    if not runs_a or not runs_b:
        raise BadInput("compare needs at least one run on each side")
    if not (0.5 <= confidence < 1):
        raise BadInput(f"confidence must be in [0.5, 1), got {confidence}")
    rng = np.random.default_rng(seed)
    per_a = [op_seconds(r, kind) for r in runs_a]
    per_b = [op_seconds(r, kind) for r in runs_b]
    common = sorted(set.intersection(*(set(p) for p in per_a + per_b)))
    warnings = []
    only = sorted(set.union(*(set(p) for p in per_a + per_b)) - set(common))
    if only:
        warnings.append(f"ops not in every run, left out: {', '.join(only)}")
    scenarios = {r.manifest.get("scenario", {}).get("name") for r in runs_a + runs_b}
    if len(scenarios) > 1:
        warnings.append(f"the runs are of different scenarios ({', '.join(sorted(map(str, scenarios)))})")
    for label, runs in (("A", runs_a), ("B", runs_b)):
        bad = [r.id for r in runs if r.status != "complete"]
        if bad:
            warnings.append(f"side {label} has runs that did not complete: {', '.join(bad)}")
    alpha = (1 - confidence) / 2
    ops: list[OpComparison] = []
    short: list[str] = []
    for op in common:
        sa, sb = [p[op] for p in per_a], [p[op] for p in per_b]
        if min(int(s.steady.sum()) for s in sa + sb) < 10:
            short.append(op)
        pa, pb = _point(sa), _point(sb)
        ba, bb = _resample(sa, rng, n_boot), _resample(sb, rng, n_boot)
        oc = OpComparison(op=op, count_a=int(sum(s.counts.sum() for s in sa)), count_b=int(sum(s.counts.sum() for s in sb)),
                          errors_a=int(sum(s.errors.sum() for s in sa)), errors_b=int(sum(s.errors.sum() for s in sb)))
        for metric in METRICS:
            a, b = pa[metric], pb[metric]
            d = bb[metric] - ba[metric]
            d = d[np.isfinite(d)]
            if a is None or b is None or d.size == 0:
                oc.changes.append(Change(metric, a, b, None, None, None, None, False))
                continue
            low, high = (float(x) for x in np.quantile(d, [alpha, 1 - alpha]))
            oc.changes.append(Change(metric, a, b, b - a, low, high, (b / a - 1) if a else None,
                                     bool(low > 0 or high < 0)))
        ops.append(oc)
    if short:
        warnings.append(f"fewer than 10 steady seconds in a run for {len(short)} ops "
                        f"({', '.join(short[:3])}{', …' if len(short) > 3 else ''}): the intervals understate the noise")
    noise = ("run-to-run and within-run (runs, then blocks of seconds, resampled)"
             if len(runs_a) > 1 and len(runs_b) > 1 else
             "within-run only (blocks of seconds resampled); repeat runs (--repeat) to include run-to-run noise")
    return Comparison(runs_a=[r.id for r in runs_a], runs_b=[r.id for r in runs_b], kind=kind,
                      confidence=confidence, n_boot=n_boot, noise=noise, ops=ops, warnings=warnings)


# --- one run's table (rcap show, end of rcap bench) -----------------------------------------------


def server_figures(run: Run) -> dict[str, float | None]:
    """Whole-run server figures from the first master's samples: ``cpu_percent`` (main + background
    threads' CPU as % of one core, from ``used_cpu_sys + used_cpu_user``), ``used_memory_bytes``
    (last sample) and ``used_memory_peak_bytes`` (largest sample)."""
    df = run.server
    out: dict[str, float | None] = {"cpu_percent": None, "used_memory_bytes": None, "used_memory_peak_bytes": None}
    if df.empty or "used_cpu_sys" not in df:
        return out
    masters = df[df["role"] == "master"] if "role" in df else df
    if masters.empty:
        return out
    node = masters["node"].iloc[0]
    s = masters[masters["node"] == node].sort_values("t")
    cpu = (s["used_cpu_sys"] + s["used_cpu_user"]).astype(float)
    span = float(s["t"].iloc[-1] - s["t"].iloc[0])
    if span > 0:
        out["cpu_percent"] = round(100 * float(cpu.iloc[-1] - cpu.iloc[0]) / span, 1)
    if "used_memory" in s:
        out["used_memory_bytes"] = float(s["used_memory"].iloc[-1])
        out["used_memory_peak_bytes"] = float(s["used_memory"].max())
    return out


def server_vs_client(run: Run) -> list[dict]:
    """Per Redis command, client-side p50/p99 (this run's µs histograms, ops of that command merged by
    their counts' weight: the larger op's figure) next to the server's own ``latencystats`` p50/p99 (µs,
    the time Redis spent executing it). The difference is network, kernel and client time, plus queueing
    in front of the event loop. ``server_p99_us`` is None where the server gives no figure (Redis < 7)."""
    diag = run.diagnostics
    server: dict[str, dict[str, float]] = {}
    for rec in diag.get("nodes", {}).values():
        stats = rec.get("latencystats") if isinstance(rec, dict) else None
        if isinstance(stats, dict) and "unavailable" not in stats:
            server = stats
            break
    by_cmd: dict[str, tuple[str, dict]] = {}
    for name, f in run.summary.get("ops", {}).items():
        cmd = name.split(" ", 1)[0].lower()
        if cmd in ("pattern", "pubsub", "generator") or not f.get("count"):
            continue  # client-side compositions, not one Redis command
        if cmd not in by_cmd or f["count"] > by_cmd[cmd][1]["count"]:
            by_cmd[cmd] = (name, f)
    rows = []
    for cmd, (name, f) in sorted(by_cmd.items()):
        s = server.get(cmd, {})
        rows.append({"command": cmd, "client_op": name, "client_p50_us": f.get("p50_us"),
                     "client_p99_us": f.get("p99_us"), "server_p50_us": s.get("p50"), "server_p99_us": s.get("p99"),
                     "scope": diag.get("latencystats_scope")})
    return rows


def op_table(run: Run) -> str:
    """Plain-text per-op table of one run (µs latencies, steady ops/s) with the server's CPU and memory."""
    ops = dict(run.summary.get("ops", {}))
    if run.summary.get("total"):
        ops["total"] = run.summary["total"]
    corrected = bool(run.summary.get("open_loop"))
    cols = ["p50_us", "p90_us", "p99_us", "p999_us"]
    head = f"{'op':<34} {'count':>10} {'errors':>7} {'ops/s':>9} " + " ".join(f"{c.replace('_us', ''):>7}" for c in cols)
    if corrected:
        head += "  " + " ".join(f"{'c' + c.replace('_us', ''):>7}" for c in ("p50_us", "p99_us"))
    lines = [f"run {run.id} ({run.status}); latencies in µs" + ("; c… = coordinated-omission corrected" if corrected else ""),
             head, "-" * len(head)]
    for name, f in ops.items():
        line = (f"{name[:34]:<34} {f.get('count', 0):>10,} {f.get('errors', 0):>7,} {_fmt(f.get('ops_per_s')):>9} "
                + " ".join(f"{_fmt(f.get(c)):>7}" for c in cols))
        if corrected:
            line += "  " + " ".join(f"{_fmt(f.get('corrected_' + c)):>7}" for c in ("p50_us", "p99_us"))
        lines.append(line)
    srv = server_figures(run)
    mem = srv["used_memory_peak_bytes"]
    lines.append(f"server: CPU {_fmt(srv['cpu_percent'])} % of one core (mean), used_memory peak "
                 f"{'–' if mem is None else f'{mem / 2**20:,.1f} MiB'}")
    sv = [r for r in server_vs_client(run) if r["server_p99_us"] is not None]
    if sv:
        lines.append(f"server-side (Redis's own latencystats, {sv[0]['scope']}) vs client-side p99, µs: "
                     + ", ".join(f"{r['command']} {_fmt(r['server_p99_us'])} / {_fmt(r['client_p99_us'])}" for r in sv))
    slow = sum(len(rec.get("slowlog", [])) for rec in run.diagnostics.get("nodes", {}).values()
               if isinstance(rec, dict) and isinstance(rec.get("slowlog"), list))
    if run.diagnostics:
        lines.append(f"slow log: {slow} entries during the run")
    if run.manifest.get("loadgen_bound"):
        lines.append("note: the load generator, not Redis, was the bottleneck (loadgen_bound)")
    return "\n".join(lines)


__all__ = ["Change", "Comparison", "OpComparison", "OpSeconds", "compare", "op_seconds", "op_table", "server_figures",
           "server_vs_client"]
