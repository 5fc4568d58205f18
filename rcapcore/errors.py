"""Errors that the `rcap` command turns into one line on stderr and exit status 2."""


class RcapError(Exception):
    """A known, user-facing failure. ``str(err)`` is the one line shown to the user."""

    exit_code = 2


class BadInput(RcapError):
    """The user's input is wrong: unknown name, malformed URL or YAML, nonsense value."""


class TargetError(RcapError):
    """The Redis target cannot be used: unreachable, wrong password, TLS mismatch, prefix in use."""


class TopologyError(RcapError):
    """A local topology could not be started or stopped: port in use, missing binary."""
