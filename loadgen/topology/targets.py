"""Targets named by URL, and the one place that turns them into redis-py clients.

Accepted URLs (a password is never part of a URL we print or store; it comes from ``--password-file``
or ``RCAP_PASSWORD``):

- ``redis://[user@]host:port[/db]`` and ``rediss://…`` (TLS; ``tls_ca``, ``tls_cert``/``tls_key`` for mTLS)
- ``redis+sentinel://h1:p1,h2:p2,h3:p3/mymaster[/db]`` (``rediss+sentinel://`` when the nodes and the
  sentinels speak TLS), which follows failovers
- ``redis+cluster://host:port`` (``rediss+cluster://`` with TLS)
"""

from __future__ import annotations

import os
import re
import shutil
import ssl
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.cluster import RedisCluster
from redis.exceptions import RedisClusterException
from redis.sentinel import MasterNotFoundError, Sentinel

from rcapcore.errors import BadInput, TargetError
from rcapcore.redaction import _userinfo, redact, redact_text  # noqa: F401  (re-exported)
from rcapcore.topologies import EXTERNAL, NAMES, SHARDED_KINDS, URL_SCHEMES

TOPOLOGIES = (*NAMES, EXTERNAL)  # what Target.topology may say
# Lab-friendly client timeouts (s): a dead node is reported in seconds, not minutes.
CONNECT_TIMEOUT_S = 2.0
SOCKET_TIMEOUT_S = 5.0


def _split_netloc(netloc: str) -> tuple[str | None, str | None, str]:
    """``user:pass@hosts`` → (user, password, hosts)."""
    if "@" not in netloc:
        return None, None, netloc
    userinfo, hosts = netloc.rsplit("@", 1)
    user, _, password = userinfo.partition(":")
    return unquote(user) or None, (unquote(password) if password else None), hosts


def _parse_hosts(hosts: str, url: str) -> tuple[tuple[str, int], ...]:
    out = []
    for item in hosts.split(","):
        host, sep, port = item.rpartition(":")
        if not sep:
            host, port = item, "6379"
        if host.startswith("["):
            if not host.endswith("]") or host.count("[") != 1 or host.count("]") != 1:
                raise BadInput(f"malformed target URL {redact(url)!r}: unbalanced brackets in host {host!r}")
            host = host[1:-1]
        elif "[" in host or "]" in host:
            raise BadInput(f"malformed target URL {redact(url)!r}: unbalanced brackets in host {host!r}")
        if not host:
            raise BadInput(f"malformed target URL {redact(url)!r}: missing host")
        try:
            number = int(port)
        except ValueError:
            raise BadInput(f"malformed target URL {redact(url)!r}: port {port!r} is not a number") from None
        if not 0 < number < 65536:
            raise BadInput(f"malformed target URL {redact(url)!r}: port {number} out of range")
        out.append((host, number))
    return tuple(out)


def read_password(password_file: str | None = None) -> str | None:
    """The password from ``password_file`` (its first line), else ``RCAP_PASSWORD``, else None."""
    if password_file:
        try:
            with open(password_file, "rb") as fh:
                raw = fh.readline(4097)
        except OSError as exc:
            raise BadInput(f"cannot read --password-file {password_file}: {exc.strerror}") from None
        try:
            password = raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            raise BadInput(f"--password-file {password_file} is not UTF-8 text; is it the right file?") from None
        if len(password) > 4096:
            raise BadInput(f"--password-file {password_file}: the first line is longer than 4096 characters")
        if not password:
            raise BadInput(f"--password-file {password_file} is empty")
        return password
    return os.environ.get("RCAP_PASSWORD") or None


