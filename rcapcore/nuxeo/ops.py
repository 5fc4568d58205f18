"""The unit every command builder returns: an operation name, the exact arguments, a reply parser."""

from __future__ import annotations

from typing import Any, Callable, NamedTuple


class Op(NamedTuple):
    """One Redis round trip.

    ``name`` is the request name to report (one per command or script, e.g. ``"EVALSHA pop-work"``);
    ``args`` is the full command (``args[0]`` is the command name as ``str``, the rest are ``bytes``
    or ``int``); ``parse(reply)`` turns the raw RESP reply (bytes, ints, lists, ``None``) into a value.
    """

    name: str
    args: tuple
    parse: Callable[[Any], Any]


def raw(reply: Any) -> Any:
    """The reply unchanged."""
    return reply


def to_bytes(value: Any) -> bytes:
    """Encode a key part or value as Redis sees it: bytes as is, str as UTF-8, int as decimal."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, int):
        return str(value).encode()
    raise TypeError(f"cannot send {type(value).__name__} to Redis")


def parse_int_reply(reply: Any) -> int:
    """An integer reply (e.g. PUBLISH's receiver count)."""
    return int(reply)
