"""Audit trail helpers over django-simple-history.

Every domain model carries ``history = HistoricalRecords()``; a service that saves passes the
actor and the reason so the history row says who, when, before/after and why.  Bulk writes go
through :func:`bulk_create_audited` / :func:`bulk_update_audited` so they leave history too.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db.models import Model
from simple_history.utils import bulk_create_with_history, bulk_update_with_history


def audited_save(instance: Model, *, actor=None, reason: str = "", update_fields: Sequence[str] | None = None) -> Model:
    """Save ``instance`` recording ``actor`` and ``reason`` in its history row."""
    if actor is not None and getattr(actor, "is_authenticated", False):
        instance._history_user = actor
    if reason:
        instance._change_reason = reason[:100]
    instance.save(update_fields=update_fields)
    return instance


def bulk_create_audited(objs: Iterable[Model], model: type[Model], *, actor=None, reason: str = "",
                        batch_size: int = 1000, **kwargs) -> list[Model]:
    """``bulk_create`` that writes one history row per created object, in bulk."""
    objs = list(objs)
    if not objs:
        return objs
    return bulk_create_with_history(
        objs, model, batch_size=batch_size,
        default_user=actor if getattr(actor, "is_authenticated", False) else None,
        default_change_reason=reason[:100] or None, **kwargs,
    )


def bulk_update_audited(objs: Iterable[Model], model: type[Model], fields: Sequence[str], *, actor=None,
                        reason: str = "", batch_size: int = 1000) -> int:
    """``bulk_update`` that writes one history row per updated object, in bulk."""
    objs = list(objs)
    if not objs:
        return 0
    return bulk_update_with_history(
        objs, model, list(fields), batch_size=batch_size,
        default_user=actor if getattr(actor, "is_authenticated", False) else None,
        default_change_reason=reason[:100] or None,
    )