@dataclass(frozen=True)
class Target:
    """A Redis deployment to talk to. ``url`` never holds a password (see :func:`redact`).

    ``kind`` is how to connect (``standalone`` | ``sentinel`` | ``cluster``); ``topology`` says where it
    comes from (``standalone``/``sentinel``/``enterprise``/``cluster`` started by rcap, or ``external``).
    """

    url: str
    password: str | None = field(default=None, repr=False)
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    kind: str = "standalone"
    topology: str = EXTERNAL

    @classmethod
    def parse(cls, url: str, password: str | None = None, tls_ca: str | None = None,
              tls_cert: str | None = None, tls_key: str | None = None, topology: str = EXTERNAL) -> Target:
        """Validate ``url``; ``BadInput`` with one line if it is malformed. A password inside the URL
        is accepted (when ``password`` is not given) and removed from ``url``."""
        if not isinstance(url, str) or "://" not in url:
            raise BadInput(f"malformed target URL {redact(str(url))!r}: expected redis://host:port, "
                           "rediss://…, redis+sentinel://h:p,…/name or redis+cluster://host:port")
        scheme = url.split("://", 1)[0].lower()
        if scheme not in URL_SCHEMES:
            raise BadInput(f"malformed target URL {redact(url)!r}: unknown scheme {scheme!r} "
                           f"(use one of {', '.join(URL_SCHEMES)})")
        if topology not in TOPOLOGIES:
            raise BadInput(f"unknown topology {topology!r}")
        if (tls_cert is None) != (tls_key is None):
            raise BadInput("--tls-cert and --tls-key go together (mTLS client certificate and its key)")
        kind, tls = URL_SCHEMES[scheme]
        if not tls and (tls_ca or tls_cert):
            raise BadInput(f"TLS options given for a plain-text URL {redact(url)!r}: use {scheme.replace('redis', 'rediss', 1)}://")
        if password is None:
            password = _userinfo(url)[2]
        target = cls(url=redact(url), password=password, tls_ca=tls_ca, tls_cert=tls_cert, tls_key=tls_key,
                     kind=kind, topology=topology)
        target._parts()  # validates hosts, db, service name
        return target

    def _parts(self) -> dict:
        try:
            split = urlsplit(self.url.split("://", 1)[0].lower() + "://" + self.url.split("://", 1)[1])
        except ValueError as exc:
            raise BadInput(f"malformed target URL {self.url!r}: {exc}") from None
        if split.query or split.fragment:
            raise BadInput(f"malformed target URL {self.url!r}: query strings and fragments are not supported")
        user, _, hosts = _split_netloc(split.netloc)
        if not hosts:
            raise BadInput(f"malformed target URL {self.url!r}: missing host")
        addresses = _parse_hosts(hosts, self.url)
        segments = [s for s in split.path.split("/") if s]
        service = None
        if self.kind == "sentinel":
            if not segments:
                raise BadInput(f"malformed target URL {self.url!r}: a sentinel URL ends with /<master name>")
            service, segments = segments[0], segments[1:]
        elif len(addresses) > 1 and self.kind == "standalone":
            raise BadInput(f"malformed target URL {self.url!r}: several hosts need redis+sentinel:// "
                           "or redis+cluster://")
        db = 0
        if segments:
            if len(segments) > 1 or not segments[0].isdigit():
                raise BadInput(f"malformed target URL {self.url!r}: the path must be a database number")
            db = int(segments[0])
            if self.sharded and db:
                raise BadInput(f"malformed target URL {self.url!r}: Redis Cluster has only database 0")
        return {"user": user, "hosts": addresses, "db": db, "service": service}

    @property
    def hosts(self) -> tuple[tuple[str, int], ...]:
        """``(host, port)`` pairs: the endpoint, the sentinels, or the cluster seed."""
        return self._parts()["hosts"]

    @property
    def username(self) -> str | None:
        return self._parts()["user"]

    @property
    def db(self) -> int:
        return self._parts()["db"]

    @property
    def service_name(self) -> str | None:
        """The sentinel master name (``mymaster``), or None."""
        return self._parts()["service"]

    @property
    def sharded(self) -> bool:
        """Keys spread over hash slots (a cluster): multi-key commands need a hash tag."""
        return self.kind in SHARDED_KINDS

    @property
    def tls(self) -> bool:
        return URL_SCHEMES[self.url.split("://", 1)[0].lower()][1]

    def connection_kwargs(self) -> dict:
        """redis-py keyword arguments for one node (auth, TLS, lab timeouts)."""
        kwargs: dict = {"username": self.username, "password": self.password,
                        "socket_connect_timeout": CONNECT_TIMEOUT_S, "socket_timeout": SOCKET_TIMEOUT_S}
        if self.tls:
            kwargs.update(ssl=True, ssl_ca_certs=self.tls_ca, ssl_certfile=self.tls_cert,
                          ssl_keyfile=self.tls_key)
        return kwargs

    def to_dict(self, *, with_password: bool = False) -> dict:
        """JSON-friendly form; the password only when asked (e.g. for a child's environment)."""
        out = {"url": self.url, "tls_ca": self.tls_ca, "tls_cert": self.tls_cert, "tls_key": self.tls_key,
               "kind": self.kind, "topology": self.topology}
        if with_password:
            out["password"] = self.password
        return out

    @classmethod
    def from_dict(cls, data: dict) -> Target:
        return cls.parse(data["url"], password=data.get("password"), tls_ca=data.get("tls_ca"),
                         tls_cert=data.get("tls_cert"), tls_key=data.get("tls_key"),
                         topology=data.get("topology", "external"))


PASSWORD_FILE_ENV = "RCAP_PASSWORD_FILE"


