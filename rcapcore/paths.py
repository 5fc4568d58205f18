"""Where rcap's files are: the one place that decides.

Two kinds of files, two rules:

* **Shipped data** (read-only, part of rcap): ``data/scenarios``, ``data/targets``, ``data/catalog``,
  ``data/reference`` and ``notebooks/``. Found relative to the package: in a checkout (or an editable
  install) the checkout's own folders; in an installed wheel the packaged copy under
  ``<site-packages>/rcapcore/shipped/<kind>`` (read with :mod:`importlib.resources`).
* **User data** (written by rcap): ``data/runs``, ``reports``, ``.rcap``. Always relative to the
  working directory, never to the package.

This module imports nothing from the rest of rcap (the wheel maps the data under ``rcapcore`` itself, so
finding it never imports ``loadgen``).
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

SHIPPED_KINDS = ("scenarios", "targets", "catalog", "reference", "notebooks")
"""The shipped folders; in a checkout ``notebooks`` is top-level and the others are under ``data/``."""

RUNS = Path("data/runs")
REPORTS = Path("reports")
STATE = Path(".rcap")
USER_DIRS = {"runs": RUNS, "reports": REPORTS, "state": STATE}
"""User data folders, relative to the working directory."""

_PACKAGE = "rcapcore"
_PACKAGED = "shipped"  # the wheel's folder under the package (pyproject's package-dir mapping)


def checkout_root() -> Path | None:
    """The rcap checkout this code runs from (it holds ``pyproject.toml`` and ``data/``), or None in a wheel."""
    root = Path(__file__).resolve().parent.parent
    if (root / "pyproject.toml").is_file() and (root / "data" / "scenarios").is_dir():
        return root
    return None


def _checkout_dir(root: Path, kind: str) -> Path:
    return root / "notebooks" if kind == "notebooks" else root / "data" / kind


def shipped(kind: str) -> Path:
    """The folder of shipped data ``kind`` (one of :data:`SHIPPED_KINDS`): the checkout's, else the packaged copy."""
    if kind not in SHIPPED_KINDS:
        raise ValueError(f"unknown shipped data kind {kind!r}; known: {', '.join(SHIPPED_KINDS)}")
    root = checkout_root()
    if root is not None:
        return _checkout_dir(root, kind)
    # a wheel is installed as plain files, so the Traversable is a real directory
    return Path(str(resources.files(_PACKAGE).joinpath(_PACKAGED, kind)))


def user_dir(kind: str, base: str | os.PathLike | None = None) -> Path:
    """A user data folder (``runs``, ``reports`` or ``state``) relative to ``base`` (default: the cwd).

    Relative on purpose: rcap records where it is run, and paths printed to users stay short.
    """
    if kind not in USER_DIRS:
        raise ValueError(f"unknown user data kind {kind!r}; known: {', '.join(USER_DIRS)}")
    return USER_DIRS[kind] if base is None else Path(base) / USER_DIRS[kind]


def shipped_equivalent(path: str | os.PathLike) -> Path | None:
    """The shipped file a checkout-relative path names (``data/targets/x.yaml``, ``notebooks/05-….ipynb``),
    or None when ``path`` is not under a shipped folder."""
    parts = Path(path).parts
    if len(parts) >= 2 and parts[0] == "data" and parts[1] in SHIPPED_KINDS and parts[1] != "notebooks":
        return shipped(parts[1]).joinpath(*parts[2:])
    if len(parts) >= 1 and parts[0] == "notebooks":
        return shipped("notebooks").joinpath(*parts[1:])
    return None


def resolve(path: str | os.PathLike) -> Path:
    """A user-given path: as given when absolute or present from the cwd; else the shipped file a
    checkout-relative path names (so ``data/targets/example.yaml`` works from any directory, and in a
    wheel); else the path under the checkout; else as given (so an error names what the user typed)."""
    p = Path(path).expanduser()
    if p.is_absolute() or p.exists():
        return p
    alt = shipped_equivalent(p)
    if alt is not None and alt.exists():
        return alt
    root = checkout_root()
    if root is not None and (root / p).exists():
        return root / p
    return p
