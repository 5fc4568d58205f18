"""The Sentinels' own account of a failover: their pub/sub events (+sdown, +odown, +switch-master…).

One thread per sentinel runs ``PSUBSCRIBE *`` and timestamps each event on arrival (epoch s). The
first +sdown / +odown on the master and the +switch-master give the detection and promotion times.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import redis

# Events worth a line in the timeline; hello messages and the like are noise.
TIMELINE_EVENTS = frozenset({
    "+sdown", "-sdown", "+odown", "-odown", "+new-epoch", "+try-failover", "+vote-for-leader",
    "+elected-leader", "+failover-state-select-slave", "+selected-slave", "-failover-abort-no-good-slave",
    "+failover-state-send-slaveof-noone", "+failover-state-wait-promotion", "+promoted-slave",
    "+failover-state-reconf-slaves", "+failover-end", "+failover-end-for-timeout", "+switch-master",
    "+convert-to-slave", "+reboot", "-tilt", "+tilt", "+role-change", "+slave-reconf-done",
})


@dataclass(frozen=True)
class SentinelEvent:
    """One event as published by one sentinel: ``t`` epoch s (arrival), ``sentinel`` "host:port",
    ``kind`` (the channel, e.g. ``+odown``), ``payload`` (the message text)."""

    t: float
    sentinel: str
    kind: str
    payload: str

    def about_master(self, service_name: str) -> bool:
        """True if the event concerns the master instance (not a replica or sentinel) of ``service_name``."""
        words = self.payload.split()
        if self.kind == "+switch-master":
            return bool(words) and words[0] == service_name
        return len(words) >= 2 and words[0] == "master" and words[1] == service_name

    def to_dict(self) -> dict:
        return {"t": round(self.t, 3), "sentinel": self.sentinel, "event": self.kind, "payload": self.payload}


class SentinelWatcher:
    """Subscribe to every sentinel in ``addresses`` [(host, port)] and collect their events.

    ``on_event(event)`` is called from the watcher threads (keep it quick). Use ``with`` or
    :meth:`start` / :meth:`stop`.
    """

    def __init__(self, addresses: list[tuple[str, int]], service_name: str = "mymaster", *,
                 on_event=None, **connection_kwargs) -> None:
        self.addresses = list(addresses)
        self.service_name = service_name
        self.on_event = on_event
        self.connection_kwargs = {"socket_connect_timeout": 1.0, "socket_timeout": 1.0, **connection_kwargs}
        self._events: list[SentinelEvent] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._subscribed = threading.Semaphore(0)

    def start(self, timeout_s: float = 5.0) -> None:
        """Start the threads and wait (up to ``timeout_s``) until each one is subscribed."""
        for host, port in self.addresses:
            thread = threading.Thread(target=self._watch, args=(host, port), daemon=True,
                                      name=f"sentinel-watch-{port}")
            thread.start()
            self._threads.append(thread)
        deadline = time.monotonic() + timeout_s
        for _ in self.addresses:
            self._subscribed.acquire(timeout=max(0.0, deadline - time.monotonic()))

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=3.0)

    def __enter__(self) -> SentinelWatcher:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _watch(self, host: str, port: int) -> None:
        name = f"{host}:{port}"
        announced = False
        while not self._stop.is_set():
            client = redis.Redis(host=host, port=port, **self.connection_kwargs)
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.psubscribe("*")
                if not announced:
                    self._subscribed.release()
                    announced = True
                while not self._stop.is_set():
                    msg = pubsub.get_message(timeout=0.2)
                    if msg and msg.get("type") == "pmessage":
                        self._add(SentinelEvent(time.time(), name, _text(msg["channel"]), _text(msg["data"])))
            except (redis.RedisError, OSError):
                self._stop.wait(0.2)  # a stopped or killed sentinel: retry until told to stop
            finally:
                try:
                    pubsub.close()
                    client.close()
                except (redis.RedisError, OSError):
                    pass

    def _add(self, event: SentinelEvent) -> None:
        with self._lock:
            self._events.append(event)
        if self.on_event is not None and event.kind in TIMELINE_EVENTS:
            self.on_event(event)

    def events(self) -> list[SentinelEvent]:
        with self._lock:
            return sorted(self._events, key=lambda e: e.t)

    def first(self, kind: str, after: float = 0.0, about_master: bool = True) -> SentinelEvent | None:
        """The earliest ``kind`` event at or after ``after`` (epoch s), about the master by default."""
        for event in self.events():
            if event.kind == kind and event.t >= after and \
                    (not about_master or event.about_master(self.service_name)):
                return event
        return None

    def wait_for(self, kind: str, after: float, timeout_s: float, about_master: bool = True) -> SentinelEvent | None:
        """Block until a ``kind`` event at or after ``after`` arrives, or ``timeout_s`` passes (None)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            event = self.first(kind, after, about_master)
            if event is not None:
                return event
            time.sleep(0.02)
        return None


def switch_target(event: SentinelEvent) -> tuple[str, int] | None:
    """The new master ``(host, port)`` named by a +switch-master event."""
    words = event.payload.split()
    if event.kind != "+switch-master" or len(words) < 5:
        return None
    return words[3], int(words[4])


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
