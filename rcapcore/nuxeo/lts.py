"""The Nuxeo LTS versions rcap models (``"10.10"``, ``"2021"``) and their one validator: the leaf both the
queue tables (``queues``) and the version profiles (``versions``) use, so neither imports the other back."""

from __future__ import annotations

from typing import Any

from rcapcore.errors import BadInput

VERSIONS = ("10.10", "2021")
DEFAULT_VERSION = "2021"

def check_version(value: Any) -> str:
    """``"10.10"`` or ``"2021"`` (YAML's integer 2021 is accepted); anything else is a BadInput."""
    if isinstance(value, int) and not isinstance(value, bool) and value == 2021:
        return "2021"
    if isinstance(value, str) and value.strip() in VERSIONS:
        return value.strip()
    hint = " (quote it in YAML: \"10.10\")" if isinstance(value, float) else ""
    raise BadInput(f"nuxeo_version must be \"10.10\" or \"2021\"{hint}, got {value!r}")
