"""``sentinel``: not built yet."""

from loadgen.errors import TopologyError


def build(lab, **_):
    raise TopologyError("the sentinel topology is not available yet")
