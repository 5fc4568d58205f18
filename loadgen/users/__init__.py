"""Locust users of rcap's workloads. Users describe behaviour; :mod:`loadgen.clients` owns the I/O.

``user_classes(scenario)`` turns the scenario's :func:`loadgen.users.plan.plan` into concrete
``User`` subclasses with ``fixed_count`` and open-loop rate set. Importing this package does not
import Locust (the role modules do, lazily).
"""

from __future__ import annotations

from typing import Any


def user_classes(scenario: Any) -> list[type]:
    """Concrete Locust ``User`` classes for ``scenario`` (their ``fixed_count`` sums to ``scenario.users``)."""
    from loadgen.users.kv import KvSetUser, KvUser  # noqa: PLC0415
    from loadgen.users.plan import plan  # noqa: PLC0415
    from loadgen.users.pubsub import PubSubPublisher, PubSubSubscriber  # noqa: PLC0415
    from loadgen.users.scanner import KeyspaceScanner  # noqa: PLC0415
    from loadgen.users.workmanager import WorkConsumer, WorkLifecycleUser, WorkProducer  # noqa: PLC0415

    bases = {"producer": WorkProducer, "consumer": WorkConsumer, "kv": KvUser, "kv-set": KvSetUser,
             "lifecycle": WorkLifecycleUser, "subscriber": PubSubSubscriber, "publisher": PubSubPublisher,
             "scanner": KeyspaceScanner}
    classes = []
    for item in plan(scenario):
        if item.count <= 0:
            continue
        attrs = dict(item.attrs, fixed_count=item.count, rate_per_user=item.rate_per_user, abstract=False,
                     __module__=__name__)
        classes.append(type(item.name, (bases[item.role],), attrs))
    return classes
