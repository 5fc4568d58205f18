"""rcap load generation: local Redis topologies, Nuxeo traffic model, Locust workloads, run recorder."""

__version__ = "0.1.0"
