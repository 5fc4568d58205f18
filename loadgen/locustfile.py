"""Locust entry point of rcap, run as Locust's users run any locustfile::

    locust -f loadgen/locustfile.py --host redis://127.0.0.1:6379 --scenario kv [--set rate=2000 …]
    locust -f loadgen/locustfile.py --worker --master-host H        # on other machines

rcap's options are registered with Locust (``init_command_line_parser``), so they show in ``--help`` and
the web UI and reach the workers: ``--scenario`` (a name from data/scenarios, a YAML path, or the JSON
``rcap bench`` resolved), ``--set KEY=VALUE``, ``--password-file`` (else ``RCAP_PASSWORD``; never in the URL
or on the command line), ``--redis-tls-ca/--redis-tls-cert/--redis-tls-key`` and ``--run-dir`` (where ``latency.jsonl``,
``counters.json`` and ``workers.json`` go). The user classes come from the scenario, and the default user
count is the scenario's; a smaller count, which would leave a role empty, is refused with a clear line.
A worker without ``--scenario`` learns it from the master when the test starts and keeps its own password
and TLS files. ``rcap bench`` hands over the same through the environment: ``RCAP_SCENARIO``,
``RCAP_TARGET`` (JSON, no password), ``RCAP_PASSWORD_FILE`` (a 0600 file, read once at import, before Locust
forks its workers, then unlinked) and ``RCAP_RUN_DIR``. The web UI gets a µs latency tab (loadgen.webui).

Stop protocol: when the run ends (``quitting``), the master asks every worker (or the local runner
itself) to wind down — producers and publishers stop, consumers finish the works they hold,
subscribers read until quiet, all bounded by the scenario's ``drain_s`` — before Locust kills the
users. The master then merges the final reports and writes ``counters.json``.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

import psutil
from locust import User, events, task
from locust.runners import MasterRunner, WorkerRunner

from loadgen.clients import REQUEST_TYPE
from rcapcore.errors import RcapError
from loadgen.histograms import LatencyRecorder, RunningTotals, install
from loadgen.scenarios import load_scenario, parse_sets, scenario_from_json
from loadgen.topology.targets import Target, connect, read_password, target_from_env
from loadgen.users import user_classes
from loadgen.users.base import RunContext, merge_counters
from loadgen.workloads import plan
from rcapcore.rundata import COUNTERS, WORKERS, write_json

COUNTERS_KEY = "rcap_counters"
CPU_KEY = "rcap_cpu"
WIND_DOWN = "rcap_wind_down"
DRAINED = "rcap_drained"


OPTION_NAMES = ("scenario", "set", "password_file", "tls_ca", "tls_cert", "tls_key", "run_dir")


def _preparse(argv: list[str]) -> argparse.Namespace:
    """rcap's own Locust options, read before Locust parses the command line: the user classes depend
    on the scenario, and Locust needs them at import."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--scenario")
    p.add_argument("--set", action="append", default=[])
    p.add_argument("-H", "--host")
    p.add_argument("--password-file")
    p.add_argument("--redis-tls-ca", dest="tls_ca")
    p.add_argument("--redis-tls-cert", dest="tls_cert")
    p.add_argument("--redis-tls-key", dest="tls_key")
    p.add_argument("--run-dir")
    p.add_argument("--worker", action="store_true")
    return p.parse_known_args(argv)[0]


def resolve_scenario(text: str | None, sets: list[str] | None) -> Any:
    """``--scenario`` (a name, a YAML path, or the JSON ``rcap bench`` resolved) and ``--set``; else
    ``RCAP_SCENARIO`` (what ``rcap bench`` sets)."""
    text = text or os.environ.get("RCAP_SCENARIO", "")
    if not text:
        raise RcapError("no scenario: give --scenario NAME (one of data/scenarios) [--set key=value …]")
    if text.lstrip().startswith("{"):
        if sets:
            raise RcapError("--set goes with a scenario name or file, not with a resolved scenario")
        return scenario_from_json(text)
    return load_scenario(text, parse_sets(sets))


