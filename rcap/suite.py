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
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from rcapcore import topologies
from rcapcore.errors import BadInput, RcapError
from rcapcore.paths import RUNS, STATE
from loadgen.recorder.rundir import new_id
from loadgen.workloads import Step, suite_steps


@dataclass(frozen=True)
class SuiteResult:
    """What the suite recorded: the suite folder, each step's run or sweep directory, the topology."""

    dir: Path
    run_dirs: tuple[Path, ...]
    topology: str
    seconds: float


def plan(topology: str, nuxeo_nodes: int = 4) -> tuple[Step, ...]:
    """The suite's steps for a target topology (``standalone``, ``sentinel``, ``enterprise`` or
    ``external``): each workload's own (:func:`loadgen.workloads.suite_steps`)."""
    return suite_steps(topology, nuxeo_nodes)


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
    from rcap import bench

    if scale <= 0:
        raise BadInput(f"scale must be positive, not {scale}")
    started = time.monotonic()
    target = load_target(str(target_load))
    topology_kind = target.deployment.topology
    nodes = target.business.nodes if target.business else max(target.redis.pubsub_subscribers, 1)
    steps = plan(topology_kind if target_url is None else topologies.EXTERNAL, nodes)
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

        pw = password or (secrets.token_urlsafe(18) if topologies.facts(topology_kind).password_required else None)
        progress(f"starting an embedded {topology_kind} topology")
        with topology.running(topology_kind, password=pw, base_dir=base_dir) as topo:
            run_steps(topo.target.url, topo.target.password, topo.target.tls_ca)
    for i, step in enumerate(steps, 1):
        if step.kind == "memory-wall":
            from rcap.failover.memory_wall import MemoryWallSpec, run_memory_wall

            progress(f"[{i}/{len(steps)}] {step.label}")
            spec = MemoryWallSpec(maxmemory="32mb", base_dir=base_dir)
            run_dirs.append(run_memory_wall(spec, out=suite_dir, log=progress).parent)
        elif step.kind == "failover":
            from rcap.failover.master_loss import FailoverSpec, run_failover

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
