"""``enterprise``: not built yet."""

from loadgen.errors import TopologyError


def build(lab, **_):
    raise TopologyError("the enterprise topology is not available yet")
