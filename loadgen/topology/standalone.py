"""``standalone``: one redis-server."""

from __future__ import annotations

from loadgen.topology.launcher import Launcher
from loadgen.topology.targets import Target
from rcapcore.topologies import facts

NAME = "standalone"


def build(lab: Launcher, *, tls: bool, timeout_s: float, **_) -> Target:
    if tls:
        lab.make_tls([lab.host(0)])
    node = lab.start_redis("redis-1", "master", 0)
    scheme = facts(NAME).schemes[tls]
    target = Target.parse(f"{scheme}://{node.host}:{node.port}", password=lab.opts.password,
                          tls_ca=lab.opts.tls.ca if tls else None, topology=NAME)
    lab.topo.target = target
    return target