def resolve_target(host: str | None, password_file: str | None, tls: dict[str, str | None]) -> Target:
    """``--host URL`` with the password from ``--password-file`` or ``RCAP_PASSWORD`` (never from the URL
    or the command line); else what ``rcap bench`` handed over (``RCAP_TARGET`` and a 0600 file)."""
    if host:
        if Target.parse(host).password is not None:
            raise RcapError("the --host URL holds a password: put it in --password-file or RCAP_PASSWORD")
        return Target.parse(host, password=read_password(password_file), **tls)
    if os.environ.get("RCAP_TARGET"):
        return target_from_env()  # the password comes from a 0600 file, read once and unlinked
    raise RcapError("no target: give --host redis://host:port (or rediss://, redis+sentinel://, redis+cluster://)")


class _Process:
    """This load process's configuration. A master or a local runner knows it at import; a worker
    (``--worker``, possibly on another machine) learns the scenario and the target's URL from the
    master when the test starts (Locust forwards rcap's options), and uses its own password and TLS files."""

    scenario: Any = None
    target: Target | None = None
    ctx: RunContext | None = None


PRE = _preparse(sys.argv[1:])
P = _Process()
RECORDER = LatencyRecorder()
WORKER_SECRETS: dict[str, Any] = {}  # a worker's own password and TLS files, read before the master's options arrive
try:
    if PRE.worker and not PRE.scenario and not os.environ.get("RCAP_SCENARIO"):
        WORKER_SECRETS.update(password=read_password(PRE.password_file),
                              tls={"tls_ca": PRE.tls_ca, "tls_cert": PRE.tls_cert, "tls_key": PRE.tls_key})
    else:
        P.scenario = resolve_scenario(PRE.scenario, PRE.set)
        P.target = resolve_target(PRE.host, PRE.password_file,
                                  {"tls_ca": PRE.tls_ca, "tls_cert": PRE.tls_cert, "tls_key": PRE.tls_key})
        P.ctx = RunContext(P.scenario, P.target, RECORDER)
except RcapError as exc:  # one line, not a traceback, even inside Locust
    sys.stderr.write(f"rcap: error: {exc}\n")
    raise SystemExit(2) from None

RUN_DIR = PRE.run_dir or os.environ.get("RCAP_RUN_DIR") or None
TOTALS = RunningTotals()
install(events, RECORDER, RUN_DIR, REQUEST_TYPE, totals=TOTALS)
_worker_counters: dict[str, dict[str, Any]] = {}
_worker_cpu: dict[str, dict[str, Any]] = {}
_drained: set[str] = set()
_redis_start: dict[str, Any] = {}

if P.scenario is not None:
    globals().update({cls.__name__: cls for cls in user_classes(P.scenario)})  # Locust finds them here
else:
    class RcapWorker(User):
        """Stands in until the master says which scenario runs (Locust wants a user class at import)."""

        fixed_count = 0

        @task
        def idle(self) -> None:  # never spawned: the master only dispatches the scenario's classes
            self.stop()


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    group = parser  # Locust's own parser: its argument groups do not take include_in_web_ui
    group.add_argument("--scenario", default=None, include_in_web_ui=True,
                       help="scenario name (data/scenarios/NAME.yaml) or YAML path; fixed when Locust starts")
    group.add_argument("--set", action="append", default=None, metavar="KEY=VALUE", include_in_web_ui=False,
                       help="override a scenario field (repeatable)")
    group.add_argument("--password-file", default=None, include_in_web_ui=False,
                       help="file whose first line is the target's password (else RCAP_PASSWORD)")
    # Locust's own --tls-cert/--tls-key are its web UI's HTTPS files; the target's carry a redis- prefix
    for name in ("--redis-tls-ca", "--redis-tls-cert", "--redis-tls-key"):
        group.add_argument(name, default=None, include_in_web_ui=False, help="TLS file of a rediss:// target")
    group.add_argument("--run-dir", default=None, include_in_web_ui=False,
                       help="write latency.jsonl and counters.json there (rcap bench sets it)")
    if P.scenario is not None:  # the web UI and headless runs start with the scenario's own user count
        users = sum(cls.fixed_count for cls in user_classes(P.scenario))
        parser.set_defaults(num_users=users, spawn_rate=users)
        if P.target is not None:
            parser.set_defaults(host=P.target.url)


