"""Microsecond latency histograms per operation name per wall-clock second.

Each load process records every request into a :class:`LatencyRecorder`: one exact count of
latencies in µs per (second, op, kind), where kind is ``measured`` (service time, from the actual
send) or ``corrected`` (open loop: from the intended start, wrk2-style, charging only the time spent
behind a slow server), plus the generator's own lag per paced iteration (op ``generator lag``, kind
``generator``). Completed seconds are turned
into HdrHistograms (1 µs .. 60 s, 3 significant digits), base64-encoded and shipped to Locust's
master through ``report_to_master``/``worker_report``; the master (or the local runner) merges them
in a :class:`HistogramMerger` and appends each completed second to ``$RCAP_RUN_DIR/latency.jsonl``
(schema in docs/architecture.md).

The hot path only does a dict increment: building HdrHistograms per request would cost more than
the Redis round trip it measures.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from typing import Any, Iterable, NamedTuple

from hdrh.histogram import HdrHistogram

from rcapcore.rundata import LATENCY, append_jsonl
from rcapcore.latency import (CORRECTED, GENERATOR, GENERATOR_LAG_OP, MEASURED, decode, encode, histogram_from_counts,
                              new_histogram)

_time = time.time

REPORT_KEY = "rcap_latency"
"""Key of the latency payload inside Locust's worker report dict."""


class SecondCounts(NamedTuple):
    """Exact samples of one wall-clock second: op → {latency_us: count} (measured, corrected), op → errors."""

    t: int
    measured: dict[str, dict[int, int]]
    corrected: dict[str, dict[int, int]]
    errors: dict[str, int]
    generator_lag: dict[int, int] | None = None  # open loop: µs → paced iterations (see loadgen.pacing)

    def records(self) -> list[dict[str, Any]]:
        """The ``latency.jsonl`` records of this second (histograms encoded)."""
        out = []
        for op in sorted(set(self.measured) | set(self.corrected) | set(self.errors)):
            for kind, counts in ((MEASURED, self.measured.get(op)), (CORRECTED, self.corrected.get(op))):
                if counts is None and not (kind == MEASURED and self.errors.get(op)):
                    continue
                hist = histogram_from_counts(counts or {})
                out.append({"t": self.t, "op": op, "kind": kind, "count": hist.get_total_count(),
                            "errors": self.errors.get(op, 0) if kind == MEASURED else 0, "hdr": encode(hist)})
        if self.generator_lag:
            hist = histogram_from_counts(self.generator_lag)
            out.append({"t": self.t, "op": GENERATOR_LAG_OP, "kind": GENERATOR, "count": hist.get_total_count(),
                        "errors": 0, "hdr": encode(hist)})
        return out


def to_records(seconds: Iterable[SecondCounts]) -> list[dict[str, Any]]:
    """``latency.jsonl`` records of several seconds."""
    return [rec for sec in seconds for rec in sec.records()]


class LatencyRecorder:
    """Per-process latency samples: exact µs counts per (wall-clock second, op, kind), plus errors.

    ``record`` is the hot path (two dict look-ups and an increment). ``drain`` hands over completed
    seconds as :class:`SecondCounts`.
    """

    def __init__(self) -> None:
        self._sec = 0
        self._measured: dict[str, defaultdict[int, int]] = {}
        self._corrected: dict[str, defaultdict[int, int]] = {}
        self._errors: defaultdict[str, int] = defaultdict(int)
        self._lag: defaultdict[int, int] = defaultdict(int)
        self._done: list[SecondCounts] = []

    def _roll(self, sec: int) -> None:
        if self._measured or self._corrected or self._errors or self._lag:
            self._done.append(SecondCounts(self._sec, self._measured, self._corrected, self._errors, self._lag))
        self._sec = sec
        self._measured = {}
        self._corrected = {}
        self._errors = defaultdict(int)
        self._lag = defaultdict(int)

    def record(self, op: str, latency_us: int, corrected_us: int | None = None) -> None:
        """Record one successful request of ``op``: service time and (open loop) corrected time, µs."""
        sec = int(_time())
        if sec != self._sec:
            self._roll(sec)
        try:
            self._measured[op][latency_us] += 1
        except KeyError:
            self._measured[op] = defaultdict(int, {latency_us: 1})
        if corrected_us is not None:
            try:
                self._corrected[op][corrected_us] += 1
            except KeyError:
                self._corrected[op] = defaultdict(int, {corrected_us: 1})

    def record_generator_lag(self, lag_us: int) -> None:
        """Open loop: how late (µs) a paced iteration started compared with an ideal generator."""
        sec = int(_time())
        if sec != self._sec:
            self._roll(sec)
        self._lag[lag_us] += 1

    def record_error(self, op: str) -> None:
        """Count one failed request of ``op`` (failures carry no latency sample)."""
        sec = int(_time())
        if sec != self._sec:
            self._roll(sec)
        self._errors[op] += 1

    def drain(self, final: bool = False) -> tuple[int, list[SecondCounts]]:
        """Return ``(upto, seconds)``: every second before ``upto`` is complete and included.

        With ``final`` the current second is included too (end of the run).
        """
        now = int(_time())
        if final or now != self._sec:
            self._roll(now)
        upto = now + 1 if final else now
        done = [s for s in self._done if s.t < upto]
        self._done = [s for s in self._done if s.t >= upto]
        return upto, done


