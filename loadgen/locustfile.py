"""Locust entry point of rcap: ``locust -f loadgen/locustfile.py --headless -u N …``.

Reads (docs/architecture.md): ``RCAP_SCENARIO`` (JSON of the resolved scenario, or a scenario name),
``RCAP_TARGET`` (JSON of the target, password included, never written anywhere) and ``RCAP_RUN_DIR``
(where ``latency.jsonl`` and ``counters.json`` go; optional). The user classes come from the scenario.

Stop protocol: when the run ends (``quitting``), the master asks every worker (or the local runner
itself) to wind down — producers and publishers stop, consumers finish the works they hold,
subscribers read until quiet, all bounded by the scenario's ``drain_s`` — before Locust kills the
users. The master then merges the final reports and writes ``counters.json``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from typing import Any

from locust import events
from locust.runners import MasterRunner, WorkerRunner

from loadgen.clients import REQUEST_TYPE
from loadgen.errors import RcapError
from loadgen.histograms import LatencyRecorder, install
from loadgen.scenarios import load_scenario, scenario_from_json
from loadgen.topology.targets import Target, connect
from loadgen.users.base import RunContext, merge_counters
from loadgen.users.plan import plan

COUNTERS_KEY = "rcap_counters"
WIND_DOWN = "rcap_wind_down"
DRAINED = "rcap_drained"


def _scenario() -> Any:
    text = os.environ.get("RCAP_SCENARIO", "")
    if not text:
        raise RcapError("RCAP_SCENARIO is not set (rcap bench sets it)")
    return scenario_from_json(text) if text.lstrip().startswith("{") else load_scenario(text)


def _target() -> Target:
    text = os.environ.get("RCAP_TARGET", "")
    if not text:
        raise RcapError("RCAP_TARGET is not set (rcap bench sets it)")
    return Target.from_dict(json.loads(text))


try:
    SCENARIO = _scenario()
    TARGET = _target()
except RcapError as exc:  # one line, not a traceback, even inside Locust
    sys.stderr.write(f"rcap: error: {exc}\n")
    raise SystemExit(2) from None

RUN_DIR = os.environ.get("RCAP_RUN_DIR") or None
RECORDER = LatencyRecorder()
install(events, RECORDER, RUN_DIR, REQUEST_TYPE)
CTX = RunContext(SCENARIO, TARGET, RECORDER)
_worker_counters: dict[str, dict[str, Any]] = {}
_drained: set[str] = set()
_redis_start: dict[str, Any] = {}

globals().update({cls.__name__: cls for cls in SCENARIO.user_classes()})  # Locust finds them here


def _queues() -> list[str]:
    return sorted({item.attrs["queue_id"] for item in plan(SCENARIO) if item.role in ("consumer", "lifecycle")}
                  | {q for item in plan(SCENARIO) if item.role == "producer" for q, _t, _s in item.attrs["queues"]})


def _read_queues() -> dict[str, Any]:
    """Redis-side WorkManager state of the scenario's queues: the count hash and the data/state sizes."""
    from loadgen.nuxeo.keys import WorkQueueKeys  # noqa: PLC0415

    queues = _queues()
    if not queues:
        return {}
    client = connect(TARGET)
    try:
        out: dict[str, Any] = {"queues": {}}
        keys = None
        for q in queues:
            keys = WorkQueueKeys.build(q, SCENARIO.prefix, CTX.hashtag)
            values = client.hmget(keys.count, list(keys.counter_fields()))
            out["queues"][q] = dict(zip(("scheduled", "running", "completed", "canceled"),
                                        (int(v) if v is not None else 0 for v in values)))
        out["data_entries"] = client.hlen(keys.data)
        out["state_entries"] = client.hlen(keys.state)
        return out
    finally:
        client.close()


def _load_scripts() -> None:
    from loadgen.nuxeo.scripts import SCRIPTS  # noqa: PLC0415

    client = connect(TARGET)
    try:
        for script in SCRIPTS.values():
            if TARGET.kind == "cluster":
                client.execute_command("SCRIPT", "LOAD", script.source, target_nodes=client.PRIMARIES)
            else:
                client.execute_command("SCRIPT", "LOAD", script.source)
    finally:
        client.close()


@events.init.add_listener
def _on_init(environment: Any, **_kw: Any) -> None:
    environment.rcap = CTX
    CTX.environment = environment
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        def on_wind_down(environment: Any, msg: Any, **_kw: Any) -> None:
            CTX.wind_down(SCENARIO.drain_s)
            runner.send_message(DRAINED)

        runner.register_message(WIND_DOWN, on_wind_down, concurrent=True)
    elif isinstance(runner, MasterRunner):
        runner.register_message(DRAINED, lambda environment, msg, **_kw: _drained.add(msg.node_id))