def _worker_setup(environment: Any) -> None:
    """A worker without a scenario of its own builds it from the options the master forwarded."""
    if P.ctx is not None:
        return
    opts = environment.parsed_options
    P.scenario = resolve_scenario(getattr(opts, "scenario", None), None)
    P.target = Target.parse(environment.host, password=WORKER_SECRETS.get("password"),
                            **WORKER_SECRETS.get("tls", {}))
    P.ctx = RunContext(P.scenario, P.target, RECORDER, environment)
    environment.rcap = P.ctx
    known = {cls.__name__ for cls in environment.user_classes}
    environment.user_classes.extend(c for c in user_classes(P.scenario) if c.__name__ not in known)


def _queues() -> list[str]:
    return sorted({item.attrs["queue_id"] for item in plan(P.scenario) if item.role in ("consumer", "lifecycle")}
                  | {q for item in plan(P.scenario) if item.role == "producer" for q, _t, _s in item.attrs["queues"]})


def _read_queues() -> dict[str, Any]:
    """Redis-side WorkManager state of the scenario's queues: the count hash and the data/state sizes."""
    from rcapcore.nuxeo.keys import WorkQueueKeys  # noqa: PLC0415

    queues = _queues()
    if not queues:
        return {}
    client = connect(P.target)
    try:
        out: dict[str, Any] = {"queues": {}}
        keys = None
        for q in queues:
            keys = WorkQueueKeys.build(q, P.scenario.prefix, P.ctx.hashtag)
            values = client.hmget(keys.count, list(keys.counter_fields()))
            out["queues"][q] = dict(zip(("scheduled", "running", "completed", "canceled"),
                                        (int(v) if v is not None else 0 for v in values)))
        out["data_entries"] = client.hlen(keys.data)
        out["state_entries"] = client.hlen(keys.state)
        return out
    finally:
        client.close()


def _load_scripts() -> None:
    from rcapcore.nuxeo.scripts import SCRIPTS  # noqa: PLC0415

    client = connect(P.target)
    try:
        for script in SCRIPTS.values():
            if P.target.sharded:
                client.execute_command("SCRIPT", "LOAD", script.source, target_nodes=client.PRIMARIES)
            else:
                client.execute_command("SCRIPT", "LOAD", script.source)
    finally:
        client.close()


@events.init.add_listener
def _on_init(environment: Any, **_kw: Any) -> None:
    P.environment = environment
    if P.ctx is not None:
        environment.rcap = P.ctx
        P.ctx.environment = environment
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        def on_wind_down(environment: Any, msg: Any, **_kw: Any) -> None:
            if P.ctx is not None:
                P.ctx.wind_down(P.scenario.drain_s)
            runner.send_message(DRAINED)

        runner.register_message(WIND_DOWN, on_wind_down, concurrent=True)
    elif isinstance(runner, MasterRunner):
        runner.register_message(DRAINED, lambda environment, msg, **_kw: _drained.add(msg.node_id))
        if environment.parsed_options is not None:  # Locust forwards rcap's options to the workers
            environment.parsed_options.scenario = P.scenario.to_json()
            environment.parsed_options.set = None
        environment.host = environment.host or P.target.url
    if getattr(environment, "web_ui", None) is not None:
        from loadgen.webui import add_latency_tab  # noqa: PLC0415

        add_latency_tab(environment.web_ui, TOTALS)


def _too_few_users(runner: Any) -> str | None:
    """A count below the scenario's fixed user mix would leave roles empty (a consumer and no producer)."""
    needed = sum(cls.fixed_count for cls in user_classes(P.scenario))
    asked = getattr(runner, "target_user_count", None)
    if asked is not None and asked < needed:
        return (f"scenario {P.scenario.name!r} needs {needed} users for its fixed mix of roles, "
                f"{asked} were asked for: start it with {needed} users (or --set users=… where the workload allows)")
    return None


@events.test_start.add_listener
def _on_test_start(environment: Any, **_kw: Any) -> None:
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        _worker_setup(environment)
    else:
        problem = _too_few_users(runner)
        if problem:
            logging.error("rcap: %s", problem)
            if environment.parsed_options is not None and environment.parsed_options.headless:
                environment.process_exit_code = 2
                runner.greenlet.spawn(runner.quit)
            else:  # web UI: the run stops and the message stays in the log tab
                runner.greenlet.spawn(runner.stop)
            return
    P.ctx.restart()  # a test restarted from the web UI runs again
    try:
        if not isinstance(environment.runner, MasterRunner):
            _load_scripts()  # every emulated node loads its scripts at start, as Nuxeo does
        if not isinstance(environment.runner, WorkerRunner):
            _redis_start.update(_read_queues())
    except Exception as exc:  # noqa: BLE001  (the users report the target's failures request by request)
        logging.warning("rcap: start-up on the target failed: %s", str(exc).splitlines()[0] if str(exc) else exc)


