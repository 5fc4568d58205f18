"""The benchmark suite behind ``rcap suite`` and ``make report``: brief runs of every scenario the report needs.

On one target (an existing Redis, or the embedded topology the target file asks for, started once), the
suite runs a throughput sweep per workload, a PubSub fan-out run, a mass operation that grows a backlog,
and, for an HA topology, one failover experiment. Each step writes its run (or sweep) directory under
``<runs_out>/<suite-id>/``; the report reads that folder. Durations are short on purpose (the whole suite
takes about three minutes at ``scale=1``); ``scale`` multiplies them for steadier numbers.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from rcapcore.errors import BadInput, RcapError
from rcapcore.paths import RUNS, STATE
from loadgen.recorder.rundir import new_id


@dataclass(frozen=True)
class Step:
    """One benchmark of the suite: ``duration_s`` per run (seconds); several ``rates`` (open loop, the
    scenario's unit per second) make a sweep."""

    label: str
    scenario: str
    duration_s: float
    rates: tuple[float, ...] = ()
    users: tuple[int, ...] = ()  # several: a closed-loop sweep (for the USL fit)
    overrides: dict[str, str] = field(default_factory=dict)
    kind: str = "bench"  # bench | probe | failover | memory-wall (the last two start their own topology)
    full_s: float = 0.0  # duration per run in the full profile (``rcap suite --full``); 0 = duration_s

    def seconds(self, scale: float = 1.0, full: bool = False) -> float:
        """Run time per run (s): the full profile's, or the brief one × ``scale``."""
        return self.full_s if full and self.full_s else self.duration_s * scale


@dataclass(frozen=True)
class SuiteResult:
    """What the suite recorded: the suite folder, each step's run or sweep directory, the topology."""

    dir: Path
    run_dirs: tuple[Path, ...]
    topology: str
    seconds: float


def plan(topology: str, nuxeo_nodes: int = 4) -> tuple[Step, ...]:
    """The suite's steps for a target topology (``standalone``, ``sentinel`` or ``enterprise``)."""
    steps = [
        # the target's node count of consumer threads, so completions keep up with schedules at every
        # step: the utilization-law fit divides CPU by works completed
        Step("WorkManager throughput sweep", "workmanager", 8, rates=(100, 300, 1000),
             overrides={"nodes": str(nuxeo_nodes)}, full_s=180),
        # closed-loop unpipelined lifecycles, more connections each step, until the main thread is >= 90 %
        # busy or throughput stops growing (+5 %): the measured works/s ceiling the CPU model is checked on
        Step("WorkManager saturation probe (closed loop, unpipelined lifecycles)", "work-lifecycle", 5,
             users=PROBE_USERS, kind="probe", full_s=30),
        Step("KeyValue throughput sweep", "kv", 6, rates=(1000, 4000, 16000), full_s=120),
        Step("Redis SET 1 KB against concurrency (closed loop, USL)", "kv-set-1k", 4, users=(1, 4, 16, 64),
             full_s=30),
        Step("PubSub fan-out, 1 node", "pubsub", 5, overrides={"nodes": "1"}, full_s=60),
        Step(f"PubSub fan-out, {nuxeo_nodes} nodes", "pubsub", 5, overrides={"nodes": str(nuxeo_nodes)}, full_s=60),
        Step("mass operation: backlog and memory growth", "mass-operation", 20, full_s=120),
    ]
    if topology != "external":
        steps.append(Step("memory wall: reindex works until OOM at maxmemory 32 MiB", "mass-operation", 0,
                          kind="memory-wall"))
    if topology in ("sentinel", "enterprise"):
        steps.append(Step("failover: master killed under WorkManager load", "workmanager", 20, kind="failover",
                          full_s=60))
    return tuple(steps)


PROBE_USERS = (4, 16, 50, 100)
PROBE_GROWTH = 0.05  # two steps in a row adding less than 5 % works/s: throughput stopped growing


def probe_done(run_dirs: list[Path]) -> str | None:
    """Why the saturation probe can stop after these steps (None: go on)."""
    from analysis.runs import load_run  # noqa: PLC0415
    from analysis.throughput import SATURATED_UTILIZATION, load_point  # noqa: PLC0415

    try:
        points = [load_point(load_run(d)) for d in run_dirs]
    except (OSError, ValueError, KeyError, RcapError):  # an unreadable step: let the ladder go on
        return None
    points = [p for p in points if p is not None]
    if not points:
        return None
    last = points[-1]
    if last.utilization >= SATURATED_UTILIZATION:
        return f"main thread {100 * last.utilization:.0f} % busy at {last.concurrency} connections"
    # one noisy step (a shared machine) does not end the probe: two in a row below the best so far do
    if len(points) >= 3:
        best = max(p.works_per_s for p in points[:-2])
        if all(p.works_per_s < (1 + PROBE_GROWTH) * best for p in points[-2:]):
            return (f"works/s stopped growing (best {best:,.0f}, then {points[-2].works_per_s:,.0f} and "
                    f"{last.works_per_s:,.0f}) at {last.concurrency} connections, main thread "
                    f"{100 * last.utilization:.0f} % busy")
    return None


def run_suite(target_load: Path, *, target_url: str | None = None, password: str | None = None,
              tls: tuple[str | None, str | None, str | None] = (None, None, None),
              runs_out: Path = RUNS, scale: float = 1.0, base_dir: str = str(STATE),
              progress: Callable[[str], None] = print, full: bool = False) -> SuiteResult:
    """Run the suite's steps for the target file and return where they were recorded.

    A benchmark step that fails (Locust exited with an error) is reported and skipped, so the report
    still comes out of the others; Ctrl-C, bad input and an unusable target stop the suite.
    ``full`` runs the full profile (each step's ``full_s``, ≈ 25 min): steps long enough for go-live p99
    claims (≥ 10,000 requests in every step, docs/report.md); otherwise durations × ``scale``.
    ``base_dir`` holds the embedded topologies' files.
    """
    from analysis.targets import load_target
    from loadgen import bench

    if scale <= 0:
        raise BadInput(f"scale must be positive, not {scale}")
    started = time.monotonic()
    target = load_target(str(target_load))
    topology_kind = target.deployment.topology
    nodes = target.business.nodes if target.business else max(target.redis.pubsub_subscribers, 1)
    steps = plan(topology_kind if target_url is None else "external", nodes)
    suite_dir = Path(runs_out) / new_id("suite")
    tls_ca, tls_cert, tls_key = tls
    run_dirs: list[Path] = []

    def run_steps(url: str, pw: str | None, ca: str | None) -> None:
        for i, step in enumerate(steps, 1):
            if step.kind not in ("bench", "probe"):
                continue  # starts its own topology, below
            progress(f"[{i}/{len(steps)}] {step.label} ({_describe(step, scale, full)})")
            common = dict(target=url, password=pw, tls_ca=ca, tls_cert=tls_cert, tls_key=tls_key,
                          duration_s=step.seconds(scale, full), overrides=dict(step.overrides), out=suite_dir)
            try:
                if len(step.rates) > 1:
                    run_dirs.append(bench.run_sweep(step.scenario, rates=list(step.rates), **common))
                elif len(step.users) > 1:
                    run_dirs.append(bench.run_sweep(step.scenario, users=list(step.users),
                                                    until=probe_done if step.kind == "probe" else None, **common))
                else:
                    run_dirs.append(bench.run_bench(step.scenario, rate=step.rates[0] if step.rates else None,
                                                    **common))
            except bench.RunFailed as exc:  # what it recorded stays; the report marks it
                progress(f"warning: {step.label} failed ({exc}); continuing")
                if exc.run_dir:
                    run_dirs.append(exc.run_dir)

    if target_url is not None:
        run_steps(target_url, password, tls_ca)
    else:
        from loadgen import topology

        pw = password or (secrets.token_urlsafe(18) if topology_kind == "enterprise" else None)
        progress(f"starting an embedded {topology_kind} topology")
        with topology.running(topology_kind, password=pw, base_dir=base_dir) as topo:
            run_steps(topo.target.url, topo.target.password, topo.target.tls_ca)
    for i, step in enumerate(steps, 1):
        if step.kind == "memory-wall":
            from loadgen.failover.memory_wall import MemoryWallSpec, run_memory_wall

            progress(f"[{i}/{len(steps)}] {step.label}")
            spec = MemoryWallSpec(maxmemory="32mb", base_dir=base_dir)
            run_dirs.append(run_memory_wall(spec, out=suite_dir, log=progress).parent)
        elif step.kind == "failover":
            from loadgen.failover.master_loss import FailoverSpec, run_failover

            progress(f"[{i}/{len(steps)}] {step.label} ({_describe(step, scale, full)})")
            secs = step.seconds(scale, full)
            at, fault = max(1.0, secs / 4), max(1.0, secs / 3)
            spec = FailoverSpec(topology=topology_kind, fault="kill", at_s=at, fault_s=fault,
                                duration_s=max(secs, at + fault + 2), base_dir=base_dir)
            run_dirs.append(run_failover(spec, out=suite_dir, log=progress).parent)
    return SuiteResult(suite_dir, tuple(run_dirs), topology_kind, round(time.monotonic() - started, 1))


def _describe(step: Step, scale: float, full: bool = False) -> str:
    d = f"{step.seconds(scale, full):.0f} s"
    if len(step.rates) > 1:
        return f"rates {', '.join(f'{r:g}' for r in step.rates)}/s, {d} each"
    if len(step.users) > 1:
        return f"users {', '.join(map(str, step.users))}, {d} each"
    return d
