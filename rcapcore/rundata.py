"""The run-data contract: the files of a run, sweep or experiment directory, their typed JSON, the one
writer of JSON/JSONL run files, and :func:`open_runs`, the one way every command turns paths into runs.

Schema: ``data/README.md``. The load generator writes through :func:`write_json`/:func:`append_jsonl`
(``loadgen.recorder.rundir.RunDir`` is the run directory's owner); the analysis reads through
:func:`read_json`, :class:`Manifest`, :class:`Summary`, :class:`Result` and :func:`open_runs`
(``analysis.runs`` builds its DataFrames on them). No pandas here: a worker machine reads runs too.

The dataclasses round-trip today's JSON exactly (``Manifest.from_dict(d).to_dict() == d``, key order
included) and keep keys they do not know, so runs recorded by older or newer rcap still load.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, Iterable

from rcapcore.errors import BadInput
from rcapcore.redaction import redact_value

# ---- file names (one definition; data/README.md describes each) ----
MANIFEST = "manifest.json"
SUMMARY = "summary.json"
LATENCY = "latency.jsonl"
COUNTERS = "counters.json"
EVENTS = "events.jsonl"
WORKLOAD = "workload.jsonl"
DIAGNOSTICS = "diagnostics.json"
WORKERS = "workers.json"
SERVER_DIR = "server"
LOCUST_CSV_PREFIX = "locust"  # Locust's --csv writes locust_stats.csv, locust_stats_history.csv, ...
LOCUST_STATS = "locust_stats.csv"
SWEEP = "sweep.json"
RESULT = "result.json"
"""A fault experiment's outcome (``rcap failover …``)."""

UNUSABLE_STATUSES = ("degraded", "running")
"""Run statuses the models and the report leave out unless told to include them: ``degraded`` (more
than ``--max-error-ratio`` of the requests failed) and ``running`` (the run never finished)."""

MIN_SCANNED_SECRET_LEN = 8
"""Shortest secret the final check searches run files for (shorter ones match measurements by chance)."""


# ---- the one writer ----
def _json_default(obj: Any) -> Any:
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, bytes):
        return obj.decode("utf-8", "replace")
    return str(obj)


def _clean(obj: Any) -> Any:
    if isinstance(obj, str):
        return redact_value(obj)
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def dumps(obj: Any, indent: int | None = None) -> str:
    """JSON text of ``obj``, with any URL inside a string value redacted (no password reaches a file)
    and ``NaN``/``Infinity`` written as ``null`` (they are not JSON)."""
    return json.dumps(_clean(obj), default=_json_default, indent=indent, sort_keys=indent is not None,
                      allow_nan=False)