def password_handoff(password: str | None) -> tuple[dict[str, str], Callable[[], None]]:
    """Hand ``password`` to a child process the narrowest way: a 0600 file in a private 0700 folder,
    named by ``RCAP_PASSWORD_FILE``, which the child reads once and unlinks (:func:`target_from_env`).
    Returns ``(environment entries, cleanup)``; call ``cleanup`` when the child has exited."""
    if not password:
        return {}, lambda: None
    folder = tempfile.mkdtemp(prefix="rcap-")  # 0700
    path = os.path.join(folder, "password")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(password)

    def cleanup() -> None:
        shutil.rmtree(folder, ignore_errors=True)

    return {PASSWORD_FILE_ENV: path}, cleanup


def target_from_env(environ=None) -> Target:
    """The target a parent handed over: ``RCAP_TARGET`` (JSON of :meth:`Target.to_dict`) plus the
    password from ``RCAP_PASSWORD_FILE``, which is read once, unlinked and dropped from the environment."""
    import json  # noqa: PLC0415

    environ = os.environ if environ is None else environ
    data = json.loads(environ["RCAP_TARGET"])
    path = environ.pop(PASSWORD_FILE_ENV, None)
    if path:
        try:
            with open(path, encoding="utf-8") as fh:
                data["password"] = fh.read()
        finally:
            try:
                os.unlink(path)
            except OSError:
                pass
    return Target.from_dict(data)


def connect(target: Target, **redis_kwargs):
    """A redis-py client for ``target``: ``Redis``, a Sentinel ``master_for`` client (follows failovers;
    its ``Sentinel`` is on ``client.sentinel``) or ``RedisCluster``. ``redis_kwargs`` override defaults.
    Only ``RedisCluster`` connects here (``TargetError`` if it cannot); the others on first use."""
    return _CLIENTS[target.kind](target, {**target.connection_kwargs(), **redis_kwargs})


def _fixed_client(target: Target, kwargs: dict):
    host, port = target.hosts[0]
    return redis.Redis(host=host, port=port, db=target.db, **kwargs)


def _sentinel_client(target: Target, kwargs: dict):
    sentinel_kwargs = {k: v for k, v in kwargs.items()
                       if k.startswith("ssl") or k.startswith("socket_") or k == "retry"}
    sentinel = Sentinel(list(target.hosts), sentinel_kwargs=sentinel_kwargs, **kwargs)
    client = sentinel.master_for(target.service_name, db=target.db)
    client.sentinel = sentinel
    return client


def _cluster_client(target: Target, kwargs: dict):
    host, port = target.hosts[0]
    kwargs.pop("db", None)
    try:  # RedisCluster connects at once, and its errors are not RedisErrors
        return RedisCluster(host=host, port=port, **kwargs)
    except RedisClusterException as exc:
        raise TargetError(describe_error(target, exc)) from None


_CLIENTS: dict[str, Callable] = {"standalone": _fixed_client, "sentinel": _sentinel_client, "cluster": _cluster_client}
"""``Target.kind`` → its redis-py client (``Redis``, ``Sentinel.master_for``, ``RedisCluster``), the
admin-side twin of ``loadgen.clients.ROUTERS``."""


def describe_error(target: Target, exc: BaseException) -> str:
    """One line that says why ``target`` could not be used."""
    text = str(exc) or type(exc).__name__
    low = text.lower()
    where = target.url
    text = redact_text(text)
    if target.username and target.password is None and ("wrongpass" in low or "invalid username" in low):
        return (f"{where}: user {target.username!r} given without a password was refused (no such user, "
                "or it needs a password: use --password-file or RCAP_PASSWORD, or drop 'user@' from the URL)")
    if "unauthenticated" in low or (target.password is not None and len(target.password) > 16_000):
        return (f"{where}: the password is {len(target.password or ''):,} characters long, more than Redis "
                "accepts before authentication (about 16 KB); is the password file the right one?")
    if "cluster mode is not enabled" in low:
        return f"{where}: not a Redis Cluster node (use redis:// or rediss://)"
    if "unknown command 'sentinel'" in low:
        return f"{where}: {target.hosts[0][0]}:{target.hosts[0][1]} is not a sentinel (use redis:// for a server)"
    if isinstance(exc, MasterNotFoundError):
        return f"{where}: no sentinel answered with a master named {target.service_name!r} " \
               "(sentinels unreachable, or wrong master name)"
    if isinstance(exc, (redis.exceptions.AuthenticationError, redis.exceptions.AuthorizationError)) or \
            "wrongpass" in low or "invalid username-password" in low or "invalid password" in low:
        if target.password is None:
            return f"{where}: the server requires a password (use --password-file or RCAP_PASSWORD)"
        return f"{where}: authentication failed (wrong password or user)"
    if "noauth" in low or "authentication required" in low:
        return f"{where}: the server requires a password (use --password-file or RCAP_PASSWORD)"
    if "certificate verify failed" in low or "certificate_verify_failed" in low:
        detail = re.search(r"certificate verify failed: ([^(]*)", text)
        return f"{where}: TLS certificate not trusted (check --tls-ca)" + \
            (f": {detail.group(1).strip()}" if detail else "")
    if "wrong version number" in low or "wrong_version_number" in low or "record layer failure" in low \
            or "unexpected eof" in low or isinstance(exc, ssl.SSLError) or "ssl" in low:
        return f"{where}: TLS handshake failed (is the server plain text? use redis://): {text}"
    if "connection closed by server" in low or "connection reset" in low:
        hint = "" if target.tls else " (a TLS-only port? use rediss://)"
        return f"{where}: the server closed the connection{hint}"
    if isinstance(exc, redis.TimeoutError) or "timeout" in low or "timed out" in low:
        hint = " (a plain-text port? use redis://)" if target.tls else " (a TLS-only port? use rediss://)"
        return f"{where}: no answer in time{hint}"
    if "refused" in low:
        return f"{where}: connection refused (nothing listens there)"
    if "name or service not known" in low or "nodename nor servname" in low or "temporary failure in name" in low:
        return f"{where}: host name does not resolve"
    return f"{where}: cannot connect: {text}"


