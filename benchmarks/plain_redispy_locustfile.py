"""Reference for the loadgen benchmark: the textbook Locust pattern for Redis — a User around a
redis-py client, firing one ``request`` event per call (what rcap's client replaces).

Reads ``RCAP_BENCH_HOST``/``RCAP_BENCH_PORT``; SETs 1 KB values under ``rcap:kv:``.
"""

from __future__ import annotations

import itertools
import os
import time

import redis
from locust import User, constant, task


class PlainRedisPyUser(User):
    wait_time = constant(0)

    def on_start(self) -> None:
        self.client = redis.Redis(host=os.environ["RCAP_BENCH_HOST"], port=int(os.environ["RCAP_BENCH_PORT"]))
        self.value = os.urandom(1024)
        self.keys = itertools.count()

    @task
    def set_1k(self) -> None:
        key = f"rcap:kv:{next(self.keys) % 100_000}"
        start = time.perf_counter()
        exc = None
        try:
            self.client.set(key, self.value)
        except redis.RedisError as e:
            exc = e
        self.environment.events.request.fire(request_type="redis", name="SET",
                                             response_time=(time.perf_counter() - start) * 1000.0,
                                             response_length=0, exception=exc, context={})
