"""Redis key and channel names of the Nuxeo model, derived from a configurable prefix.

Nuxeo builds every name as ``prefix + namespace + ":" + …`` with the prefix ``nuxeo:``; rcap's default
prefix is ``rcap:`` and ``nuxeo:`` reproduces Nuxeo's names (and key lengths) exactly. With
``hashtag=True`` the WorkManager namespace becomes ``<prefix>{work}:`` so that the eight keys of a
script share one cluster hash slot: a what-if that differs from Nuxeo, which has no hash tags.
"""

from __future__ import annotations

from dataclasses import dataclass

from rcapcore.errors import BadInput

DEFAULT_PREFIX = "rcap:"
NUXEO_PREFIX = "nuxeo:"


def check_prefix(prefix: str) -> str:
    """Return ``prefix`` if it can namespace rcap's keys, else raise :class:`BadInput`."""
    if not isinstance(prefix, str) or not prefix:
        raise BadInput("the key prefix must be a non-empty string such as 'rcap:'")
    if any(c in prefix for c in "*?[]{} \r\n\t"):
        raise BadInput(f"key prefix {prefix!r} must not contain glob characters, braces or whitespace")
    return prefix


def work_namespace(prefix: str = DEFAULT_PREFIX, hashtag: bool = False) -> str:
    """``<prefix>work:``, or ``<prefix>{work}:`` for single-slot cluster what-if runs."""
    return f"{check_prefix(prefix)}{{work}}:" if hashtag else f"{check_prefix(prefix)}work:"


@dataclass(frozen=True)
class WorkQueueKeys:
    """The eight keys every WorkManager script receives, in the order of the scripts' KEYS.

    ``done`` and ``cancel`` are never created as keys: they are field names of the ``count`` hash,
    like ``sched`` and ``run``.
    """

    queue_id: str
    data: str
    state: str
    count: str
    sched: str
    queue: str
    run: str
    done: str
    cancel: str

    @classmethod
    def build(cls, queue_id: str, prefix: str = DEFAULT_PREFIX, hashtag: bool = False) -> "WorkQueueKeys":
        if not queue_id or any(c in queue_id for c in " \r\n\t"):
            raise BadInput(f"invalid work queue id {queue_id!r}")
        ns = work_namespace(prefix, hashtag)
        return cls(
            queue_id=queue_id,
            data=f"{ns}data",
            state=f"{ns}state",
            count=f"{ns}count:{queue_id}",
            sched=f"{ns}sched:{queue_id}",
            queue=f"{ns}queue:{queue_id}",
            run=f"{ns}run:{queue_id}",
            done=f"{ns}done:{queue_id}",
            cancel=f"{ns}cancel:{queue_id}",
        )

    def script_keys(self) -> tuple[str, str, str, str, str, str, str, str]:
        """KEYS[1..8]: data, state, count, sched, queue, run, done, cancel."""
        return (self.data, self.state, self.count, self.sched, self.queue, self.run, self.done, self.cancel)

    def counter_fields(self) -> tuple[str, str, str, str]:
        """Field names of the count hash: scheduled, running, completed, canceled."""
        return (self.sched, self.run, self.done, self.cancel)


def kv_namespace(store: str = "default", prefix: str = DEFAULT_PREFIX) -> str:
    """Key prefix of a KeyValue store: store ``default`` → ``<prefix>kv:``, store ``X`` → ``<prefix>X:``."""
    if not store or any(c in store for c in " \r\n\t"):
        raise BadInput(f"invalid key-value store name {store!r}")
    return f"{check_prefix(prefix)}{'kv' if store == 'default' else store}:"


def transient_store_namespace(store: str = "BatchManagerCache", prefix: str = DEFAULT_PREFIX) -> str:
    """Key prefix of a KV-based transient store: ``<prefix>transient_<store>:``."""
    return kv_namespace(f"transient_{store}", prefix)


def lock_key(doc_id: str, repository: str = "default", prefix: str = DEFAULT_PREFIX) -> str:
    """Document lock of the Redis lock manager: ``<prefix>lock:<repo>:<docId>`` (a plain string, no TTL)."""
    return f"{check_prefix(prefix)}lock:{repository}:{doc_id}"


def vcs_channel(repository: str = "default", prefix: str = DEFAULT_PREFIX) -> str:
    """VCS invalidations channel ``<prefix>vcs:<repo>``."""
    return f"{check_prefix(prefix)}vcs:{repository}"


def dbs_channel(repository: str = "default", prefix: str = DEFAULT_PREFIX) -> str:
    """DBS (MongoDB cache) invalidations channel ``<prefix>dbs:<repo>``."""
    return f"{check_prefix(prefix)}dbs:{repository}"


def cacheinval_channel(prefix: str = DEFAULT_PREFIX) -> str:
    """Cache invalidations channel ``<prefix>cacheinval``."""
    return f"{check_prefix(prefix)}cacheinval"


def subscription_pattern(prefix: str = DEFAULT_PREFIX) -> str:
    """The one pattern every node subscribes to: ``<prefix>*``."""
    return f"{check_prefix(prefix)}*"
