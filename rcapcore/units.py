"""How the project spells a quantity in text: one spelling per unit, so a figure reads the same in the
report, the go-live checklist, the HA advice and ``rcap size``."""

from __future__ import annotations


def human_bytes(n: float) -> str:
    """``1536`` → ``'1.5 KiB'``; binary units, as Redis's ``used_memory_human``."""
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")
