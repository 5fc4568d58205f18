"""Local lab topologies: start (``up``), list (``status``), stop (``down``), one folder each under ``.rcap/``.

``.rcap/<name>/topology.json`` records the nodes (pid + start time), the owner and the target URL (never
the password). A topology started from Python (tests, notebooks) is *owned*: its processes die with the
owner (PR_SET_PDEATHSIG). ``rcap up`` detaches it instead, and ``rcap down`` stops it. ``up`` and
``status`` reap any topology whose owner died or whose processes are all gone.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace

from rcapcore.errors import BadInput, TopologyError
from rcapcore.paths import STATE
import loadgen.topology.registry as registry  # submodules by name: the package's __init__ imports lab
import loadgen.topology.sentinel as sentinel
from loadgen.topology.binaries import RedisBinary, find_redis_server
from loadgen.topology.launcher import Launcher
from loadgen.topology.model import Node
from loadgen.topology.processes import (PortAllocator, ProcessId, accepts, deferred_signals, signal_process,
                                        stop_processes)
from loadgen.topology.redisconf import NodeOptions, parse_bytes
from loadgen.topology.targets import Target, connect

STATE_FILE = "topology.json"
DEFAULT_BASE_DIR = str(STATE)
READY_TIMEOUT_S = 30.0
_CLAIM_GRACE_S = 30.0  # a folder without state younger than this is another `up` starting


@dataclass
class Topology:
    """A running local topology. ``target`` is how clients reach it; ``nodes`` every process."""

    name: str
    kind: str
    dir: str
    binary: RedisBinary
    target: Target | None = None
    nodes: list[Node] = field(default_factory=list)
    owner_pid: int | None = None
    owner_create_time: float | None = None
    options: dict = field(default_factory=dict)
    _procs: dict[str, subprocess.Popen] = field(default_factory=dict, repr=False)
    _password: str | None = field(default=None, repr=False)

    # --- nodes -------------------------------------------------------------------------------------
    def node(self, which: Node | str) -> Node:
        """The current record of a node, by name or by a (possibly outdated) ``Node``."""
        name = which.name if isinstance(which, Node) else which
        for node in self.nodes:
            if node.name == name:
                return node
        raise BadInput(f"topology {self.name} has no node {name!r} "
                       f"(nodes: {', '.join(n.name for n in self.nodes)})")

    def nodes_with_role(self, role: str) -> list[Node]:
        return [n for n in self.nodes if n.role == role]

    def _add_node(self, node: Node, proc: subprocess.Popen | None = None) -> None:
        self.nodes = [n for n in self.nodes if n.name != node.name] + [node]
        if proc is not None:
            self._procs[node.name] = proc
        self.save()

    def _forget_node(self, name: str) -> None:
        node = self.node(name)
        stop_processes([node.process_id])
        self._poll(name)
        self.nodes = [n for n in self.nodes if n.name != name]
        self.save()

    def _poll(self, name: str) -> None:
        proc = self._procs.pop(name, None)
        if proc is not None:
            proc.poll()  # reaped already by stop_processes; this only settles the Popen

    # --- fault injection -----------------------------------------------------------------------------
    def kill_node(self, node: Node | str, sig: int = signal.SIGKILL) -> Node:
        """Send ``sig`` (default SIGKILL) to a node; SIGKILL/SIGTERM also wait until it is gone."""
        node = self.node(node)
        if not signal_process(node.process_id, sig):
            raise TopologyError(f"{node.name} of {self.name} is not running")
        if sig in (signal.SIGKILL, signal.SIGTERM):
            stop_processes([node.process_id])
            self._poll(node.name)
        return node

    def stop_node(self, node: Node | str) -> Node:
        """Freeze a node (SIGSTOP): it keeps its sockets but answers nothing, like a hung host."""
        return self.kill_node(node, signal.SIGSTOP)

    def cont_node(self, node: Node | str) -> Node:
        """Resume a node frozen by :meth:`stop_node` (SIGCONT)."""
        return self.kill_node(node, signal.SIGCONT)

    def start_node(self, node: Node | str, timeout_s: float = 10.0, as_replica: bool | None = None) -> Node:
        """Restart a stopped node with its config (as rewritten by Redis/Sentinel) on the same port.

        ``as_replica`` restarts a data node as a replica of whichever other node is master now (none: no
        failover happened, restart unchanged). The default does so in the enterprise stand-in only
        (otherwise HAProxy would route to a returning old master until Sentinel demotes it), and leaves
        plain Sentinel's own behaviour alone elsewhere.
        """
        node = self.node(node)
        if node.alive():
            raise TopologyError(f"{node.name} of {self.name} is already running")
        argv = [a for a in node.argv if a]
        if "--replicaof" in argv:  # drop a previous restart's override
            i = argv.index("--replicaof")
            del argv[i:i + 3]
        if as_replica is None:
            as_replica = registry.facts(self.kind).proxied
        launcher = Launcher(self, self.node_options(), PortAllocator(None), owned=self.owned)
        if as_replica and node.role in ("master", "replica"):
            # Ask the nodes, not the sentinels: a promoted replica says role:master before the sentinels
            # announce the switch. No other master (no failover yet): restart unchanged.
            master = self._other_master(launcher, node)
            if master is not None:
                argv += ["--replicaof", master.host, str(master.port)]
        password = node.role != "sentinel"
        ready = (lambda pid: launcher.serves(node.host, node.port, pid, password=password)) \
            if node.role != "haproxy" else (lambda pid: accepts(node.host, node.port))
        return launcher.run(node.name, node.role, node.host, node.port, argv, ready, timeout_s=timeout_s)

    def _other_master(self, launcher, node: Node) -> Node | None:
        import redis  # noqa: PLC0415

        for other in self.nodes:
            if other.name == node.name or other.role not in ("master", "replica") or not other.alive():
                continue
            client = launcher.redis_client(other.host, other.port)
            try:
                if client.info("replication").get("role") == "master":
                    return other
            except (redis.RedisError, OSError):
                continue
            finally:
                client.close()
        return None

    def node_options(self) -> NodeOptions:
        from loadgen.topology.redisconf import TlsFiles  # noqa: PLC0415

        tls = self.options.get("tls_files") if self.options.get("nodes_tls") else None
        return NodeOptions(password=self._password, tls=TlsFiles(**tls) if tls else None,
                           maxmemory=self.options.get("maxmemory"),
                           maxmemory_policy=self.options.get("maxmemory_policy", "noeviction"),
                           persistence=self.options.get("persistence", "none"),
                           redis_major=int(self.binary.version.split(".")[0]),
                           io_threads=self.options.get("io_threads", 1))

    def client(self, **redis_kwargs):
        """A redis-py client built from :attr:`target` (see ``targets.connect``)."""
        return connect(self.target, **redis_kwargs)

    def current_master_address(self) -> tuple[str, int]:
        """``(host, port)`` of the data node that is master now (the sentinels' answer where they exist)."""
        facts = registry.facts(self.kind)
        if facts.sentinels:
            return sentinel.discover_master(self)
        if facts.sharded:
            raise BadInput("a cluster has one master per slot range; use topology.server_nodes(target)")
        master = self.nodes_with_role("master")[0]
        return master.host, master.port

    def current_master(self) -> Node:
        """The data node that is master now (asks the sentinels in sentinel/enterprise topologies)."""
        host, port = self.current_master_address()
        return next(n for n in self.nodes if n.host == host and n.port == port and n.role != "sentinel")

    # --- life cycle ----------------------------------------------------------------------------------
    @property
    def owned(self) -> bool:
        """True when this process owns the topology (its processes die with it)."""
        return self.owner_pid == os.getpid()

    def running_nodes(self) -> list[Node]:
        return [n for n in self.nodes if n.alive()]

    def down(self) -> None:
        """Stop every process and remove the folder."""
        stop_processes([n.process_id for n in self.nodes])
        for name in list(self._procs):
            self._poll(name)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Topology:
        return self

    def __exit__(self, *exc) -> None:
        self.down()

    # --- state file ----------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "dir": self.dir, "binary": self.binary.to_dict(),
                "target": self.target.to_dict() if self.target else None,
                "nodes": [{**asdict(n), "argv": list(n.argv)} for n in self.nodes],
                "owner_pid": self.owner_pid, "owner_create_time": self.owner_create_time,
                "options": self.options}

    def save(self) -> None:
        path = os.path.join(self.dir, STATE_FILE)
        tmp = path + ".tmp"
        with open(tmp, "w") as fh:
            json.dump(self.to_dict(), fh, indent=1)
        os.replace(tmp, path)

    @classmethod
    def load(cls, folder: str, password: str | None = None) -> Topology:
        """Read ``folder/topology.json``; ``password`` (never stored) completes the target."""
        with open(os.path.join(folder, STATE_FILE)) as fh:
            data = json.load(fh)
        target = data.get("target")
        return cls(name=data["name"], kind=data["kind"], dir=data["dir"], binary=RedisBinary(**data["binary"]),
                   target=Target.from_dict({**target, "password": password}) if target else None,
                   nodes=[Node(**{**n, "argv": tuple(n["argv"])}) for n in data["nodes"]],
                   owner_pid=data.get("owner_pid"), owner_create_time=data.get("owner_create_time"),
                   options=data.get("options", {}), _password=password)

    def stale(self) -> bool:
        """An owned topology is stale when its owner died (its nodes may be down on purpose: fault
        experiments); a detached one when none of its processes runs any more."""
        if self.owner_pid is not None:
            return not ProcessId(self.owner_pid, self.owner_create_time or 0).alive()
        return bool(self.nodes) and not self.running_nodes()


