"""rcapcore: the shared bottom layer of rcap (errors, paths, validation, redaction, the run-data contract,
latency data and the pure Nuxeo facts). It imports nothing from ``loadgen``, ``analysis`` or ``rcap``."""
