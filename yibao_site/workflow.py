"""The generic parts of a case workflow (办件流程), shared by every app that reviews cases.

Assistance applications (DOMAIN.md §6) and chronic-disease certifications (§11) move through
the same shape: filed → accepted (受理, the deadline in working days starts, 限时办结) → returned
for supplement with every missing item listed at once (一次性告知) → resubmitted → decided by
someone other than the filer (maker-checker).  The domain rules stay in each app; this module
holds only what does not depend on the domain:

* the working-day calendar and :func:`deadline_from` (the calendar rows are provided by the
  app that keeps them through :func:`register_calendar`, so the kernel imports no app);
* :func:`has_role`, :func:`require_not_own` (maker-checker) and :func:`require_status`;
* :func:`clean_missing` (the one-time notice's list of missing items);
* :func:`move` — a state change saved through the audit with a transition event (who, when,
  from, to, why) in the same transaction.
"""
from __future__ import annotations

from datetime import date, timedelta
from typing import Callable, Iterable

from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext as _

from .audit import audited_save

Calendar = Callable[[date, date], tuple[frozenset[date], frozenset[date]]]
_calendar: list[Calendar] = []


# ── working days ─────────────────────────────────────────────────────────────────────────

def register_calendar(provider: Calendar) -> None:
    """Install the provider of (holidays, make-up working days) between two dates."""
    _calendar[:] = [provider]


def working_calendar(start: date, end: date) -> tuple[frozenset[date], frozenset[date]]:
    if not _calendar:
        return frozenset(), frozenset()
    return _calendar[0](start, end)


def is_working_day(day: date, holidays: frozenset[date] = frozenset(), workdays: frozenset[date] = frozenset()) -> bool:
    """Weekdays work unless a holiday; weekend days rest unless a make-up working day (调休)."""
    if day in workdays:
        return True
    if day in holidays:
        return False
    return day.weekday() < 5


def add_working_days(start: date, days: int, holidays: frozenset[date] = frozenset(),
                     workdays: frozenset[date] = frozenset()) -> date:
    """Return the date ``days`` working days after ``start`` (start itself not counted).

    A case received on Friday 2024-03-01 with 15 working days is due Friday 2024-03-22.
    """
    if days < 0:
        raise ValueError("days must not be negative")
    current, left = start, days
    while left:
        current += timedelta(days=1)
        if is_working_day(current, holidays, workdays):
            left -= 1
    return current


def deadline_from(start: date, working_days: int) -> date:
    """Return the deadline ``working_days`` working days after ``start`` on the calendar."""
    # Allow for the longest Chinese holiday runs with a generous margin.
    holidays, workdays = working_calendar(start, start + timedelta(days=working_days * 3 + 40))
    return add_working_days(start, working_days, holidays, workdays)


# ── guards ───────────────────────────────────────────────────────────────────────────────

def has_role(actor, *roles: str) -> bool:
    """An active signed-in account with one of ``roles`` (a superuser has every role)."""
    return bool(actor and actor.is_authenticated and actor.is_active
                and (actor.is_superuser or getattr(actor, "role", None) in roles))


def require_not_own(actor, filed_by_id, what: str) -> None:
    """Maker-checker: nobody decides their own filing — superusers included."""
    if filed_by_id is not None and filed_by_id == getattr(actor, "pk", None):
        raise PermissionDenied(_("不能%(what)s自己填报的申请。") % {"what": what})


def require_status(case, allowed: Iterable[str], doing: str) -> None:
    if case.status not in tuple(allowed):
        raise ValidationError({"detail": [
            _("申请当前状态为“%(status)s”,不能%(doing)s。") % {"status": case.get_status_display(), "doing": doing}]})


# ── 一次性告知 ────────────────────────────────────────────────────────────────────────────

def clean_missing(missing, *, types: Iterable[str], other: str = "other") -> list[dict]:
    """Return the notice's items ``[{"type", "note"}]``: at least one, each of a known type,
    "other" with a description, duplicates dropped; raise a ``missing`` field error."""
    types = set(types)
    if not isinstance(missing, (list, tuple)) or not missing:
        raise ValidationError({"missing": [_("退回补正必须一次性列明全部需补正的材料。")]})
    items, seen, errors = [], set(), []
    for i, raw in enumerate(missing, 1):
        if isinstance(raw, str):
            raw = {"type": raw}
        if not isinstance(raw, dict):
            errors.append(_("第%(n)s项格式不正确。") % {"n": i})
            continue
        kind = raw.get("type")
        note = str(raw.get("note") or "").strip()[:200]
        if kind not in types:
            errors.append(_("第%(n)s项材料类型无效:%(t)s。") % {"n": i, "t": kind})
            continue
        if kind == other and not note:
            errors.append(_("第%(n)s项“其他材料”须说明具体是什么材料。") % {"n": i})
            continue
        if (kind, note) in seen:
            continue
        seen.add((kind, note))
        items.append({"type": kind, "note": note})
    if errors:
        raise ValidationError({"missing": errors})
    return items


def unresolved_items(items: list[dict], uploaded_since: set[str]) -> list[dict]:
    """The notice's items whose material type has not been uploaded since the notice."""
    return [item for item in items if item["type"] not in uploaded_since]


# ── transitions ──────────────────────────────────────────────────────────────────────────

def move(case, *, to: str, action: str, actor, event_model, case_field: str, reason: str = "",
         fields: Iterable[str] = (), data: dict | None = None, label: str = ""):
    """Set ``case.status`` to ``to``, save it audited (``update_fields``) and write one
    transition event (``event_model`` with ``case_field`` → the case)."""
    before = case.status
    case.status = to
    audited_save(case, actor=actor, reason=reason or label or action, update_fields=["status", *fields])
    event_model.objects.create(**{case_field: case}, action=action, from_status=before, to_status=to,
                               actor=actor if getattr(actor, "is_authenticated", False) else None,
                               reason=reason or "", data=data or {})
    return case
