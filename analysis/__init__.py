"""rcap analysis: run loading, memory/backlog/throughput models, sizing and report export.

Everything here reads files only (run directories, catalog, target specs), never Redis.
"""
