"""Prefix safety: SCAN-based counting, refusal and UNLINK cleanup touch only rcap's prefix."""

from __future__ import annotations

import pytest

from rcapcore.errors import BadInput, TargetError
from loadgen.topology.keyspace import cleanup_prefix, ensure_prefix_free, match_pattern, prefix_key_count


def test_count_refuse_and_cleanup_only_the_prefix(standalone_client):
    client = standalone_client
    client.mset({f"rcap:k{i}": i for i in range(2500)})
    client.mset({"nuxeo:keep": 1, "rcapx:keep": 1})
    assert prefix_key_count(client, "rcap:") == 2500
    with pytest.raises(TargetError, match="2500 keys already exist under the prefix 'rcap:'"):
        ensure_prefix_free(client, "rcap:")
    assert ensure_prefix_free(client, "rcap:", reuse=True) == 2500
    assert cleanup_prefix(client, "rcap:") == 2500
    assert prefix_key_count(client, "rcap:") == 0
    assert client.exists("nuxeo:keep", "rcapx:keep") == 2
    assert ensure_prefix_free(client, "rcap:") == 0


def test_glob_characters_in_the_prefix_are_literal(standalone_client):
    standalone_client.mset({"rc*p:a": 1, "rcXp:b": 1})
    assert match_pattern("rc*p:") == "rc\\*p:*"
    assert cleanup_prefix(standalone_client, "rc*p:") == 1
    assert standalone_client.exists("rcXp:b") == 1


def test_empty_prefix_is_refused(standalone_client):
    with pytest.raises(BadInput):
        cleanup_prefix(standalone_client, "")
