"""``cluster``: not built yet."""

from loadgen.errors import TopologyError


def build(lab, **_):
    raise TopologyError("the cluster topology is not available yet")
