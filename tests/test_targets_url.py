"""Target URLs: parsing, redaction, and one-line errors against real servers."""

from __future__ import annotations

import dataclasses

import pytest

from rcapcore.errors import BadInput, TargetError
from loadgen.topology import Target, check, connect, redact


@pytest.mark.parametrize("url, kind, hosts, db, tls", [
    ("redis://127.0.0.1:6390", "standalone", ((("127.0.0.1", 6390),)), 0, False),
    ("rediss://app@127.0.0.1:6390/3", "standalone", ((("127.0.0.1", 6390),)), 3, True),
    ("redis+sentinel://127.0.0.1:1,127.0.0.2:2,127.0.0.3:3/mymaster", "sentinel",
     (("127.0.0.1", 1), ("127.0.0.2", 2), ("127.0.0.3", 3)), 0, False),
    ("redis+cluster://127.0.0.1:7000", "cluster", ((("127.0.0.1", 7000),)), 0, False),
])
def test_parse(url, kind, hosts, db, tls):
    target = Target.parse(url)
    assert (target.kind, target.hosts, target.db, target.tls, target.url) == (kind, hosts, db, tls, url)


def test_sentinel_service_name_and_db():
    target = Target.parse("redis+sentinel://127.0.0.1:1,127.0.0.1:2/nuxeo/2")
    assert (target.service_name, target.db) == ("nuxeo", 2)


def test_password_in_url_is_kept_out_of_url_and_repr():
    target = Target.parse("redis://app:s3cret@127.0.0.1:6390/0")
    assert target.password == "s3cret"
    assert target.username == "app"
    assert "s3cret" not in target.url and "s3cret" not in repr(target)
    assert "s3cret" not in str(target.to_dict())
    assert redact("rediss://:pw@h:1") == "rediss://h:1"
    assert redact("redis://u:pw@h1:1,h2:2/m") == "redis://u@h1:1,h2:2/m"


@pytest.mark.parametrize("url, message", [
    ("localhost:6379", "malformed target URL"),
    ("http://127.0.0.1:80", "unknown scheme 'http'"),
    ("redis://127.0.0.1:notaport", "is not a number"),
    ("redis://127.0.0.1:70000", "out of range"),
    ("redis+sentinel://127.0.0.1:1", "ends with /<master name>"),
    ("redis://127.0.0.1:1/abc", "database number"),
    ("redis+cluster://127.0.0.1:1/2", "only database 0"),
    ("redis://:pw@127.0.0.1:1,127.0.0.1:2", "several hosts"),
])
def test_malformed_urls(url, message):
    with pytest.raises(BadInput, match=message) as err:
        Target.parse(url)
    assert "pw" not in str(err.value)


def test_tls_options_need_rediss():
    with pytest.raises(BadInput, match="rediss://"):
        Target.parse("redis://127.0.0.1:1", tls_ca="/tmp/ca.crt")


def test_check_errors_are_one_line(topology_factory):
    topo = topology_factory("standalone", tls=True, password="right")
    good = topo.target
    assert check(good)["redis_version"]
    cases = [
        (dataclasses.replace(good, password="wrong"), "authentication failed"),
        (dataclasses.replace(good, password=None), "requires a password"),
        (Target.parse(good.url.replace("rediss", "redis"), password="right"), "use rediss://"),
        (Target.parse(good.url, password="right", tls_ca=__file__), "TLS|certificate"),
        (Target.parse("redis://127.0.0.1:1"), "connection refused"),
    ]
    for target, message in cases:
        with pytest.raises((TargetError, BadInput), match=message) as err:  # a bad CA file: BadInput
            check(target)
        assert "\n" not in str(err.value) and "right" not in str(err.value)


def test_connect_builds_a_client_that_works(standalone_target):
    client = connect(standalone_target)
    assert client.ping()
    client.close()


def test_unreachable_sentinels_are_one_line():
    with pytest.raises(TargetError, match="no sentinel answered"):
        check(Target.parse("redis+sentinel://127.0.0.1:1,127.0.0.1:2/mymaster"))


def test_wrong_kind_of_server_is_one_line(standalone_target):
    host, port = standalone_target.hosts[0]
    for url, message in [(f"redis+cluster://{host}:{port}", "not a Redis Cluster node"),
                         ("redis+cluster://127.0.0.1:1", "connection refused"),
                         (f"redis+sentinel://{host}:{port}/mymaster", "is not a sentinel")]:
        with pytest.raises(TargetError, match=message):
            check(Target.parse(url))