def feed_locust_stats(stats: Any, seconds: Iterable[SecondCounts], request_type: str) -> None:
    """Add successful requests to Locust's ``RequestStats`` in bulk, as ``StatsEntry.log`` would.

    Firing Locust's ``request`` event per request costs about as much as a loopback Redis round
    trip, so clients fire it only for failures; successes reach Locust's stats from here, once per
    drained second, with Locust's own ms rounding (``bucket_response_time``). Response sizes are not
    tracked (Locust's "average size" column reads 0).
    """
    from locust import stats as locust_stats  # noqa: PLC0415

    bucket = locust_stats.bucket_response_time
    for sec in seconds:
        for op, counts in sec.measured.items():
            n = sum(counts.values())
            if not n:
                continue
            total_ms = sum(us * c for us, c in counts.items()) / 1000.0
            lo, hi = min(counts) / 1000.0, max(counts) / 1000.0
            buckets: defaultdict[int, int] = defaultdict(int)
            for us, c in counts.items():
                buckets[bucket(us / 1000.0)] += c
            for entry in (stats.get(op, request_type), stats.total):
                entry.num_requests += n
                entry.num_reqs_per_sec[sec.t] += n
                entry.total_response_time += total_ms
                entry.min_response_time = lo if entry.min_response_time is None else min(entry.min_response_time, lo)
                entry.max_response_time = max(entry.max_response_time, hi)
                for b, c in buckets.items():
                    entry.response_times[b] += c
                entry.last_request_timestamp = max(entry.last_request_timestamp or 0.0, sec.t + 0.999)
                if entry.use_response_times_cache:
                    entry._cache_response_times(sec.t)


class HistogramMerger:
    """Merges ``latency.jsonl`` records from several processes and releases completed seconds.

    Each source reports a watermark ``upto`` (all its seconds before it are sent); a second is
    released once every live source's watermark is past it.
    """

    def __init__(self) -> None:
        self._pending: dict[tuple[int, str, str], list[Any]] = {}
        self._watermarks: dict[str, int] = {}

    def add(self, source: str, upto: int, records: Iterable[dict[str, Any]]) -> None:
        for rec in records:
            key = (rec["t"], rec["op"], rec["kind"])
            hist = decode(rec["hdr"])
            slot = self._pending.get(key)
            if slot is None:
                self._pending[key] = [hist, rec["errors"]]
            else:
                slot[0].add(hist)
                slot[1] += rec["errors"]
        self._watermarks[source] = max(upto, self._watermarks.get(source, 0))

    def forget(self, source: str) -> None:
        """A source left (worker stopped): stop waiting for it."""
        self._watermarks.pop(source, None)

    def release(self, live_sources: Iterable[str] | None = None, final: bool = False) -> list[dict[str, Any]]:
        """Pop and return the merged records of completed seconds, sorted by (t, op, kind)."""
        if final:
            upto = None
        else:
            live = list(self._watermarks if live_sources is None else live_sources)
            if not live or any(s not in self._watermarks for s in live):
                return []
            upto = min(self._watermarks[s] for s in live)
        keys = sorted(k for k in self._pending if upto is None or k[0] < upto)
        out = []
        for key in keys:
            hist, errors = self._pending.pop(key)
            out.append({"t": key[0], "op": key[1], "kind": key[2], "count": hist.get_total_count(),
                        "errors": errors, "hdr": encode(hist)})
        return out