_PROCESS = psutil.Process()
_PROCESS.cpu_percent(None)  # the first reading starts the interval


@events.report_to_master.add_listener
def _on_report(client_id: str, data: dict[str, Any], **_kw: Any) -> None:
    if P.ctx is not None:
        data[COUNTERS_KEY] = P.ctx.counters.snapshot()
        # this worker process's CPU since its last report (% of one core), for the run's loadgen_bound
        data[CPU_KEY] = {"host": socket.gethostname(), "cpu_percent": _PROCESS.cpu_percent(None)}


@events.worker_report.add_listener
def _on_worker_report(client_id: str, data: dict[str, Any], **_kw: Any) -> None:
    if COUNTERS_KEY in data:
        _worker_counters[client_id] = data[COUNTERS_KEY]
    if CPU_KEY in data:
        entry = _worker_cpu.setdefault(client_id, {"host": data[CPU_KEY]["host"], "cpu": []})
        entry["cpu"].append(data[CPU_KEY]["cpu_percent"])


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

        deadline = time.monotonic() + P.scenario.drain_s + 1.0
        while time.monotonic() < deadline and not set(workers) <= _drained:
            gevent.sleep(0.05)
    else:
        P.ctx.wind_down(P.scenario.drain_s)


@events.test_stopping.add_listener
def _on_test_stopping(environment: Any, **_kw: Any) -> None:
    if not isinstance(environment.runner, MasterRunner) and P.ctx is not None:
        P.ctx.wind_down(P.scenario.drain_s)


def counters_report(snapshot: dict[str, Any], redis_start: dict[str, Any], redis_end: dict[str, Any]) -> dict[str, Any]:
    """The ``counters.json`` document from merged counters and the Redis state before/after."""
    t = snapshot.get("totals", {})
    out: dict[str, Any] = {"scenario": P.scenario.name, "workload": P.scenario.workload}
    if P.ctx.hashtag and _queues():
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


def workers_report(samples: dict[str, dict[str, Any]], bound_percent: float = 90.0) -> list[dict[str, Any]]:
    """``workers.json``: each worker process's host and CPU (% of one core, one reading per Locust report,
    about every 3 s); ``loadgen_bound`` when its median is above ``bound_percent`` (its latencies then
    include its own queueing)."""
    out = []
    for node_id, entry in sorted(samples.items()):
        cpu = sorted(entry["cpu"]) or [0.0]
        median = cpu[len(cpu) // 2]
        out.append({"id": node_id, "host": entry["host"], "cpu_percent_median": median,
                    "cpu_percent_max": cpu[-1], "samples": len(entry["cpu"]), "loadgen_bound": median > bound_percent})
    return out


@events.quit.add_listener
def _on_quit(**_kw: Any) -> None:
    environment = getattr(P, "environment", None)
    if environment is None or P.ctx is None or isinstance(environment.runner, WorkerRunner):
        return
    if isinstance(environment.runner, MasterRunner) and RUN_DIR:
        os.makedirs(RUN_DIR, exist_ok=True)
        write_json(Path(RUN_DIR) / WORKERS, workers_report(_worker_cpu))
    if isinstance(environment.runner, MasterRunner):
        snapshot = merge_counters(list(_worker_counters.values()))
    else:
        snapshot = P.ctx.counters.snapshot()
    try:
        redis_end = _read_queues()
    except Exception as exc:  # noqa: BLE001  (the target may be down at the end of a failover run)
        redis_end = {"error": str(exc).splitlines()[0] if str(exc) else type(exc).__name__}
    report = counters_report(snapshot, dict(_redis_start), redis_end)
    if RUN_DIR:
        os.makedirs(RUN_DIR, exist_ok=True)
        write_json(Path(RUN_DIR) / COUNTERS, report)