def _base(base_dir: str | os.PathLike | None) -> str:
    return os.path.abspath(os.fspath(base_dir or DEFAULT_BASE_DIR))


def _load_all(base: str) -> Iterator[tuple[str, Topology | None]]:
    if not os.path.isdir(base):
        return
    for entry in sorted(os.listdir(base)):
        folder = os.path.join(base, entry)
        if not os.path.isdir(folder):
            continue
        try:
            yield folder, Topology.load(folder)
        except (OSError, ValueError, KeyError, TypeError, BadInput):
            yield folder, None


def reap(base_dir: str | os.PathLike | None = None) -> list[str]:
    """Stop and remove stale topologies (owner dead or all processes gone); returns their names."""
    reaped = []
    for folder, topo in _load_all(_base(base_dir)):
        if topo is None:
            if time.time() - os.path.getmtime(folder) > _CLAIM_GRACE_S:
                shutil.rmtree(folder, ignore_errors=True)
                reaped.append(os.path.basename(folder))
        elif topo.stale():
            topo.down()
            reaped.append(topo.name)
    return reaped


def status(base_dir: str | os.PathLike | None = None) -> list[Topology]:
    """Topologies under ``base_dir`` (after reaping stale ones)."""
    reap(base_dir)
    return [t for _, t in _load_all(_base(base_dir)) if t is not None]