class RunningTotals:
    """Measured µs histograms per op merged since the test started: the web UI's µs table
    (``loadgen.webui``). Fed with the same released records as ``latency.jsonl``."""

    def __init__(self) -> None:
        self._hists: dict[str, HdrHistogram] = {}
        self._errors: dict[str, int] = {}

    def reset(self) -> None:
        self._hists.clear()
        self._errors.clear()

    def add(self, records: Iterable[dict[str, Any]]) -> None:
        for rec in records:
            if rec.get("kind", MEASURED) != MEASURED:
                continue
            op = rec["op"]
            self._errors[op] = self._errors.get(op, 0) + int(rec.get("errors", 0))
            if rec.get("hdr") and rec.get("count"):
                hist = decode(rec["hdr"])
                if op in self._hists:
                    self._hists[op].add(hist)
                else:
                    self._hists[op] = hist

    def rows(self) -> list[dict[str, Any]]:
        """One row per op and an ``Aggregated`` row: ``name``, ``count``, ``errors``, ``p50_us`` … ``p999_us``,
        ``max_us`` (µs)."""
        points = {"p50_us": 50.0, "p90_us": 90.0, "p99_us": 99.0, "p999_us": 99.9}
        total = new_histogram()
        out = []
        for op in sorted(set(self._hists) | set(self._errors)):
            hist = self._hists.get(op)
            out.append(self._row(op, hist, self._errors.get(op, 0), points))
            if hist is not None:
                total.add(hist)
        if out:
            out.append(self._row("Aggregated", total, sum(self._errors.values()), points))
        return out

    @staticmethod
    def _row(name: str, hist: HdrHistogram | None, errors: int, points: dict[str, float]) -> dict[str, Any]:
        row: dict[str, Any] = {"name": name, "count": hist.get_total_count() if hist is not None else 0, "errors": errors}
        values = hist.get_percentile_to_value_dict(list(points.values())) if row["count"] else {}
        row.update({k: values.get(p) for k, p in points.items()})
        row["max_us"] = hist.get_max_value() if row["count"] else None
        return row


def install(events: Any, recorder: LatencyRecorder, run_dir: str | None, request_type: str,
            flush_interval_s: float = 1.0, totals: RunningTotals | None = None) -> None:
    """Wire the recorder into Locust's ``events`` (call from the locustfile, at import).

    Workers drain completed seconds into every ``report_to_master`` (Locust's 3 s stats report, and
    the final one at quit), feeding their own Locust stats first; the master merges them on
    ``worker_report``. A local runner drains itself every ``flush_interval_s``. The master or local
    process appends released seconds to ``<run_dir>/latency.jsonl`` when ``run_dir`` is set.
    """
    import gevent  # noqa: PLC0415
    from locust.runners import STATE_STOPPED, STATE_STOPPING, MasterRunner, WorkerRunner  # noqa: PLC0415

    env: dict[str, Any] = {}
    path = os.path.join(run_dir, LATENCY) if run_dir else None
    merger = HistogramMerger()

    def write(records: list[dict[str, Any]]) -> None:
        if path:
            append_jsonl(path, records)
        if totals is not None:
            totals.add(records)

    @events.init.add_listener
    def _on_init(environment: Any, **_kw: Any) -> None:
        env["environment"] = environment

    def drain_local(final: bool) -> None:
        upto, seconds = recorder.drain(final=final)
        feed_locust_stats(env["environment"].runner.stats, seconds, request_type)
        merger.add("local", upto, to_records(seconds))
        write(merger.release(final=final))

    @events.report_to_master.add_listener
    def _on_report(client_id: str, data: dict[str, Any], **_kw: Any) -> None:
        runner = env["environment"].runner
        final = runner.state in (STATE_STOPPED, STATE_STOPPING)
        upto, seconds = recorder.drain(final=final)
        feed_locust_stats(runner.stats, seconds, request_type)
        data[REPORT_KEY] = {"upto": upto, "records": to_records(seconds)}

    @events.worker_report.add_listener
    def _on_worker_report(client_id: str, data: dict[str, Any], **_kw: Any) -> None:
        payload = data.get(REPORT_KEY)
        if payload is None:
            return
        merger.add(client_id, payload["upto"], payload["records"])
        write(merger.release([c.id for c in env["environment"].runner.clients.all]))

    def _local_flusher() -> None:
        while True:
            gevent.sleep(flush_interval_s)
            drain_local(final=False)

    @events.test_start.add_listener
    def _on_test_start(environment: Any, **_kw: Any) -> None:
        runner = environment.runner
        if totals is not None:
            totals.reset()
        if not isinstance(runner, (MasterRunner, WorkerRunner)) and "flusher" not in env:
            env["flusher"] = runner.greenlet.spawn(_local_flusher)

    @events.test_stop.add_listener
    def _on_test_stop(environment: Any, **_kw: Any) -> None:
        if not isinstance(environment.runner, (MasterRunner, WorkerRunner)):
            drain_local(final=True)

    @events.quit.add_listener
    def _on_quit(**_kw: Any) -> None:
        # fires after runner.quit(): the master has waited for the workers' final reports
        environment = env.get("environment")
        if environment is None or isinstance(environment.runner, WorkerRunner):
            return
        if isinstance(environment.runner, MasterRunner):
            write(merger.release(final=True))
        else:
            drain_local(final=True)
