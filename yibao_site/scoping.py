"""Township scoping in one place (DOMAIN.md §1): admin, API, pages, search and exports all
narrow their querysets through :func:`scope_queryset`.

A model says how it reaches a township with a class attribute ``SCOPE_TOWNSHIP`` — the path
of lookups to a township ``Region`` (``"township"``, ``"person__township"``…), or ``None``
when it belongs to no township (policy, suppliers…), in which case township agents see none
of it.  Staff of other roles bound to a county or city see that region and below; unbound
staff see the whole jurisdiction.
"""
from __future__ import annotations

import time

from django.db.models import Model, QuerySet
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .models import Region, RegionLevel, Role

_SENTINEL = object()

# Scope resolution cached per process: a request of a bound user needs its region's id, level
# and path, which otherwise cost one query per request.  Keyed by the user's ``region_id``
# (read from the user row each request), so re-binding a user takes effect at once; a region
# saved or deleted in this process clears the cache; elsewhere entries live ``_TTL`` seconds.
_REGIONS: dict[int, tuple[float, Region]] = {}
_TTL = 60.0


def _region(region_id: int) -> Region | None:
    now = time.monotonic()
    found = _REGIONS.get(region_id)
    if found is not None and found[0] > now:
        return found[1]
    region = Region.objects.filter(pk=region_id).only("id", "code", "level", "path", "parent_id", "name").first()
    if region is not None:
        if len(_REGIONS) > 10_000:
            _REGIONS.clear()
        _REGIONS[region_id] = (now + _TTL, region)
    return region


@receiver([post_save, post_delete], sender=Region, dispatch_uid="scoping-region-cache")
def _forget_regions(**kwargs) -> None:
    _REGIONS.clear()


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
    if user.region_id is None:
        return None
    cached = user._state.fields_cache.get("region")
    if cached is not None and cached.pk == user.region_id:
        return cached
    return _region(user.region_id)


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