def write_json(path: Path, obj: Any) -> None:
    """Write JSON atomically (temporary file + rename), so a reader never sees half a file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(dumps(obj, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def append_jsonl(path: str | os.PathLike, records: Iterable[dict[str, Any]]) -> None:
    """Append records to a JSON-lines run file, one object per line, in one write (the caller serialises
    writers of the same file: ``RunDir`` holds a lock, ``latency.jsonl`` has one writer process)."""
    text = "".join(dumps(rec) + "\n" for rec in records)
    if not text:
        return
    os.makedirs(os.path.dirname(os.fspath(path)) or ".", exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text)


# ---- the one scrubber of run files and reports ----
def scrub_tree(directory: Path, secret_values: Iterable[str], skip_suffixes: tuple[str, ...] = ()) -> list[Path]:
    """Mask secrets found in the text files under ``directory``; return the files changed.

    JSON (``.json``, ``.ipynb``) and JSON-lines files are masked inside parsed string values only, so they
    stay valid; other text files line by line; files with ``skip_suffixes`` (a PDF's compressed bytes) and
    secrets shorter than :data:`MIN_SCANNED_SECRET_LEN` are left alone. The one scrubber of run
    directories (:meth:`RunDir.scrub_secrets`) and reports (``analysis.report.scrub_secrets``)."""
    needles = [s for s in secret_values if s and len(s) >= MIN_SCANNED_SECRET_LEN]
    fixed: list[Path] = []
    if not needles:
        return fixed
    for path in sorted(p for p in directory.rglob("*") if p.is_file() and p.suffix not in skip_suffixes):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if not any(n in text for n in needles):
            continue
        if path.suffix in (".json", ".jsonl", ".ipynb"):
            new = _mask_json_text(text, needles, lines=path.suffix == ".jsonl")
        else:
            new = text
            for n in needles:
                new = new.replace(n, "***")
        if new != text:
            path.write_text(new, encoding="utf-8")
            fixed.append(path)
    return fixed


def _mask_value(obj: Any, needles: list[str]) -> Any:
    if isinstance(obj, str):
        for n in needles:
            obj = obj.replace(n, "***")
        return obj
    if isinstance(obj, list):
        return [_mask_value(v, needles) for v in obj]
    if isinstance(obj, dict):
        return {_mask_value(k, needles): _mask_value(v, needles) for k, v in obj.items()}
    return obj


def _mask_json_text(text: str, needles: list[str], *, lines: bool) -> str:
    """``text`` (JSON, or JSON lines) with the needles masked inside string values only; a part that
    does not parse or holds no needle is kept byte for byte."""
    parts = text.splitlines(keepends=True) if lines else [text]
    out = []
    for part in parts:
        if any(n in part for n in needles):
            try:
                value = json.loads(part)
            except json.JSONDecodeError:
                out.append(part)
                continue
            masked = _mask_value(value, needles)
            if masked != value:
                end = "\n" if part.endswith("\n") else ""
                part = (dumps(masked) if lines else dumps(masked, indent=2)) + end
        out.append(part)
    return "".join(out)


# ---- the reader ----
def read_json(path: Path) -> dict:
    """A run file's JSON object ({} when absent); a corrupt or truncated file is one ``BadInput``
    line naming it."""
    path = Path(path)
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadInput(f"{path}: corrupt or truncated JSON ({getattr(exc, 'msg', None) or type(exc).__name__}"
                       f"{f', line {exc.lineno}' if hasattr(exc, 'lineno') else ''}); the run directory "
                       "cannot be read") from None
    except OSError as exc:
        raise BadInput(f"{path}: cannot read ({exc.strerror})") from None
    if not isinstance(data, dict):
        raise BadInput(f"{path}: expected a JSON object, found {type(data).__name__}")
    return data


# ---- typed JSON ----
@dataclass
class _Record:
    """Known keys as typed fields; unknown keys in ``extra``; ``to_dict`` gives back the same JSON (same key
    order; a known key absent from the file stays absent unless it was set)."""

    extra: dict[str, Any] = field(default_factory=dict, repr=False)
    _order: list[str] = field(default_factory=list, repr=False, compare=False)
    _KNOWN: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        known = {k: data[k] for k in cls._KNOWN if k in data}
        obj = cls(**known, extra={k: v for k, v in data.items() if k not in cls._KNOWN})
        obj._order = list(data)
        return obj

    def to_dict(self) -> dict[str, Any]:
        values = {f.name: getattr(self, f.name) for f in fields(self) if f.name in self._KNOWN}
        out: dict[str, Any] = {}
        for key in self._order:
            if key in self.extra:
                out[key] = self.extra[key]
            elif key in values:
                out[key] = values[key]
        defaults = {f.name: (f.default_factory() if f.default_factory is not MISSING else f.default)
                    for f in fields(self) if f.name in self._KNOWN}
        for key, value in values.items():  # set after loading (a field still at its default stays absent)
            if key not in out and value != defaults[key]:
                out[key] = value
        for key, value in self.extra.items():
            out.setdefault(key, value)
        return out


@dataclass
class Manifest(_Record):
    """``manifest.json`` of a run (``rcap bench``/``sweep``) or a fault experiment (``kind: experiment``)."""

    manifest_version: int | None = None
    run_id: str | None = None
    kind: str | None = None  # "experiment" for fault experiments; absent for bench runs
    experiment: str | None = None
    status: str | None = None
    error: str | None = None
    start_t: float | None = None
    start: str | None = None
    end_t: float | None = None
    end: str | None = None
    load_start_t: float | None = None
    elapsed_s: float | None = None
    scenario: dict[str, Any] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)
    target: dict[str, Any] | None = None
    topology: dict[str, Any] | None = None
    server: dict[str, Any] | None = None
    host: dict[str, Any] | None = None
    software: dict[str, Any] | None = None
    sweep: dict[str, Any] | None = None
    quality: dict[str, Any] | None = None
    loadgen_bound: bool | None = None
    warnings: list[str] = field(default_factory=list)
    _KNOWN: ClassVar[tuple[str, ...]] = (
        "manifest_version", "run_id", "kind", "experiment", "status", "error", "start_t", "start", "end_t", "end",
        "load_start_t", "elapsed_s", "scenario", "parameters", "target", "topology", "server", "host", "software",
        "sweep", "quality", "loadgen_bound", "warnings")

    @property
    def is_experiment(self) -> bool:
        return self.kind == "experiment"

    @property
    def scenario_name(self) -> str | None:
        return (self.scenario or {}).get("name")

    @property
    def workload(self) -> str | None:
        """The run's workload (``workmanager``, ``kv``, ``pubsub``, …), or the experiment's name."""
        if self.is_experiment:
            return self.experiment
        sc = self.scenario or {}
        return sc.get("workload") or sc.get("name")

    @property
    def topology_name(self) -> str | None:
        """``standalone``/``sentinel``/``enterprise``/``cluster``/``external`` (from ``target``)."""
        return (self.target or {}).get("topology")

    @property
    def load_origin_t(self) -> float | None:
        """Epoch seconds when the load started (the origin of ``elapsed_s``)."""
        return self.load_start_t or self.start_t

    def param(self, name: str, default: Any = None) -> Any:
        """One of ``parameters`` (``users``, ``rate``, ``duration_s``, ``processes``, …)."""
        return (self.parameters or {}).get(name, default)


@dataclass
class Summary(_Record):
    """``summary.json``: whole-run latency percentiles (µs) and throughput per operation."""

    ops: dict[str, dict[str, Any]] = field(default_factory=dict)
    total: dict[str, Any] = field(default_factory=dict)
    open_loop: bool | None = None
    first_t: float | None = None
    last_t: float | None = None
    steady_first_t: float | None = None
    steady_last_t: float | None = None
    counters: dict[str, Any] | None = None
    generator_lag: dict[str, Any] | None = None
    loadgen: dict[str, Any] | None = None
    _KNOWN: ClassVar[tuple[str, ...]] = ("ops", "total", "open_loop", "first_t", "last_t", "steady_first_t",
                                         "steady_last_t", "counters", "generator_lag", "loadgen")


@dataclass
class Result(_Record):
    """``result.json`` of a fault experiment: the experiment's own figures plus ``status`` and ``run_id``."""

    status: str | None = None
    run_id: str | None = None
    _KNOWN: ClassVar[tuple[str, ...]] = ("status", "run_id")


@dataclass
class SweepManifest(_Record):
    """``sweep.json``: ``{"sweep_id", "scenario", "param", "values", "status", "start", "end", "runs"}``."""

    sweep_id: str | None = None
    scenario: str | None = None
    param: str | None = None
    values: list = field(default_factory=list)
    status: str | None = None
    runs: list[dict[str, Any]] = field(default_factory=list)
    _KNOWN: ClassVar[tuple[str, ...]] = ("sweep_id", "scenario", "param", "values", "status", "runs")

    def step_dirs(self, sweep_dir: Path) -> list[Path]:
        """The steps' run directories that exist (steps that never started are skipped), in sweep order."""
        return [sweep_dir / e["run_id"] for e in self.runs
                if e.get("run_id") and (sweep_dir / e["run_id"] / MANIFEST).is_file()]


def read_manifest(run_dir: Path) -> Manifest:
    return Manifest.from_dict(read_json(Path(run_dir) / MANIFEST))


def read_summary(run_dir: Path) -> Summary:
    return Summary.from_dict(read_json(Path(run_dir) / SUMMARY))


# ---- paths → runs ----
def is_run_dir(path: Path) -> bool:
    return (Path(path) / MANIFEST).is_file()


def is_sweep_dir(path: Path) -> bool:
    return (Path(path) / SWEEP).is_file()


@dataclass
class OpenedRuns:
    """What :func:`open_runs` found: every run directory (sweep steps included, in order), the sweep
    directories, the runs to use (``usable``) and a one-line ``note`` on those left out (or None)."""

    all_runs: list[Path] = field(default_factory=list)
    sweeps: list[Path] = field(default_factory=list)
    usable: list[Path] = field(default_factory=list)
    status: dict[Path, str | None] = field(default_factory=dict, repr=False)
    note: str | None = None


def open_runs(paths: Iterable[str | os.PathLike], include_degraded: bool = False, *, depth: int = 2,
              missing_ok: bool = False) -> OpenedRuns:
    """Resolve run directories, sweep directories and folders holding them (``depth`` levels down: a suite
    folder holds sweeps and runs) into run directories: the same rule for every command.

    ``usable`` leaves out degraded and unfinished runs (``UNUSABLE_STATUSES``) unless ``include_degraded``,
    and sweep steps that neither completed nor ran to the end (interrupted, failed). A path that does not
    exist, or holds no run at all, is one ``BadInput`` (``missing_ok``: skipped, for the report's default
    reference folder, which may be empty).
    """
    from rcapcore.paths import resolve  # noqa: PLC0415  (checkout-relative names work from anywhere)

    found = OpenedRuns()
    seen: set[Path] = set()
    in_sweep: set[Path] = set()

    def visit(path: Path, level: int) -> None:
        path = path.resolve()
        if path in seen or not path.is_dir():
            return
        seen.add(path)
        if is_sweep_dir(path):
            found.sweeps.append(path)
            for step in SweepManifest.from_dict(read_json(path / SWEEP)).step_dirs(path):
                step = step.resolve()
                if step not in seen:
                    seen.add(step)
                    in_sweep.add(step)
                    found.all_runs.append(step)
        elif is_run_dir(path):
            found.all_runs.append(path)
        elif level < depth:
            for child in sorted(path.iterdir()):
                visit(child, level + 1)

    for p in paths:
        path = resolve(p)
        if not path.exists():
            if missing_ok:
                continue
            raise BadInput(f"{p}: no such run, sweep or folder")
        known = path.resolve() in seen
        before = len(found.all_runs) + len(found.sweeps)
        visit(path, 0)
        if not known and not missing_ok and len(found.all_runs) + len(found.sweeps) == before:
            raise BadInput(f"{p} is neither a run nor a sweep directory, nor a folder holding them "
                           f"(no {MANIFEST} or {SWEEP} within {depth} levels)")
    odd = []
    for run in found.all_runs:
        status = read_manifest(run).status
        found.status[run] = status
        if run in in_sweep and status != "complete" and status not in UNUSABLE_STATUSES:
            continue  # an interrupted or failed sweep step
        if status in UNUSABLE_STATUSES:
            odd.append((run, status))
            if not include_degraded:
                continue
        found.usable.append(run)
    if odd:
        names = ", ".join(f"{r.name} ({s})" for r, s in odd[:5]) + (" …" if len(odd) > 5 else "")
        found.note = (f"including {len(odd)} degraded or unfinished run(s) as asked: {names}" if include_degraded else
                      f"left out {len(odd)} degraded or unfinished run(s): {names}; --include-degraded uses them")
    return found
