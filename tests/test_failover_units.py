"""Failover building blocks that need no Redis: windows, error classes, spreads, specs, event parsing."""

from __future__ import annotations

import pytest
import redis

from rcapcore.errors import BadInput
from rcap.failover.availability import Outcome, error_class, nuxeo_retry_delay_ms, unavailability_windows
from rcap.failover.master_loss import FailoverSpec
from rcap.failover.partition import Partition
from rcap.failover.repeat import spread
from rcap.failover.sentinel_events import SentinelEvent, switch_target
from rcap.failover.workload import LoadSpec


def test_window_runs_from_first_failure_to_first_success_after_it():
    outcomes = [
        Outcome("schedule", 0.0, 0.1),
        Outcome("schedule", 1.0, 1.2, "ConnectionError"),
        Outcome("pop", 1.1, 1.15, "ConnectionError"),   # the first failure to be reported
        Outcome("pop", 1.05, 1.14),                     # a success before any failure was seen: no window
        Outcome("schedule", 1.3, 3.5, "TimeoutError"),
        Outcome("schedule", 3.6, 3.7),
        Outcome("schedule", 5.0, 5.1, "READONLY"),
    ]
    windows = unavailability_windows(outcomes)
    assert len(windows) == 2
    first, last = windows
    assert (first.start, first.end, first.failures) == (1.0, 3.7, 3)
    assert first.closed and first.ms == pytest.approx(2700.0)
    assert not last.closed  # the log ends inside it


def test_no_failure_no_window():
    assert unavailability_windows([Outcome("pop", 0, 1), Outcome("pop", 1, 2)]) == []


def test_nuxeo_backoff_rounds_an_outage_up_to_its_retry_schedule():
    # RedisFailoverExecutor retries after 2 s, then 4 s, 8 s…: cumulative 2, 6, 14 s
    assert nuxeo_retry_delay_ms(1500) == 2000
    assert nuxeo_retry_delay_ms(2218) == 6000
    assert nuxeo_retry_delay_ms(7000) == 14000
    assert nuxeo_retry_delay_ms(400_000) is None  # beyond the 300 s budget


def test_error_classes_keep_the_redis_error_code():
    assert error_class(redis.ResponseError("NOREPLICAS Not enough good replicas to write.")) == "NOREPLICAS"
    assert error_class(redis.ConnectionError("Connection refused")) == "ConnectionError"
    assert error_class(redis.ConnectionError("The previous master is now a slave")) == "READONLY"
    assert error_class(redis.exceptions.OutOfMemoryError("command not allowed")) == "OutOfMemoryError"


def test_spread_reports_median_min_max_of_numbers_only():
    runs = [{"unavailability_ms": 2000.0, "acked_lost": 3, "status": "complete", "failover_happened": True,
             "model": {"predicted_backlog": 10}},
            {"unavailability_ms": 2600.0, "acked_lost": 0, "status": "complete", "failover_happened": True,
             "model": {"predicted_backlog": 12}},
            {"unavailability_ms": 2100.0, "acked_lost": 7, "status": "complete", "failover_happened": True,
             "model": {"predicted_backlog": 11}}]
    s = spread(runs)
    assert s["unavailability_ms"] == {"median": 2100.0, "min": 2000.0, "max": 2600.0, "n": 3}
    assert s["acked_lost"]["median"] == 3 and s["model.predicted_backlog"]["max"] == 12
    assert "status" not in s and "failover_happened" not in s


def test_sentinel_event_parsing():
    switch = SentinelEvent(1.0, "127.0.0.13:1", "+switch-master", "mymaster 127.0.0.10 100 127.0.0.11 200")
    assert switch.about_master("mymaster") and not switch.about_master("other")
    assert switch_target(switch) == ("127.0.0.11", 200)
    sdown_replica = SentinelEvent(1.0, "s", "+sdown", "slave 127.0.0.11:200 127.0.0.11 200 @ mymaster 127.0.0.10 100")
    assert not sdown_replica.about_master("mymaster")
    assert SentinelEvent(1.0, "s", "+odown", "master mymaster 127.0.0.10 100 #quorum 2/2").about_master("mymaster")


@pytest.mark.parametrize("kwargs, needle", [
    ({"fault": "reboot"}, "--fault"),
    ({"topology": "cluster"}, "--topology"),
    ({"at_s": 30, "fault_s": 15, "duration_s": 40}, "must end before --duration"),
    ({"at_s": 0.2}, "--at"),
    ({"min_replicas_to_write": -1}, "--min-replicas-to-write"),
])
def test_failover_spec_rejects_nonsense(kwargs, needle):
    with pytest.raises(BadInput, match=needle):
        FailoverSpec(**kwargs)


def test_failover_spec_propagates_the_seed_and_enterprise_follows_errors():
    spec = FailoverSpec(topology="enterprise", seed=42, load=LoadSpec())
    assert spec.load.seed == 42 and spec.load.follow == "errors"


@pytest.mark.parametrize("isolated, peers", [("10.0.0.1", ["127.0.0.11"]), ("127.0.0.10", ["127.0.0.1"]),
                                             ("127.0.0.10", ["127.0.0.10"]), ("nonsense", ["127.0.0.11"])])
def test_partition_only_cuts_lab_loopback_addresses(isolated, peers):
    with pytest.raises(BadInput):
        Partition(isolated=isolated, peers=peers)
