"""Shared core below ``loadgen`` and ``analysis``: imports neither of them."""
