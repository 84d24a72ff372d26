"""Reports read from a read replica when one is configured (README, 超出一台机器).

``DATABASE_REPLICA_URL`` adds a database alias ``replica`` (a streaming-replication standby of
the primary).  Code that publishes a report wraps its reads in :func:`reporting` (or decorates
the function with it); inside, :class:`ReplicaRouter` sends every read to ``replica``.  Nothing
else is routed: settlement, imports, workflow and the pages a request has just written to keep
reading the primary, so nobody reads their own write from a lagging standby.

Two guards keep a report on the primary even inside :func:`reporting`:

* an open transaction on the primary (``atomic`` — a service that writes and then reports
  must see its own rows, and locks taken there mean nothing on the standby);
* no ``replica`` alias configured (the default: one database, nothing changes).

In tests the alias mirrors ``default`` (``TEST: {"MIRROR": "default"}``), so the same rows
are seen through both names.
"""
from __future__ import annotations

import contextvars
import functools
from contextlib import contextmanager

from django.db import connections

REPLICA = "replica"
_reporting: contextvars.ContextVar[bool] = contextvars.ContextVar("yibao_reporting", default=False)


def replica_configured() -> bool:
    return REPLICA in connections.settings


def report_alias() -> str:
    """The alias a report read goes to now: ``replica`` inside :func:`reporting` when the alias
    exists and the primary has no transaction open, else ``default``."""
    if _reporting.get() and replica_configured() and not connections["default"].in_atomic_block:
        return REPLICA
    return "default"


@contextmanager
def reporting():
    """Route the reads inside the block to the replica (see the module's text)."""
    token = _reporting.set(True)
    try:
        yield
    finally:
        _reporting.reset(token)


def report_reads(func):
    """Decorator: the function's reads go to the replica (:func:`reporting`)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with reporting():
            return func(*args, **kwargs)

    return wrapper


class ReplicaRouter:
    """``DATABASE_ROUTERS`` entry: reads inside :func:`reporting` go to the replica; writes,
    relations and migrations are the primary's (the standby replays the primary's WAL)."""

    def db_for_read(self, model, **hints):
        alias = report_alias()
        return alias if alias == REPLICA else None

    def db_for_write(self, model, **hints):
        return "default"

    def allow_relation(self, obj1, obj2, **hints):
        return True  # the same rows under two names

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db != REPLICA
