"""rcap load generation: local Redis topologies, Nuxeo traffic model, Locust workloads, run recorder."""

__version__ = "0.1.0"
DISTRIBUTION = "rcap-nuxeo-redis"
"""The name on the package index (``rcap`` is taken); the command is ``rcap``."""