def get(name: str, base_dir: str | os.PathLike | None = None, password: str | None = None) -> Topology:
    """The running topology ``name`` (``BadInput`` if there is none)."""
    folder = os.path.join(_base(base_dir), name)
    try:
        return Topology.load(folder, password)
    except (OSError, ValueError, KeyError):
        raise BadInput(f"no topology named {name!r} (rcap status lists them)") from None


def down(name: str, base_dir: str | os.PathLike | None = None) -> Topology:
    """Stop topology ``name`` and remove its folder."""
    topo = get(name, base_dir)
    topo.down()
    return topo


def down_all(base_dir: str | os.PathLike | None = None) -> list[str]:
    """Stop every topology under ``base_dir``; returns their names."""
    names = []
    for folder, topo in _load_all(_base(base_dir)):
        if topo is not None:
            topo.down()
            names.append(topo.name)
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return names


def _valid_name(name: str) -> str:
    if not name or not all(c.isalnum() or c in "-_." for c in name) or name.startswith("."):
        raise BadInput(f"bad topology name {name!r}: use letters, digits, '-', '_' and '.'")
    return name


def _claim(base: str, kind: str, name: str | None) -> str:
    """Create the topology's folder atomically; a default name gets a -2, -3 … suffix if taken."""
    os.makedirs(base, exist_ok=True)
    candidates = [_valid_name(name)] if name else [kind] + [f"{kind}-{i}" for i in range(2, 100)]
    for candidate in candidates:
        folder = os.path.join(base, candidate)
        try:
            os.mkdir(folder, 0o700)
            return folder
        except FileExistsError:
            continue
    if name:
        raise TopologyError(f"a topology named {name!r} already runs (rcap down {name})")
    raise TopologyError(f"too many {kind} topologies under {base}")


