"""rcap's top layer: the ``rcap`` command (:mod:`rcap.cli`) and the orchestration of runs and experiments
(:mod:`rcap.bench`, :mod:`rcap.suite`, :mod:`rcap.failover`, :mod:`rcap.cleanup`).

It may import :mod:`loadgen` and :mod:`analysis`; nothing in them imports it (layers point down).
"""