@events.test_start.add_listener
def _on_test_start(environment: Any, **_kw: Any) -> None:
    CTX.restart()  # a test restarted from the web UI runs again
    try:
        if not isinstance(environment.runner, MasterRunner):
            _load_scripts()  # every emulated node loads its scripts at start, as Nuxeo does
        if not isinstance(environment.runner, WorkerRunner):
            _redis_start.update(_read_queues())
    except Exception as exc:  # noqa: BLE001  (the users report the target's failures request by request)
        logging.warning("rcap: start-up on the target failed: %s", str(exc).splitlines()[0] if str(exc) else exc)


@events.report_to_master.add_listener
def _on_report(client_id: str, data: dict[str, Any], **_kw: Any) -> None:
    data[COUNTERS_KEY] = CTX.counters.snapshot()


@events.worker_report.add_listener
def _on_worker_report(client_id: str, data: dict[str, Any], **_kw: Any) -> None:
    if COUNTERS_KEY in data:
        _worker_counters[client_id] = data[COUNTERS_KEY]


@events.quitting.add_listener
def _on_quitting(environment: Any, **_kw: Any) -> None:
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        return
    if isinstance(runner, MasterRunner):
        workers = [c.id for c in runner.clients.all]
        for worker in workers:
            runner.send_message(WIND_DOWN, client_id=worker)
        import gevent  # noqa: PLC0415

        deadline = time.monotonic() + SCENARIO.drain_s + 1.0
        while time.monotonic() < deadline and not set(workers) <= _drained:
            gevent.sleep(0.05)
    else:
        CTX.wind_down(SCENARIO.drain_s)


@events.test_stopping.add_listener
def _on_test_stopping(environment: Any, **_kw: Any) -> None:
    if not isinstance(environment.runner, MasterRunner):
        CTX.wind_down(SCENARIO.drain_s)


def counters_report(snapshot: dict[str, Any], redis_start: dict[str, Any], redis_end: dict[str, Any]) -> dict[str, Any]:
    """The ``counters.json`` document from merged counters and the Redis state before/after."""
    t = snapshot.get("totals", {})
    out: dict[str, Any] = {"scenario": SCENARIO.name, "workload": SCENARIO.workload}
    if CTX.hashtag and _queues():
        out["what_if"] = ("WorkManager keys hash-tagged <prefix>{work}: so the scripts run on a cluster; "
                          "Nuxeo has no hash tags and cannot run on Redis Cluster")
    if _queues():
        scheduled = t.get("works_scheduled", 0)
        dups = t.get("works_duplicates_sent", 0)
        completed = t.get("works_completed", 0)
        pending = lost = None  # unknown when the target cannot be read at the end
        if "queues" in redis_end:
            pending = sum(q["scheduled"] + q["running"] for q in redis_end["queues"].values())
            lost = scheduled - dups - completed - pending
        out["works"] = {"scheduled": scheduled, "duplicates_sent": dups, "completed": completed,
                        "pending": pending, "lost": lost, "per_queue": snapshot.get("per_queue", {})}
        out["redis"] = {"start": redis_start, "end": redis_end}
    subs = snapshot.get("per_subscriber", {})
    if subs or t.get("messages_published"):
        published = t.get("messages_published", 0)
        delivered = t.get("messages_delivered", 0)
        out["messages"] = {"published": published, "delivered": delivered, "nodes": len(subs),
                           "expected_deliveries": published * len(subs),
                           "lost": published * len(subs) - delivered,
                           "publish_receivers": t.get("publish_receivers", 0),
                           "publish_errors": t.get("publish_errors", 0),
                           "per_subscriber": {n: {"received": r, "lost": published - r} for n, r in sorted(subs.items())}}
    if t.get("batch_uploads"):
        out["batch_uploads"] = t["batch_uploads"]
    out["totals"] = t
    return out


@events.quit.add_listener
def _on_quit(**_kw: Any) -> None:
    environment = CTX.environment
    if environment is None or isinstance(environment.runner, WorkerRunner):
        return
    if isinstance(environment.runner, MasterRunner):
        snapshot = merge_counters(list(_worker_counters.values()))
    else:
        snapshot = CTX.counters.snapshot()
    try:
        redis_end = _read_queues()
    except Exception as exc:  # noqa: BLE001  (the target may be down at the end of a failover run)
        redis_end = {"error": str(exc).splitlines()[0] if str(exc) else type(exc).__name__}
    report = counters_report(snapshot, dict(_redis_start), redis_end)
    if RUN_DIR:
        os.makedirs(RUN_DIR, exist_ok=True)
        with open(os.path.join(RUN_DIR, "counters.json"), "w", encoding="utf-8") as fh:
            json.dump(report, fh, indent=2, sort_keys=True)
