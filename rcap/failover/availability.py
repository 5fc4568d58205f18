"""What the client saw during a fault: every operation's outcome, unavailability windows, error classes.

An unavailability window opens at the start of the first failed operation (of any client thread) and
closes at the end of the first successful operation that finished after that failure was reported.
Times are epoch seconds; durations in the results are milliseconds.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass

import redis

from analysis.ha import nuxeo_outage_s


@dataclass(frozen=True)
class Outcome:
    """One operation: ``op`` name, ``start``/``end`` epoch s, ``error`` class name or None if it succeeded."""

    op: str
    start: float
    end: float
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class Window:
    """An unavailability window: from ``start`` (first failure's start) to ``end`` (first success after
    it), epoch s; ``failures`` failed operations inside it."""

    start: float
    end: float
    failures: int
    closed: bool = True

    @property
    def ms(self) -> float:
        return (self.end - self.start) * 1000.0

    def to_dict(self, t0: float = 0.0) -> dict:
        return {"start_s": round(self.start - t0, 3), "end_s": round(self.end - t0, 3),
                "ms": round(self.ms, 1), "failures": self.failures, "closed": self.closed}


def error_class(exc: BaseException) -> str:
    """A short, stable class for an error: the Redis error prefix when the server sent one
    (``OOM``, ``READONLY``, ``NOREPLICAS``, ``LOADING``, ``MASTERDOWN``…), else the exception class."""
    if isinstance(exc, redis.ResponseError) and not isinstance(exc, (redis.ConnectionError, redis.TimeoutError)):
        text = str(exc).strip()
        word = text.split(" ", 1)[0] if text else ""
        if word.isupper() and word.isalpha():
            return word
    if isinstance(exc, redis.ConnectionError) and "now a slave" in str(exc):
        return "READONLY"  # redis-py's sentinel connection turns READONLY into this ConnectionError
    return type(exc).__name__


class OpLog:
    """Thread-safe record of operation outcomes (kept in memory: a fault experiment lasts seconds)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._outcomes: list[Outcome] = []

    def record(self, op: str, start: float, end: float, exc: BaseException | None = None) -> None:
        outcome = Outcome(op, start, end, None if exc is None else error_class(exc))
        with self._lock:
            self._outcomes.append(outcome)

    def outcomes(self) -> list[Outcome]:
        with self._lock:
            return list(self._outcomes)

    def errors_by_class(self) -> dict[str, int]:
        return dict(Counter(o.error for o in self.outcomes() if o.error))

    def errors_by_op(self) -> dict[str, dict[str, int]]:
        out: dict[str, Counter] = {}
        for o in self.outcomes():
            if o.error:
                out.setdefault(o.op, Counter())[o.error] += 1
        return {op: dict(c) for op, c in out.items()}

    def windows(self, ops: set[str] | None = None) -> list[Window]:
        """Unavailability windows over the operations named in ``ops`` (all if None)."""
        return unavailability_windows([o for o in self.outcomes() if ops is None or o.op in ops])


def unavailability_windows(outcomes: list[Outcome]) -> list[Window]:
    """Windows from the first failure to the first success that ended after that failure was seen.

    A window still open at the end of the log ends at the last outcome's end with ``closed=False``.
    """
    events = sorted(outcomes, key=lambda o: o.end)
    windows: list[Window] = []
    open_start: float | None = None
    first_fail_end = 0.0
    failures = 0
    for o in events:
        if not o.ok:
            if open_start is None:
                open_start, first_fail_end, failures = o.start, o.end, 0
            open_start = min(open_start, o.start)
            failures += 1
        elif open_start is not None and o.end > first_fail_end:
            windows.append(Window(open_start, o.end, failures))
            open_start = None
    if open_start is not None and events:
        windows.append(Window(open_start, events[-1].end, failures, closed=False))
    return windows


def nuxeo_retry_delay_ms(unavailable_ms: float) -> float | None:
    """When Nuxeo's client would see Redis again after an outage of ``unavailable_ms`` (ms; None if its
    retry budget runs out first): :func:`analysis.ha.nuxeo_outage_s`, the one back-off computation."""
    outage_s = nuxeo_outage_s(unavailable_ms / 1000.0)
    return None if outage_s is None else outage_s * 1000.0
