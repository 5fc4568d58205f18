"""Secrets out of every text rcap prints or records: URLs lose their password at the source.

Kept free of third-party imports: the recorder (the one writer of run files) and the CLI's error
line both use it.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote


def _userinfo(url: str) -> tuple[str, str | None, str | None, str]:
    """``scheme://user:pass@rest`` → (scheme, user, password, rest), splitting at the LAST ``@``, so a
    password may hold ``/``, ``@``, ``:``, ``#``, ``?`` or brackets unencoded. ``scheme`` is ``""``
    when the text has no ``://``."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    if "@" not in rest:
        return scheme, None, None, rest
    userinfo, rest = rest.rsplit("@", 1)
    user, colon, password = userinfo.partition(":")
    return scheme, unquote(user) or None, (unquote(password) if colon and password else None), rest


def redact(url: str) -> str:
    """The URL without any password (``redis://user:secret@h:1`` → ``redis://user@h:1``), whatever
    the password holds (``/``, ``@``, ``:``, ``#``, ``?``, brackets); text without ``@`` is unchanged."""
    url = str(url)
    scheme, user, _password, rest = _userinfo(url)
    if rest == url or (scheme and rest == url.partition("://")[2]):
        return url  # no userinfo at all
    head = f"{scheme}://" if scheme else ""
    return f"{head}{user + '@' if user else ''}{rest}"


_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")


def redact_text(text: str) -> str:
    """``text`` (an error message, a log line) with every URL in it redacted (:func:`redact`)."""
    return _URL_IN_TEXT.sub(lambda m: redact(m.group(0)), str(text))


def redact_value(obj: Any) -> Any:
    """``obj`` (parsed JSON: dicts, lists, strings …) with every URL inside a string redacted."""
    if isinstance(obj, str):
        return redact_text(obj) if "@" in obj and "://" in obj else obj
    if isinstance(obj, dict):
        return {k: redact_value(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [redact_value(v) for v in obj]
    return obj