def check_tls_files(target: Target) -> None:
    """Load the TLS files the way the client will: a missing or unreadable file, a CA file without a
    certificate, or a client certificate/key that does not load is one ``BadInput`` line naming it."""
    if not target.tls:
        return
    for label, path in (("--tls-ca", target.tls_ca), ("--tls-cert", target.tls_cert), ("--tls-key", target.tls_key)):
        if path is not None and not os.access(path, os.R_OK):
            raise BadInput(f"{label} {path}: no such readable file")
    ctx = ssl.create_default_context()
    if target.tls_ca:
        try:
            ctx.load_verify_locations(cafile=target.tls_ca)
        except (ssl.SSLError, ValueError, OSError) as exc:
            raise BadInput(f"--tls-ca {target.tls_ca}: not a PEM CA certificate, so TLS cannot verify the server ({_ssl_reason(exc)})") from None
    if target.tls_cert:
        try:
            ctx.load_cert_chain(certfile=target.tls_cert, keyfile=target.tls_key, password=lambda: b"")
        except (ssl.SSLError, ValueError, OSError) as exc:
            raise BadInput(f"--tls-cert {target.tls_cert} / --tls-key {target.tls_key}: not a PEM TLS client "
                           f"certificate and its unencrypted key ({_ssl_reason(exc)})") from None


def _ssl_reason(exc: BaseException) -> str:
    return getattr(exc, "reason", None) or type(exc).__name__


def check(target: Target) -> dict:
    """Ping ``target``; return its INFO ``server`` section. Any failure → one-line ``TargetError``
    (``BadInput`` for unusable TLS files)."""
    check_tls_files(target)
    client = None
    try:
        client = connect(target, retry=Retry(NoBackoff(), 0), socket_timeout=CONNECT_TIMEOUT_S)  # fail fast
        client.ping()
        if isinstance(client, RedisCluster):
            return client.info("server", target_nodes=RedisCluster.RANDOM)
        return client.info("server")
    except (redis.RedisError, OSError, ssl.SSLError) as exc:
        raise TargetError(describe_error(target, exc)) from None
    finally:
        if client is not None:
            try:
                client.close()
            except Exception:  # noqa: BLE001  (closing a broken client must not hide the real error)
                pass


def _host_port(addr: str) -> tuple[str, int]:
    host, _, port = addr.rpartition(":")
    return host, int(port.split("@")[0])


def server_nodes(target: Target) -> list[tuple[str, str, int]]:
    """``(role, host, port)`` of every data node to sample: ``master``/``replica`` for a standalone
    endpoint or a Sentinel group, ``master``/``replica`` per cluster node."""
    try:
        if target.kind == "sentinel":
            kw = target.connection_kwargs()
            sentinel = Sentinel(list(target.hosts), sentinel_kwargs={
                k: v for k, v in kw.items() if k.startswith("ssl") or k.startswith("socket_")})
            host, port = sentinel.discover_master(target.service_name)
            nodes = [("master", host, port)]
            nodes += [("replica", h, p) for h, p in sentinel.discover_slaves(target.service_name)]
            for s in sentinel.sentinels:
                s.close()
            return nodes
        client = connect(target)
        try:
            if target.sharded:  # CLUSTER NODES lists replicas that CLUSTER SLOTS may still omit
                nodes = client.cluster_nodes()
                return sorted(("master" if "master" in info["flags"] else "replica", *_host_port(addr))
                              for addr, info in nodes.items() if "noaddr" not in info["flags"])
            host, port = target.hosts[0]
            role = client.info("replication").get("role", "master")
            return [("master" if role == "master" else "replica", host, port)]
        finally:
            client.close()
    except (redis.RedisError, OSError) as exc:
        raise TargetError(describe_error(target, exc)) from None
