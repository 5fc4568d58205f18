"""Benchmark orchestration: one run (:func:`run_bench`) or a series of runs (:func:`run_sweep`).

A run: resolve the scenario and the target (starting the embedded topology when no URL is given),
refuse a prefix that already holds keys, start Locust headless as a subprocess, sample the server
every second, show the progress line, then write the summary and the manifest, clean the prefix
(SCAN + UNLINK) unless ``keep``, tear the embedded topology down, and seal the run directory.

Ctrl-C or SIGTERM stops Locust gracefully (SIGTERM to its process group, then SIGKILL after
:data:`STOP_GRACE_S`), records what was measured, marks the run ``interrupted`` and raises
:class:`RunInterrupted`; the embedded topology is always torn down.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from redis.backoff import NoBackoff
from redis.retry import Retry

import loadgen
from loadgen.errors import BadInput, RcapError, TargetError
from loadgen.paths import RUNS
from loadgen.recorder import manifest as facts
from loadgen.recorder.loadgen_cpu import REMEDY, LoadgenCpu
from loadgen.recorder.progress import LatencyFollower, ProgressLine, per_second
from loadgen.recorder.quality import DEFAULT_MAX_ERROR_RATIO, EXIT_DEGRADED
from loadgen.recorder.rundir import (
    LATENCY, MANIFEST, SUMMARY, SWEEP, WORKLOAD, RunDir, check_out, new_id, utc_iso, write_json)
from loadgen.recorder.diagnostics import DIAGNOSTICS, ServerDiagnostics
from loadgen.recorder.sampler import NodeProbe, ServerSampler
from loadgen.recorder.summary import build_summary

LOCUSTFILE = Path(loadgen.__file__).resolve().parent / "locustfile.py"
TOPOLOGY_KINDS = ("standalone", "sentinel", "enterprise", "cluster")
STOP_GRACE_S = 15.0
"""Seconds Locust gets to stop and flush after SIGTERM before it is killed."""
LOCUST_STOP_TIMEOUT_S = 2
"""Smallest ``--stop-timeout`` (s) given to Locust: time a user may finish its current task at the end."""
LOCUST_START_SLACK_S = 60.0
"""Extra seconds Locust may take beyond the run time (start-up, stop) before the run is failed."""

# One attempt per sample, short timeouts: a dead or frozen node shows as unreachable at the next tick
# instead of stalling the sampler behind redis-py's retries.
SAMPLER_CLIENT_OPTIONS = {"retry": Retry(NoBackoff(), 0), "socket_connect_timeout": 1.0, "socket_timeout": 2.0}

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|h|m|s)?", re.I)
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


class RunFailed(RcapError):
    """The run started but did not complete (Locust failed); ``run_dir`` holds what was recorded."""

    exit_code = 1

    def __init__(self, message: str, run_dir: Path):
        super().__init__(message)
        self.run_dir = run_dir


class RunDegraded(RunFailed):
    """The run completed but more than ``--max-error-ratio`` of its requests failed: it is recorded
    ``degraded`` (manifest ``quality`` names the causes) and rcap exits with status 3."""

    exit_code = EXIT_DEGRADED


class RunInterrupted(RcapError):
    """Ctrl-C or SIGTERM stopped the run; ``run_dir`` (status ``interrupted``) holds what was recorded."""

    exit_code = 130

    def __init__(self, message: str, run_dir: Path | None):
        super().__init__(message)
        self.run_dir = run_dir


def parse_duration(text: str | float | int) -> float:
    """Seconds from ``"60s"``, ``"2m"``, ``"1h30m"``, ``"500ms"`` or a bare number of seconds.

    Raises :class:`BadInput` for anything else, for zero, and for more than 7 days.
    """
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        seconds = float(text)
    else:
        s = str(text).strip().lower()
        pos, seconds = 0, 0.0
        for m in _DURATION.finditer(s):
            if m.start() != pos or (m.group(2) is None and m.end() != len(s)):
                break
            seconds += float(m.group(1)) * _UNIT_S[m.group(2)]
            pos = m.end()
        if not s or pos != len(s):
            raise BadInput(f"nonsense duration {text!r}: use e.g. 60s, 2m, 1h30m or a number of seconds")
    if not math.isfinite(seconds) or seconds <= 0 or seconds > 7 * 86400:
        raise BadInput(f"duration {text!r} must be more than 0 and at most 7 days")
    return seconds


@dataclass(frozen=True)
class BenchSpec:
    """Everything a run needs. ``target`` is a URL (``None`` = start the embedded ``topology``).

    Units: ``rate`` in ops/s (open loop, the scenario's unit), ``duration_s`` and
    ``sample_interval_s`` in seconds, ``spawn_rate`` in users/s (``None`` = all users at once).
    """

    scenario: Any  # a name, a YAML path, or a Scenario
    target: str | None = None
    topology: str = "standalone"
    users: int | None = None
    rate: float | None = None
    duration_s: float = 60.0
    processes: int | None = None
    overrides: dict[str, str] = field(default_factory=dict)
    out: Path = RUNS
    keep: bool = False
    prefix: str | None = None
    reuse_prefix: bool = False
    password: str | None = field(default=None, repr=False)
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    spawn_rate: float | None = None
    progress: bool = True
    sample_interval_s: float = 1.0
    topology_options: dict[str, Any] = field(default_factory=dict)
    locustfile: Path = LOCUSTFILE
    max_error_ratio: float = DEFAULT_MAX_ERROR_RATIO
    metrics_port: int | None = None  # live OpenMetrics endpoint (loadgen.recorder.metrics), None = off
    metrics_host: str = "127.0.0.1"
    expect_workers: int | None = None  # distributed: Locust master waiting for N workers (rcap worker)
    master_bind_host: str = "*"
    master_bind_port: int = 5557
    workers_timeout_s: float = 120.0  # s to wait for the workers before the run fails

    def validate(self) -> "BenchSpec":
        if self.target is None and self.topology not in TOPOLOGY_KINDS:
            raise BadInput(f"unknown topology {self.topology!r} (use one of {', '.join(TOPOLOGY_KINDS)})")
        from loadgen.validate import number  # noqa: PLC0415  (bounds: loadgen.validate.BOUNDS)

        if self.users is not None and (not isinstance(self.users, int) or self.users < 1):
            raise BadInput(f"--users must be a whole number of at least 1, not {self.users!r}")
        if self.users is not None:
            number(self.users, "--users", integer=True)
        if self.rate is not None and not (isinstance(self.rate, (int, float)) and self.rate > 0
                                          and math.isfinite(self.rate)):
            raise BadInput(f"--rate must be a positive number of ops/s, not {self.rate!r}")
        if self.rate is not None:
            number(self.rate, "--rate")
        if self.processes is not None and (self.processes == 0 or self.processes < -1):
            raise BadInput(f"--processes must be at least 1 (or -1 for one per core), not {self.processes}")
        if self.processes is not None:
            number(self.processes, "--processes", integer=True)
        if self.spawn_rate is not None and not (self.spawn_rate > 0 and math.isfinite(self.spawn_rate)):
            raise BadInput(f"--spawn-rate must be positive, not {self.spawn_rate}")
        if self.spawn_rate is not None:
            number(self.spawn_rate, "--spawn-rate")
        if not (isinstance(self.max_error_ratio, (int, float)) and math.isfinite(self.max_error_ratio)
                and 0 <= self.max_error_ratio <= 1):
            raise BadInput(f"--max-error-ratio must be a share between 0 and 1, not {self.max_error_ratio!r}")
        parse_duration(self.duration_s)
        return self


# --- signals ---------------------------------------------------------------------------------------

class _StopFlag:
    """Set by SIGINT/SIGTERM (main thread) or by a KeyboardInterrupt caught in the loop."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signal_name: str | None = None
        self.count = 0

    def set(self, name: str) -> None:
        self.count += 1
        self.signal_name = self.signal_name or name
        self.event.set()

    def __bool__(self) -> bool:
        return self.event.is_set()


@contextlib.contextmanager
def _signals_to_flag(flag: _StopFlag) -> Iterator[None]:
    """SIGINT and SIGTERM set ``flag`` instead of killing the process (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}

    def handler(signum: int, _frame: Any) -> None:
        flag.set(signal.Signals(signum).name)

    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _check_stop(flag: _StopFlag) -> None:
    if flag:
        raise RunInterrupted(f"interrupted by {flag.signal_name} before the load started", None)


# --- target and topology ---------------------------------------------------------------------------

@dataclass
class _Lab:
    """The target of a run and, when rcap started it, the topology behind it."""

    target: Any
    topology: Any = None
    metrics: Any = None  # a MetricsExporter while --metrics-port is on


@contextlib.contextmanager
def _lab(spec: BenchSpec, flag: _StopFlag) -> Iterator[_Lab]:
    metrics = None
    if spec.metrics_port is not None:
        from loadgen.recorder.metrics import MetricsExporter  # noqa: PLC0415

        metrics = MetricsExporter(spec.metrics_port, spec.metrics_host)  # a busy port fails before anything starts
    try:
        yield from _lab_only(spec, flag, metrics)
    finally:
        if metrics is not None:
            metrics.close()


def _lab_only(spec: BenchSpec, flag: _StopFlag, metrics: Any) -> Iterator[_Lab]:
    from loadgen.topology import targets  # noqa: PLC0415  (topology imports redis-py)

    if spec.target is not None:
        target = targets.Target.parse(spec.target, password=spec.password, tls_ca=spec.tls_ca,
                                      tls_cert=spec.tls_cert, tls_key=spec.tls_key)
        targets.check(target)
        yield _Lab(target=target, metrics=metrics)
        return
    from loadgen import topology as topo_mod  # noqa: PLC0415

    password = spec.password
    if spec.topology == "enterprise" and not password:
        password = secrets.token_urlsafe(18)  # the stand-in always needs one; it never leaves memory
    # --keep leaves the embedded topology running (detached) so its keys can be inspected
    topo = topo_mod.up(spec.topology, password=password, detach=spec.keep, **spec.topology_options)
    try:
        _check_stop(flag)
        yield _Lab(target=topo.target, topology=topo, metrics=metrics)
    finally:
        if spec.keep:
            sys.stderr.write(f"rcap: topology {topo.name} left running with the keys (--keep): "
                             f"{topo.target.url} — stop it with: rcap down {topo.name}\n")
        else:
            topo.down()


def _node_target(target: Any, host: str, port: int) -> Any:
    """A standalone target for one node of ``target`` (same user, password and TLS files)."""
    from loadgen.topology.targets import Target  # noqa: PLC0415

    scheme = "rediss" if target.tls else "redis"
    user = f"{target.username}@" if target.username else ""
    return Target.parse(f"{scheme}://{user}{host}:{port}", password=target.password, tls_ca=target.tls_ca,
                        tls_cert=target.tls_cert, tls_key=target.tls_key)


def _probes(lab: _Lab) -> list[NodeProbe]:
    from loadgen.topology.targets import connect, server_nodes  # noqa: PLC0415

    probes = []
    for role, host, port in server_nodes(lab.target):
        node_target = _node_target(lab.target, host, port)
        probes.append(NodeProbe(host=host, port=port, role=role,
                                connect=lambda t=node_target: connect(t, **SAMPLER_CLIENT_OPTIONS)))
    return probes


def _topology_facts(lab: _Lab) -> dict | None:
    topo = lab.topology
    if topo is None:
        return None
    binary = getattr(topo, "binary", None)
    return {
        "name": topo.name,
        "kind": topo.kind,
        "binary": binary.to_dict() if binary is not None else None,
        "nodes": [{"name": n.name, "role": n.role, "host": n.host, "port": n.port, "pid": n.pid}
                  for n in topo.nodes],
    }


def _target_facts(target: Any) -> dict:
    return {"url": target.url, "kind": target.kind, "topology": target.topology, "tls": target.tls,
            "tls_ca": target.tls_ca, "tls_client_cert": target.tls_cert is not None,
            "username": target.username, "password_set": target.password is not None}


# --- scenario --------------------------------------------------------------------------------------

def _resolve_scenario(spec: BenchSpec) -> Any:
    """The scenario with the run's users, rate and prefix applied. ``spec.scenario`` is a name or path
    (``load_scenario``) or an already built scenario object (notebooks)."""
    changes: dict[str, Any] = {}
    if isinstance(spec.scenario, (str, os.PathLike)):
        from loadgen.scenarios import load_scenario  # noqa: PLC0415

        # users and rate go through the scenario's own validation (some workloads fix their users)
        overrides = dict(spec.overrides)
        if spec.users is not None:
            overrides["users"] = str(spec.users)
        if spec.rate is not None:
            overrides["rate"] = repr(float(spec.rate))
        scen = load_scenario(str(spec.scenario), overrides)
    elif spec.overrides:
        raise BadInput("--set overrides apply to a scenario name; change the scenario object instead")
    else:
        scen = spec.scenario
        if spec.users is not None:
            changes["users"] = spec.users
        if spec.rate is not None:
            changes["rate"] = float(spec.rate)
    if spec.prefix is not None:
        from loadgen.nuxeo.keys import check_prefix  # noqa: PLC0415

        changes["prefix"] = check_prefix(spec.prefix)
    return dataclasses.replace(scen, **changes) if changes else scen


def _scenario_json(scen: Any) -> str:
    """``RCAP_SCENARIO``: the scenario's own JSON (``Scenario.to_json``)."""
    to_json = getattr(scen, "to_json", None)
    return to_json() if callable(to_json) else json.dumps(dataclasses.asdict(scen))


# --- one run ---------------------------------------------------------------------------------------

def _stop_timeout_s(scen: Any) -> int:
    """Locust's ``--stop-timeout``: the scenario's ``drain_s`` (consumers finish in-flight work), ≥ 2 s."""
    return math.ceil(max(float(getattr(scen, "drain_s", 0) or 0), LOCUST_STOP_TIMEOUT_S))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _locust_argv(spec: BenchSpec, scen: Any, users: int, run: RunDir) -> list[str]:
    argv = [sys.executable, "-m", "locust", "-f", str(spec.locustfile), "--headless",
            "-u", str(users), "-r", f"{spec.spawn_rate or users:g}",
            "-t", f"{math.ceil(spec.duration_s)}s", "--stop-timeout", str(_stop_timeout_s(scen)),
            "--csv", str(run.path / "locust"), "--only-summary", "--exit-code-on-error", "0",
            "--loglevel", "WARNING"]
    if spec.processes:  # Locust's local master and its forked workers meet on a free port, not 5557:
        port = _free_port()  # two runs on one machine must not cross-connect
        argv += ["--processes", str(spec.processes), "--master-bind-port", str(port), "--master-port", str(port)]
    if spec.expect_workers:  # Locust's distributed engine; workers get the scenario and URL from the master
        argv += ["--master", "--expect-workers", str(spec.expect_workers),
                 "--expect-workers-max-wait", f"{spec.workers_timeout_s:g}",
                 "--master-bind-host", spec.master_bind_host, "--master-bind-port", str(spec.master_bind_port)]
    return argv


def _backlog_reader(client: Any, prefix: str, cluster: bool):
    """HLEN of the WorkManager state hash: works scheduled or running (the backlog)."""
    from loadgen.nuxeo.keys import work_namespace  # noqa: PLC0415

    key = f"{work_namespace(prefix, hashtag=cluster)}state"

    def read() -> int | None:
        try:
            return int(client.hlen(key))
        except Exception:  # target briefly unavailable (failover): the sampler records it
            return None

    return read


def _execute(spec: BenchSpec, scen: Any, lab: _Lab, flag: _StopFlag, out: Path,
             sweep: dict | None = None) -> Path:
    from loadgen.topology.keyspace import cleanup_prefix, snapshot_prefix  # noqa: PLC0415
    from loadgen.topology.targets import connect, describe_error  # noqa: PLC0415

    target = lab.target
    prefix = scen.prefix
    users = int(scen.users)
    client = connect(target)
    try:
        try:
            # the keys present at start are never deleted: cleanup spares this snapshot
            existing = snapshot_prefix(client, prefix, reuse=spec.reuse_prefix)
        except TargetError:
            raise
        except Exception as exc:  # noqa: BLE001  (connection dropped between check and SCAN)
            raise TargetError(describe_error(target, exc)) from None
        probes = _probes(lab)
        server, server_warnings = _server_facts(probes)
        from loadgen.topology.preflight import problems  # noqa: PLC0415

        for line in problems(client, prefix):
            server_warnings.append(line)
            sys.stderr.write(f"rcap: warning: {line}\n")
        _check_stop(flag)
        run = RunDir.create(out, scen.name, secrets_to_scrub=[target.password or ""])
        if existing:  # so that `rcap cleanup RUN_DIR` after a killed run spares them too
            from loadgen.cleanup import write_snapshot  # noqa: PLC0415

            write_snapshot(run.path, existing)
        return _record(spec, scen, lab, flag, run, client, users, len(existing), sweep, probes, server,
                       server_warnings, cleanup=lambda: cleanup_prefix(client, prefix, keep=existing))
    finally:
        client.close()


def _server_facts(probes: list[NodeProbe]) -> tuple[dict, list[str]]:
    """Version and settings of the first master (``({}, [])`` if there is no node to ask)."""
    master = next((p for p in probes if p.role == "master"), probes[0] if probes else None)
    if master is None:
        return {}, []
    client = master.connect()
    try:
        return facts.server(client)
    finally:
        client.close()


def _record(spec: BenchSpec, scen: Any, lab: _Lab, flag: _StopFlag, run: RunDir, client: Any,
            users: int, keys_found: int, sweep: dict | None, probes: list[NodeProbe], server: dict,
            server_warnings: list[str], cleanup) -> Path:
    target = lab.target
    start_t = time.time()
    warnings: list[str] = list(server_warnings)
    argv = _locust_argv(spec, scen, users, run)
    man: dict[str, Any] = {
        "manifest_version": facts.MANIFEST_VERSION,
        "run_id": run.path.name,
        "status": "running",
        "start_t": round(start_t, 3),
        "start": utc_iso(start_t),
        "scenario": json.loads(_scenario_json(scen)),
        "parameters": {
            "users": users, "rate": scen.rate, "duration_s": spec.duration_s, "processes": spec.processes,
            "spawn_rate": spec.spawn_rate or users, "overrides": dict(spec.overrides), "prefix": scen.prefix,
            "reuse_prefix": spec.reuse_prefix, "keys_found_under_prefix": keys_found, "keep": spec.keep,
            "sample_interval_s": spec.sample_interval_s, "locust_argv": argv[1:],
        },
        "target": _target_facts(target),
        "topology": _topology_facts(lab),
        "host": facts.host(),
        "software": facts.software(),
        "warnings": warnings,
    }
    if sweep:
        man["sweep"] = sweep
    man["server"] = server
    run.write_json(MANIFEST, man)
    run.event("run_start", t=start_t, run_id=run.path.name, users=users, rate=scen.rate)

    diagnostics = ServerDiagnostics([(p.name, p.connect) for p in probes], reset_stats=lab.topology is not None)
    diagnostics.start()
    sampler = ServerSampler(run, probes, interval_s=spec.sample_interval_s,
                            on_sample=lab.metrics.observe_server if lab.metrics else None).start()
    follower = LatencyFollower(run.file(LATENCY))
    backlog = _backlog_reader(client, scen.prefix,
                              target.kind == "cluster" or bool(getattr(scen.params, "hashtag", False)))
    from loadgen.topology.targets import password_handoff  # noqa: PLC0415

    secret_env, forget_password = password_handoff(target.password)  # a 0600 file Locust reads once
    env = {**os.environ, "PYTHONUNBUFFERED": "1",
           "RCAP_SCENARIO": _scenario_json(scen),
           "RCAP_TARGET": json.dumps(target.to_dict()),
           "RCAP_RUN_DIR": str(run.path), **secret_env}
    status, error = "complete", None
    locust_rc: int | None = None
    cpu: LoadgenCpu | None = None
    proc: subprocess.Popen | None = None
    load_start_t = time.time()
    try:
        from loadgen.topology.processes import spawn  # noqa: PLC0415

        # own session (Ctrl-C reaches rcap only, which stops Locust in order) and owned: if rcap is
        # killed, Locust dies with it instead of loading the target until its run time ends
        proc = spawn(argv, str(run.file("locust.log")), owned=True, env=env)
        cpu = LoadgenCpu(proc.pid)
        locust_rc, overran = _watch(spec, scen, run, proc, flag, follower, sampler, cpu, backlog, load_start_t,
                                    metrics=lab.metrics)
        if overran:
            status, error = "failed", f"Locust did not stop within {LOCUST_START_SLACK_S:g} s of the run time"
        elif flag:
            status = "interrupted"
        elif locust_rc != 0:
            status, error = "failed", _locust_failure(spec, run, locust_rc)
    except KeyboardInterrupt:  # outside the main thread (no handler): same as SIGINT
        flag.set("SIGINT")
        status = "interrupted"
    except BaseException as exc:
        status, error = "failed", f"{type(exc).__name__}: {exc}"
        raise
    finally:
        if proc is not None and proc.poll() is None:  # never leave Locust behind
            _stop_locust(proc, signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                _stop_locust(proc, signal.SIGKILL)
                proc.wait()
        forget_password()
        end_t = time.time()
        sampler.stop()
        run.write_json(DIAGNOSTICS, diagnostics.finish())
        _record_errors(run, follower.poll())
        if flag:
            run.event("interrupted", t=end_t, signal=flag.signal_name)
        try:
            summary = build_summary(run.path)
        except Exception as exc:  # noqa: BLE001  (a corrupt latency file must not leave the run unsealed)
            summary = {"error": f"{type(exc).__name__}: {exc}"}
            warnings.append(f"summary could not be built: {summary['error']}")
        if cpu is not None:
            summary["loadgen"] = cpu.report()
            man["loadgen_bound"] = cpu.bound
            if cpu.bound:
                msg = (f"the load generator was CPU-bound (busiest Locust process at "
                       f"{cpu.median_percent:.0f} % of a core): latencies include its queueing; {REMEDY}")
                warnings.append(msg)
                sys.stderr.write(f"rcap: warning: {msg}\n")
            elif cpu.host_busy:
                msg = ("the load machine's CPUs were more than 90 % busy: Locust and Redis competed for them, "
                       "so throughput and latency describe this machine, not Redis alone; run the load "
                       "from another machine (--target) or give it more cores")
                warnings.append(msg)
                sys.stderr.write(f"rcap: warning: {msg}\n")
        if spec.expect_workers:
            _record_workers(run, man, summary, warnings)
        run.write_json(SUMMARY, summary)
        from loadgen.recorder import quality as q  # noqa: PLC0415

        man["quality"] = q.verdict(summary, loadgen_bound=man.get("loadgen_bound"),
                                   max_error_ratio=spec.max_error_ratio, failures=q.read_failures(run.path))
        if status == "complete" and man["quality"]["verdict"] == "degraded":
            status, error = "degraded", q.one_line(man["quality"])  # the CLI prints it (RunDegraded)
        total = summary.get("total") or {}
        if spec.progress and total.get("count"):
            p99 = f"{total['p99_us']:,} µs" if total.get("p99_us") is not None else "-"
            sys.stderr.write(f"rcap: {scen.name} {status}: {total['ops_per_s'] or 0:,.0f} ops/s (steady), "
                             f"p99 {p99}, {total['errors']:,} errors\n")
        man["server_samples"] = sampler.samples
        if not spec.keep:
            try:
                removed = cleanup()
                run.event("cleanup", keys_removed=removed, keys_spared=keys_found, prefix=scen.prefix)
            except Exception as exc:  # noqa: BLE001  (target gone: say so, keep the run)
                warnings.append(f"prefix cleanup failed ({type(exc).__name__}); keys may remain under "
                                f"{scen.prefix!r}")
        elif lab.topology is not None:
            warnings.append(f"--keep: topology {lab.topology.name} left running with the keys")
        man.update(status=status, end_t=round(end_t, 3), end=utc_iso(end_t), load_start_t=round(load_start_t, 3),
                   elapsed_s=round(end_t - load_start_t, 3), locust_exit_code=locust_rc)
        if error:
            man["error"] = error
        run.write_json(MANIFEST, man)
        scrubbed = run.scrub_secrets()
        if scrubbed:  # should never happen: say where, so it gets fixed
            man["warnings"].append(f"a secret was found and masked in: {', '.join(scrubbed)}")
            run.write_json(MANIFEST, man)
        run.seal()
    if status == "interrupted":
        raise RunInterrupted(f"interrupted by {flag.signal_name}; partial run recorded", run.path)
    if status == "failed":
        raise RunFailed(f"run failed: {error}", run.path)
    if status == "degraded":
        raise RunDegraded(f"run recorded as {error}", run.path)
    return run.path


def _locust_failure(spec: BenchSpec, run: RunDir, rc: int) -> str:
    log = run.file("locust.log")
    text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
    if spec.expect_workers and "Gave up waiting for workers" in text:
        return (f"fewer than {spec.expect_workers} workers connected within {spec.workers_timeout_s:g} s; start "
                f"them with: rcap worker --master-host <this machine> --master-port {spec.master_bind_port}")
    return f"Locust exited with status {rc} (see locust.log)"


def _record_workers(run: RunDir, man: dict, summary: dict, warnings: list[str]) -> None:
    """A distributed run: each worker's host and CPU (``workers.json``, written by the master) into the
    manifest; the run is loadgen-bound when any worker was. The local process is only the master."""
    path = run.file("workers.json")
    workers = json.loads(path.read_text(encoding="utf-8")) if path.exists() else []
    man["workers"] = workers
    summary.setdefault("loadgen", {})["workers"] = workers
    bound = [w["host"] for w in workers if w.get("loadgen_bound")]
    man["loadgen_bound"] = bool(bound)
    if bound:
        msg = (f"workers on {', '.join(sorted(set(bound)))} were CPU-bound (median above 90 % of a core): "
               f"latencies include their queueing; add workers or processes per worker")
        warnings.append(msg)
        sys.stderr.write(f"rcap: warning: {msg}\n")


def _record_errors(run: RunDir, records: list[dict]) -> None:
    """One ``errors`` event per op and second with failed requests."""
    for rec in records:
        if rec.get("errors") and rec.get("kind", "measured") == "measured":
            run.event("errors", t=rec["t"], op=rec["op"], errors=int(rec["errors"]))


def _stop_locust(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _watch(spec: BenchSpec, scen: Any, run: RunDir, proc: subprocess.Popen, flag: _StopFlag,
           follower: LatencyFollower, sampler: ServerSampler, cpu: LoadgenCpu, backlog, start: float,
           metrics: Any = None) -> tuple[int, bool]:
    """Wait for Locust while showing progress; stop it on a signal. Returns (exit code, overran)."""
    deadline = (start + spec.duration_s + _stop_timeout_s(scen) + LOCUST_START_SLACK_S
                + (spec.workers_timeout_s if spec.expect_workers else 0))
    term_sent_at: float | None = None
    killed = overran = False
    last = None
    errors_total = 0
    next_tick = time.monotonic()
    with ProgressLine(enabled=spec.progress) as line:
        while True:
            try:
                rc = proc.wait(timeout=0.2)
                return rc, overran
            except subprocess.TimeoutExpired:
                pass
            except KeyboardInterrupt:  # not in the main thread (notebook): same as a signal
                flag.set("SIGINT")
            now = time.time()
            if (flag or now > deadline) and term_sent_at is None:
                overran = not flag
                _stop_locust(proc, signal.SIGTERM)
                term_sent_at = now
            elif term_sent_at is not None and not killed and (now - term_sent_at > STOP_GRACE_S or flag.count > 1):
                _stop_locust(proc, signal.SIGKILL)
                killed = True
            if time.monotonic() < next_tick:
                continue
            next_tick += 1.0
            cpu.sample()
            records = follower.poll()
            _record_errors(run, records)
            seconds = per_second(records)
            if seconds:
                last = seconds[-1]
                errors_total += sum(s.errors for s in seconds)
            master = next((r for r in sampler.latest.values() if r.get("role") == "master"), None)
            works = backlog()
            if works is not None:
                run.append_jsonl(WORKLOAD, {"t": round(now, 3), "work_backlog": works})
            if metrics is not None:
                metrics.observe_latency(records)
                metrics.observe_backlog(works)
            line.update(label=scen.name, elapsed_s=now - start, duration_s=spec.duration_s,
                        ops_per_s=last.ops if last else None, p99_us=last.p99_us if last else None,
                        used_memory_bytes=master["info"].get("used_memory") if master else None,
                        backlog=works, errors=errors_total)


def run_bench(scenario: Any, **options: Any) -> Path:
    """Run one benchmark and return its run directory (see :class:`BenchSpec` for ``options``).

    ``duration`` may be given as text (``"60s"``) instead of ``duration_s``. Raises
    :class:`~loadgen.errors.BadInput`/``TargetError``/``TopologyError`` before anything is recorded,
    :class:`RunFailed` or :class:`RunInterrupted` (with ``.run_dir``) after.
    """
    spec = _spec(scenario, options)
    check_out(spec.out)  # before the topology starts or the target is touched
    scen = _resolve_scenario(spec)
    flag = _StopFlag()
    with _signals_to_flag(flag), _lab(spec, flag) as lab:
        return _execute(spec, scen, lab, flag, Path(spec.out))


def _spec(scenario: Any, options: dict[str, Any]) -> BenchSpec:
    if "duration" in options:
        options = {**options, "duration_s": parse_duration(options.pop("duration"))}
    if "out" in options:
        options["out"] = Path(options["out"])
    try:
        spec = BenchSpec(scenario=scenario, **options)
    except TypeError as exc:
        raise BadInput(f"run_bench: {exc}") from None
    return dataclasses.replace(spec, duration_s=parse_duration(spec.duration_s)).validate()


def run_sweep(scenario: Any, *, users: Sequence[int] | None = None, rates: Sequence[float] | None = None,
              fixed_users: int | None = None, until: Callable[[list[Path]], str | None] | None = None,
              **options: Any) -> Path:
    """Run one bench per value of ``users`` or of ``rates`` (open loop, ops/s; ``fixed_users`` users
    each) on one target (the embedded topology is started once), cleaning the prefix between runs.
    Other ``options`` are :class:`BenchSpec` fields. Returns the sweep directory: ``sweep.json`` plus
    one run directory per value. Stops at the first failed or interrupted run, or when ``until`` (given
    the run directories so far) returns a reason, recorded as ``stopped_early`` in ``sweep.json``."""
    if (users is None) == (rates is None):
        raise BadInput("a sweep varies either --users or --rates (one of them)")
    param, values = ("users", list(users)) if users is not None else ("rate", list(rates))
    if fixed_users is not None:
        options = {**options, "users": fixed_users}
    if not values:
        raise BadInput(f"the sweep needs at least one {param} value")
    if options.get("keep"):
        raise BadInput("--keep is not available for a sweep (each step cleans its prefix for the next)")
    specs = [_spec(scenario, {**options, param: v}) for v in values]
    check_out(specs[0].out)
    scens = [_resolve_scenario(s) for s in specs]
    base = specs[0]
    sweep_id = new_id(f"sweep-{scens[0].name}")
    sweep_dir = Path(base.out) / sweep_id
    sweep_man: dict[str, Any] = {"sweep_id": sweep_id, "scenario": scens[0].name, "param": param,
                                 "values": values, "status": "running", "start": utc_iso(time.time()),
                                 "runs": []}
    flag = _StopFlag()
    degraded: list[str] = []
    with _signals_to_flag(flag), _lab(base, flag) as lab:
        sweep_dir.mkdir(parents=True)
        write_json(sweep_dir / SWEEP, sweep_man)
        try:
            for spec, scen, value in zip(specs, scens, values):
                entry = {"value": value, "run_id": None, "status": None}
                sweep_man["runs"].append(entry)
                try:
                    path = _execute(spec, scen, lab, flag, sweep_dir,
                                    sweep={"sweep_id": sweep_id, "param": param, "value": value})
                    entry.update(run_id=path.name, status="complete")
                    reason = until([sweep_dir / e["run_id"] for e in sweep_man["runs"] if e["status"] == "complete"]) \
                        if until is not None else None
                    if reason:
                        sweep_man["stopped_early"] = reason
                        break
                except RunDegraded as exc:  # recorded; the next steps still run
                    entry.update(run_id=exc.run_dir.name, status="degraded")
                    degraded.append(f"{param}={value}")
                except (RunFailed, RunInterrupted) as exc:
                    entry.update(run_id=exc.run_dir.name if exc.run_dir else None,
                                 status="interrupted" if isinstance(exc, RunInterrupted) else "failed")
                    sweep_man["status"] = entry["status"]
                    raise type(exc)(f"sweep {entry['status']} at {param}={value}: {exc}", sweep_dir) from None
                except BaseException as exc:
                    sweep_man["status"] = "failed"
                    sweep_man["error"] = f"at {param}={value}: {exc}"
                    raise
                finally:
                    write_json(sweep_dir / SWEEP, sweep_man)
            sweep_man["status"] = "degraded" if degraded else "complete"
        finally:
            sweep_man["end"] = utc_iso(time.time())
            sweep_man["runs"] = [e for e in sweep_man["runs"] if e["run_id"]]
            write_json(sweep_dir / SWEEP, sweep_man)
            RunDir(sweep_dir).seal()
    if degraded:
        raise RunDegraded(f"sweep recorded with degraded steps at {', '.join(degraded)} "
                          "(more than --max-error-ratio of their requests failed)", sweep_dir)
    return sweep_dir


__all__ = ["BenchSpec", "RunDegraded", "RunFailed", "RunInterrupted", "parse_duration", "run_bench", "run_sweep"]
