"""Township scoping in one place (DOMAIN.md §1): admin, API, pages, search and exports all
narrow their querysets through :func:`scope_queryset`.

A model says how it reaches a township with a class attribute ``SCOPE_TOWNSHIP`` — the path
of lookups to a township ``Region`` (``"township"``, ``"person__township"``…), or ``None``
when it belongs to no township (policy, suppliers…), in which case township agents see none
of it.  Staff of other roles bound to a county or city see that region and below; unbound
staff see the whole jurisdiction.
"""
from __future__ import annotations

from django.db.models import Model, QuerySet

from .models import Region, RegionLevel, Role

_SENTINEL = object()


def scope_field(model: type[Model]) -> str | None:
    value = getattr(model, "SCOPE_TOWNSHIP", _SENTINEL)
    if value is _SENTINEL:
        raise AttributeError(f"{model.__name__} declares no SCOPE_TOWNSHIP")
    return value


def user_scope_region(user) -> Region | None:
    """Return the region a user is confined to, or ``None`` for the whole jurisdiction."""
    if not getattr(user, "is_authenticated", False):
        return None
    if user.is_superuser and user.role != Role.TOWNSHIP_AGENT:
        return None
    return user.region


def is_unscoped(user) -> bool:
    return user.is_authenticated and user_scope_region(user) is None and user.role != Role.TOWNSHIP_AGENT


def scope_queryset(qs: QuerySet, user) -> QuerySet:
    """Narrow ``qs`` to what ``user`` may see."""
    if not getattr(user, "is_authenticated", False):
        return qs.none()
    if user.role == Role.TOWNSHIP_AGENT and user.region_id is None:
        return qs.none()
    region = user_scope_region(user)
    if region is None:
        return qs
    model = qs.model
    if model is Region:
        return qs.filter(path__startswith=region.path)
    field = scope_field(model)
    if field is None:
        return qs.none() if user.role == Role.TOWNSHIP_AGENT else qs
    if region.level == RegionLevel.TOWNSHIP:
        return qs.filter(**{f"{field}_id" if "__" not in field else f"{field}__id": region.id})
    return qs.filter(**{f"{field}__path__startswith": region.path})


def can_see_township(user, township: Region | None) -> bool:
    """Return whether ``user`` may see things of ``township``."""
    if not getattr(user, "is_authenticated", False):
        return False
    region = user_scope_region(user)
    if region is None:
        return user.role != Role.TOWNSHIP_AGENT
    return township is not None and township.path.startswith(region.path)
