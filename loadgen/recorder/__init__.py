"""The run recorder: the only writer of ``data/runs``.

- :mod:`.rundir`: the run directory (ids, JSON/JSONL writes, events, secret scrub, sealing)
- :mod:`.sampler`: per-node server telemetry every second (INFO, commandstats deltas, MEMORY STATS)
- :mod:`.manifest`: host, software and server facts for ``manifest.json``
- :mod:`.summary`: ``summary.json`` from the per-second µs histograms
- :mod:`.progress`: the live progress line and the ``latency.jsonl`` follower
- :mod:`.loadgen_cpu`: the Locust processes' CPU (is the run load-generator bound?)

Submodules are imported where used, so ``analysis`` can read summaries without rich or psutil.
"""
