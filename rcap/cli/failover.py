"""``rcap failover``, ``rcap restart-test``, ``rcap memory-wall`` and ``rcap node-stop``: the fault and durability
experiments.

Each prints progress on stderr and, as the last line of stdout, the path of its ``result.json``.
Exit status: 0 complete, 1 failed, 130 interrupted (the run directory keeps what was measured).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rcapcore.errors import BadInput
from rcapcore.paths import RUNS
from rcapcore import topologies


def _log(line: str) -> None:
    sys.stderr.write(f"rcap: {line}\n")
    sys.stderr.flush()


def _seconds(text: str) -> float:
    from rcap.bench import parse_duration  # noqa: PLC0415  (one duration syntax for every command)

    return parse_duration(text)


def _csv(text: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in text.split(",") if p.strip())


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=0, help="seed of ids, payloads and messages (default 0)")
    p.add_argument("--repeat", type=int, default=1, metavar="N",
                   help="run N times with the same seed and report median/min/max (default 1)")
    p.add_argument("--out", default=str(RUNS), help="parent of the run directory (default data/runs)")
    p.add_argument("--prefix", default="rcap:", help="key prefix (default rcap:)")


def register(sub: argparse._SubParsersAction) -> None:
    fo = sub.add_parser("failover", help="take the master of a Sentinel/Enterprise group away under load; "
                        "measure detection, promotion, unavailability and acknowledged-write loss")
    fo.add_argument("--topology", choices=topologies.with_sentinels(), default="sentinel")
    fo.add_argument("--fault", choices=("kill", "stop", "partition"), default="kill",
                    help="kill = SIGKILL (restarted after --fault-duration), stop = SIGSTOP then SIGCONT, "
                         "partition = iptables DROP between the master and its replicas and sentinels")
    fo.add_argument("--at", default="10s", help="when the fault starts, from the load start (default 10s)")
    fo.add_argument("--fault-duration", default="10s", help="how long the fault lasts (default 10s)")
    fo.add_argument("--duration", default="40s", help="load duration (default 40s)")
    fo.add_argument("--down-after", type=int, default=2000, metavar="MS",
                    help="sentinel down-after-milliseconds (default 2000)")
    fo.add_argument("--failover-timeout", type=int, default=4000, metavar="MS",
                    help="sentinel failover-timeout (default 4000)")
    fo.add_argument("--min-replicas-to-write", type=int, default=0, metavar="N")
    fo.add_argument("--min-replicas-max-lag", type=int, default=10, metavar="S",
                    help="with --min-replicas-to-write: lag (s) after which a replica no longer counts "
                         "(Redis default 10)")
    fo.add_argument("--wait-replicas", type=int, default=0, metavar="N",
                    help="send WAIT N after each schedule; a schedule counts as acknowledged only if "
                         "N replicas confirmed it (retried otherwise)")
    fo.add_argument("--persistence", choices=("none", "rdb", "aof"), default="none")
    fo.add_argument("--follow", choices=("switch-master", "errors"), default="switch-master",
                    help="how clients find the new master: on +switch-master like Nuxeo's Jedis pool "
                         "(default) or only on errors like plain redis-py")
    fo.add_argument("--workloads", default="workmanager,kv,pubsub",
                    help="comma list among workmanager (required), kv, pubsub (default all)")
    fo.add_argument("--rate", type=float, default=200.0, help="works scheduled per second (default 200)")
    fo.add_argument("--producers", type=int, default=2)
    fo.add_argument("--consumers", type=int, default=2)
    fo.add_argument("--work-ms", type=float, default=20.0,
                    help="time a consumer spends on each work, ms (default 20)")
    _common(fo)
    fo.set_defaults(handler=failover_handler)

    rs = sub.add_parser("restart-test", help="restart a standalone Redis under each persistence setting "
                        "and count the pending works that survive")
    rs.add_argument("--persistence", default="none,rdb,aof", help="comma list (default none,rdb,aof)")
    rs.add_argument("--works", type=int, default=2000, help="works scheduled before the restart (default 2000)")
    rs.add_argument("--completed-fraction", type=float, default=0.25,
                    help="share of them completed before the restart (default 0.25)")
    rs.add_argument("--stop", choices=("kill", "term"), default="kill",
                    help="kill = SIGKILL (crash), term = SIGTERM (clean shutdown)")
    rs.add_argument("--work-type", default="fulltextExtractor")
    _common(rs)
    rs.set_defaults(handler=restart_handler)

    mw = sub.add_parser("memory-wall", help="run the mass-operation scenario against a node with maxmemory "
                        "(noeviction) until Redis refuses writes with OOM; compare with the memory model")
    mw.add_argument("--maxmemory", default="64mb", help="maxmemory of the node (default 64mb)")
    mw.add_argument("--scenario", default="mass-operation",
                    help="scenario giving the work type, queue and rates (default mass-operation)")
    mw.add_argument("--work-type", default=None, help="override the scenario's work type")
    mw.add_argument("--rate", type=float, default=None, help="override the schedule rate λ, works/s")
    mw.add_argument("--consume-rate", type=float, default=None,
                    help="override the consume rate μ, works/s (0 = nobody consumes)")
    mw.add_argument("--timeout", default="120s", help="give up if no OOM by then (default 120s)")
    _common(mw)
    mw.set_defaults(handler=memory_wall_handler)

    register_node_stop(sub)


def _finish(path: Path) -> int:
    result = json.loads(Path(path).read_text())
    status = result.get("status", "complete")
    if result.get("error"):
        _log(f"{status}: {result['error']}")
    print(path)
    return {"complete": 0, "interrupted": 130}.get(status, 1)


def _run(run_once, args: argparse.Namespace, label: str) -> int:
    if args.repeat < 1:
        raise BadInput(f"--repeat must be ≥ 1, got {args.repeat}")
    from loadgen.recorder.rundir import check_out  # noqa: PLC0415

    check_out(args.out)
    if args.repeat == 1:
        return _finish(run_once())
    from rcap.failover.repeat import repeat  # noqa: PLC0415

    return _finish(repeat(run_once, args.repeat, args.out, label, log=_log))


def failover_handler(args: argparse.Namespace) -> int:
    from rcap.failover.master_loss import FailoverSpec, run_failover  # noqa: PLC0415
    from rcap.failover.workload import LoadSpec  # noqa: PLC0415

    workloads = _csv(args.workloads)
    for name in ("producers", "consumers"):
        if getattr(args, name) < 1:
            raise BadInput(f"--{name} must be ≥ 1")
    if args.rate <= 0 or args.work_ms < 0:
        raise BadInput("--rate must be > 0 and --work-ms ≥ 0")
    load = LoadSpec(workloads=workloads, producers=args.producers, consumers=args.consumers,
                    schedule_rate=args.rate, work_ms=args.work_ms, wait_replicas=args.wait_replicas,
                    follow=args.follow, prefix=args.prefix, seed=args.seed)
    spec = FailoverSpec(topology=args.topology, fault=args.fault, at_s=_seconds(args.at),
                        duration_s=_seconds(args.duration), fault_s=_seconds(args.fault_duration),
                        down_after_ms=args.down_after, failover_timeout_ms=args.failover_timeout,
                        min_replicas_to_write=args.min_replicas_to_write,
                        min_replicas_max_lag_s=args.min_replicas_max_lag, persistence=args.persistence,
                        seed=args.seed, load=load)
    return _run(lambda: run_failover(spec, args.out, log=_log), args, f"failover-{args.topology}-{args.fault}")


def restart_handler(args: argparse.Namespace) -> int:
    from rcap.failover.restart import RestartSpec, run_restart  # noqa: PLC0415

    spec = RestartSpec(persistence=_csv(args.persistence), works=args.works,
                       completed_fraction=args.completed_fraction, work_type=args.work_type, stop=args.stop,
                       prefix=args.prefix, seed=args.seed)
    return _run(lambda: run_restart(spec, args.out, log=_log), args, f"restart-{args.stop}")


def memory_wall_handler(args: argparse.Namespace) -> int:
    from rcap.failover.memory_wall import MemoryWallSpec, run_memory_wall  # noqa: PLC0415

    spec = MemoryWallSpec(maxmemory=args.maxmemory, scenario=args.scenario, work_type=args.work_type,
                          schedule_rate=args.rate, consume_rate=args.consume_rate,
                          timeout_s=_seconds(args.timeout), prefix=args.prefix, seed=args.seed)
    return _run(lambda: run_memory_wall(spec, args.out, log=_log), args, "memory-wall")


def register_node_stop(sub: argparse._SubParsersAction) -> None:
    from rcap.cli.topology import add_target_options  # noqa: PLC0415

    ns = sub.add_parser("node-stop", help="emulate N Nuxeo nodes consuming works; stop one (graceful "
                        "shutdownAndSuspend or crash = SIGKILL) and audit every acknowledged work")
    where = ns.add_mutually_exclusive_group()
    where.add_argument("--topology", choices=topologies.names(proxied=False, sharded=False), default="standalone",
                       help="local topology started for the run (default standalone)")
    where.add_argument("--target", metavar="URL", help="an existing Redis (keys under a per-run prefix, "
                       "deleted at the end)")
    add_target_options(ns)
    ns.add_argument("--mode", choices=("graceful", "crash"), required=True)
    ns.add_argument("--nodes", type=int, default=3, help="emulated Nuxeo nodes, ≥ 2 (default 3)")
    ns.add_argument("--threads", type=int, default=4, help="worker threads per node (default 4, queue default)")
    ns.add_argument("--at", default="10s", help="when one node stops, from the load start (default 10s)")
    ns.add_argument("--duration", default="40s", help="load duration (default 40s)")
    ns.add_argument("--rate", type=float, default=60.0, help="works scheduled per second (default 60)")
    ns.add_argument("--work-ms", type=float, default=100.0, help="processing time of a work, ms (default 100)")
    ns.add_argument("--uninterruptible-works", action="store_true",
                    help="works ignore the shutdown's interrupt and finish their side effects before being "
                         "given up (graceful: they run again elsewhere)")
    ns.add_argument("--poison-sample", type=int, default=5,
                    help="crash: orphaned ids scheduled again to watch them cycle (default 5)")
    _common(ns)
    ns.set_defaults(handler=node_stop_handler)


def node_stop_handler(args: argparse.Namespace) -> int:
    from rcap.cli.topology import target_from_args  # noqa: PLC0415
    from rcap.failover.node_stop import NodeStopSpec, run_node_stop  # noqa: PLC0415

    target = target_from_args(args.target, args) if args.target else None
    if target is not None and target.sharded:
        raise BadInput("node-stop needs a standalone or sentinel target: the WorkManager scripts are not "
                       "cluster-safe (CROSSSLOT)")
    spec = NodeStopSpec(mode=args.mode, topology=topologies.EXTERNAL if target else args.topology, nodes=args.nodes,
                        threads=args.threads, at_s=_seconds(args.at), duration_s=_seconds(args.duration),
                        rate=args.rate, work_ms=args.work_ms, poison_sample=args.poison_sample,
                        interruptible=not args.uninterruptible_works,
                        prefix=args.prefix, seed=args.seed)
    return _run(lambda: run_node_stop(spec, args.out, target=target, log=_log), args, f"node-stop-{args.mode}")