def up(kind: str, *, name: str | None = None, tls: bool = False, password: str | None = None,
       maxmemory: int | str | None = None, maxmemory_policy: str = "noeviction", persistence: str = "none",
       port_base: int | None = None, down_after_ms: int = 2000, failover_timeout_ms: int = 4000,
       redis_server: str | None = None, base_dir: str | os.PathLike | None = DEFAULT_BASE_DIR,
       bind_hosts: bool = False, detach: bool = False, timeout_s: float = READY_TIMEOUT_S,
       io_threads: int = 1) -> Topology:
    """Start a ``kind`` topology and return it once ready (see the module docstring for ownership).

    ``maxmemory`` in bytes or "256mb"; ``down_after_ms``/``failover_timeout_ms`` are the sentinels'
    settings (ms); ``bind_hosts`` gives each node its own loopback address 127.0.0.10, .11, …
    ``enterprise`` always serves TLS on its HAProxy endpoint and needs ``password``. ``io_threads`` > 1
    starts the data nodes with that many I/O threads (main thread included).
    """
    entry = registry.get(kind)
    if entry.facts.password_required and not password:
        raise BadInput(f"the {kind} topology needs a password: --password-file FILE or RCAP_PASSWORD")
    for label, value in (("down_after_ms", down_after_ms), ("failover_timeout_ms", failover_timeout_ms)):
        if not isinstance(value, int) or value < 100:
            raise BadInput(f"{label} must be an integer ≥ 100 ms, got {value!r}")
    if not isinstance(io_threads, int) or not 1 <= io_threads <= 128:
        raise BadInput(f"io_threads must be an integer from 1 to 128, got {io_threads!r}")
    opts = NodeOptions(password=password, maxmemory=parse_bytes(maxmemory), maxmemory_policy=maxmemory_policy,
                       persistence=persistence, io_threads=io_threads)
    ports = PortAllocator(port_base)
    binary = find_redis_server(redis_server)
    opts = replace(opts, redis_major=int(binary.version.split(".")[0]))
    base = _base(base_dir)
    reap(base)
    folder = _claim(base, kind, name)
    me = ProcessId.of(os.getpid())
    topo = Topology(name=os.path.basename(folder), kind=kind, dir=folder, binary=binary, owner_pid=me.pid,
                    owner_create_time=me.create_time, _password=password,
                    options={"tls": tls, "maxmemory": opts.maxmemory, "maxmemory_policy": maxmemory_policy,
                             "persistence": persistence, "port_base": port_base, "bind_hosts": bind_hosts,
                             "down_after_ms": down_after_ms, "failover_timeout_ms": failover_timeout_ms,
                             "io_threads": io_threads})
    try:
        topo.save()
        launcher = Launcher(topo, opts, ports, owned=not detach, bind_hosts=bind_hosts)
        entry.build(launcher, tls=tls, down_after_ms=down_after_ms, failover_timeout_ms=failover_timeout_ms,
                       timeout_s=timeout_s)
        if detach:
            topo.owner_pid = topo.owner_create_time = None
        topo.save()
        return topo
    except BaseException:
        with deferred_signals():  # a second Ctrl-C must not cut the teardown short
            topo.down()
        raise


@contextlib.contextmanager
def running(kind: str, **options) -> Iterator[Topology]:
    """``with running("sentinel", down_after_ms=1000) as topo:`` — up, then down whatever happens."""
    topo = up(kind, **options)
    try:
        yield topo
    finally:
        topo.down()
