"""Reads of the eligibility review: categories, queues, out-of-pocket windows, dynamics.

Every list is narrowed to the caller with ``scoping.scope_queryset``; every number comes from
the policy snapshot of the person's region.
"""
from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from decimal import Decimal

from django.db.models import (
    Case, Count, DecimalField, IntegerField, Min, OuterRef, Q, QuerySet, Subquery, Sum, Value, When,
)
from django.db.models.functions import Coalesce, Least

from claims.public import claims_in_force
from members.models import AssistanceEntitlement, EntitlementKind, Identity, IdentityKind, Person
from yibao_site.dates import add_months
from yibao_site.models import Region, RegionLevel, Role
from yibao_site.money import ZERO
from yibao_site.policy import PolicyCache, PolicySnapshot, policy_snapshot
from yibao_site.scoping import scope_queryset
from yibao_site.workflow import deadline_from as kernel_deadline

from . import rules
from .models import (
    AWAITING_VERIFICATION, OPEN_STATUSES, Application, ApplicationKind, ApplicationStatus, Holiday,
)

NO_CATEGORY = 9  # sorts after every real category (1–4) in LEAST(); never shown


# ── calendar ─────────────────────────────────────────────────────────────────────────────

def working_calendar(start: date, end: date) -> tuple[frozenset[date], frozenset[date]]:
    """Return (holidays, make-up working days) between ``start`` and ``end`` inclusive."""
    rows = Holiday.objects.filter(date__range=(start, end)).values_list("date", "is_workday")
    return (frozenset(d for d, work in rows if not work), frozenset(d for d, work in rows if work))


def deadline_from(start: date, working_days: int) -> date:
    """Return the deadline ``working_days`` working days after ``start`` (限时办结)."""
    return kernel_deadline(start, working_days)


# ── categories and objects ───────────────────────────────────────────────────────────────

def category_map(snapshot: PolicySnapshot) -> dict[str, int]:
    """Return identity kind → assistance category, as the pack defines it."""
    found = {}
    for kind in IdentityKind.values:
        value = snapshot.value(f"assistance.category.{kind}", None)
        if value:
            found[kind] = int(value)
    return found


def identity_category(person: Person, on: date, snapshot: PolicySnapshot,
                      exclude_kinds: tuple[str, ...] = ()) -> int | None:
    """Return the highest category the person's identities valid on ``on`` give."""
    mapping = category_map(snapshot)
    kinds = (Identity.objects.filter(person=person, valid_from__lte=on)
             .filter(Q(valid_to__isnull=True) | Q(valid_to__gte=on))
             .exclude(kind__in=exclude_kinds).values_list("kind", flat=True))
    return rules.highest_category(mapping.get(k) for k in kinds)


def determination_category(person: Person, on: date) -> int | None:
    """Return the highest category of the person's determinations in force on ``on``."""
    return (_entitlements_on(on).filter(person=person, kind=EntitlementKind.DETERMINATION)
            .aggregate(c=Min("category"))["c"])


def person_category(person: Person, on: date, snapshot: PolicySnapshot | None = None) -> int | None:
    """Return the person's assistance category on ``on``: identities and determinations, highest wins."""
    snapshot = snapshot or policy_snapshot(person.village, on)
    return rules.highest_category([identity_category(person, on, snapshot), determination_category(person, on)])


def has_valid_identity(person: Person, kind: str, on: date) -> bool:
    return (Identity.objects.filter(person=person, kind=kind, valid_from__lte=on)
            .filter(Q(valid_to__isnull=True) | Q(valid_to__gte=on)).exists())


def _entitlements_on(on: date) -> QuerySet:
    return (AssistanceEntitlement.objects.filter(valid_from__lte=on, valid_to__gte=on)
            .filter(Q(revoked_on__isnull=True) | Q(revoked_on__gt=on)))


def _category_expression(on: date, mapping: dict[str, int]):
    """A per-person SQL expression: the highest category on ``on`` (NO_CATEGORY when none)."""
    kind_case = Case(*[When(kind=k, then=Value(c)) for k, c in mapping.items()],
                     default=Value(NO_CATEGORY), output_field=IntegerField())
    identities = (Identity.objects.filter(person=OuterRef("pk"), valid_from__lte=on)
                  .filter(Q(valid_to__isnull=True) | Q(valid_to__gte=on))
                  .values("person").annotate(c=Min(kind_case)).values("c")[:1])
    determinations = (_entitlements_on(on).filter(person=OuterRef("pk"), kind=EntitlementKind.DETERMINATION)
                      .values("person").annotate(c=Min("category")).values("c")[:1])
    return Least(
        Coalesce(Subquery(identities, output_field=IntegerField()), Value(NO_CATEGORY)),
        Coalesce(Subquery(determinations, output_field=IntegerField()), Value(NO_CATEGORY)),
        output_field=IntegerField(),
    )


def jurisdiction_snapshot(user, on: date) -> PolicySnapshot:
    """The snapshot of the caller's own region (or the city) — for a single figure; lists use
    :func:`township_mappings`, which honours a county's override for its own persons."""
    region = user.region if getattr(user, "region_id", None) else Region.objects.filter(
        level=RegionLevel.CITY).order_by("code").first()
    if region is None:
        return PolicySnapshot("", on, {})
    return policy_snapshot(region, on)


def township_mappings(user, on: date) -> list[tuple[dict[str, int], list[int]]]:
    """The identity → category mapping in force on ``on`` for each group of townships the
    caller sees that share it (DOMAIN.md §2: a county may override the city's parameters, so a
    bureau-wide list resolves each person's own).  One snapshot per township, cached per
    policy region chain."""
    townships = scope_queryset(Region.objects.filter(level=RegionLevel.TOWNSHIP), user) \
        if getattr(user, "role", None) == Role.TOWNSHIP_AGENT else Region.objects.filter(level=RegionLevel.TOWNSHIP)
    if getattr(user, "region_id", None) and user.role != Role.TOWNSHIP_AGENT:
        townships = townships.filter(path__startswith=user.region.path)
    cache = PolicyCache()
    groups: dict[tuple, tuple[dict[str, int], list[int]]] = {}
    for township in townships.only("id", "code", "path"):
        mapping = category_map(cache.get(township, on))
        key = tuple(sorted(mapping.items()))
        groups.setdefault(key, (mapping, []))[1].append(township.pk)
    return list(groups.values())


def _objects_condition(user, on: date) -> tuple[Q, Any]:
    """(filter, category expression) of the assistance objects on ``on``, each person under
    their own township's parameters."""
    groups = township_mappings(user, on)
    if not groups:
        return Q(pk__in=[]), Value(NO_CATEGORY, output_field=IntegerField())
    if len(groups) == 1:
        mapping = groups[0][0]
        return _object_on(on, list(mapping)), _category_expression(on, mapping)
    condition = Q(pk__in=[])
    whens = []
    for mapping, township_ids in groups:
        condition |= Q(township_id__in=township_ids) & _object_on(on, list(mapping))
        whens.append(When(township_id__in=township_ids, then=_category_expression(on, mapping)))
    return condition, Case(*whens, default=Value(NO_CATEGORY), output_field=IntegerField())


def assistance_objects(user, on: date, *, township: Region | None = None, category: int | None = None) -> QuerySet:
    """Persons who are assistance objects on ``on``, annotated with ``category``."""
    condition, expression = _objects_condition(user, on)
    qs = scope_queryset(Person.objects.all(), user)
    if township is not None:
        qs = qs.filter(township=township)
    qs = qs.filter(condition).annotate(category=expression)
    if category:
        qs = qs.filter(category=category)
    return qs.select_related("township", "village").order_by("township__code", "category", "id")


def _object_on(on: date, kinds: list[str]) -> Q:
    """A per-person condition: an assistance object on ``on``.

    Written as ``id IN (…) OR id IN (…)`` so the database hashes each (small) set of object ids
    once instead of probing identities per person.
    """
    identity = (Identity.objects.filter(kind__in=kinds, valid_from__lte=on)
                .filter(Q(valid_to__isnull=True) | Q(valid_to__gte=on)).values("person_id"))
    determination = _entitlements_on(on).filter(kind=EntitlementKind.DETERMINATION).values("person_id")
    return Q(pk__in=identity) | Q(pk__in=determination)


def _month_bounds(year: int, month: int) -> tuple[date, date]:
    first = date(year, month, 1)
    return first - timedelta(days=1), add_months(first, 1) - timedelta(days=1)


def _month_sets(user, year: int, month: int) -> tuple[QuerySet, QuerySet, QuerySet]:
    before, last = _month_bounds(year, month)
    people = scope_queryset(Person.objects.all(), user)
    now, then = _objects_condition(user, last)[0], _objects_condition(user, before)[0]
    return people.filter(now & ~then), people.filter(then & ~now), people.filter(now)


def monthly_dynamics(user, year: int, month: int) -> dict:
    """Added and removed assistance objects of a month, by township (动态管理).

    Added: an object on the month's last day who was not one on the previous month's last day;
    removed: the reverse.  Set-based: semi-joins over identities and determinations, grouped by
    township in the database.
    """
    added, removed, total = _month_sets(user, year, month)
    rows: dict[str, dict] = {}
    for key, source in (("added", added), ("removed", removed), ("objects", total)):
        for row in source.values("township__code", "township__name").annotate(n=Count("id")).order_by():
            entry = rows.setdefault(row["township__code"], {
                "township": row["township__code"], "township_name": row["township__name"],
                "added": 0, "removed": 0, "objects": 0,
            })
            entry[key] = row["n"]
    ordered = [rows[k] for k in sorted(rows)]
    return {
        "month": f"{year:04d}-{month:02d}",
        "townships": ordered,
        "added": sum(r["added"] for r in ordered),
        "removed": sum(r["removed"] for r in ordered),
        "objects": sum(r["objects"] for r in ordered),
    }


def month_members(user, year: int, month: int, which: str) -> QuerySet:
    """Persons added (``which="added"``) or removed in a month, for the drill-down list."""
    added, removed, _total = _month_sets(user, year, month)
    return (added if which == "added" else removed).select_related("township").order_by("township__code", "id")


# ── claims read by the rules ─────────────────────────────────────────────────────────────

def eligible_claims(person: Person, start: date, end: date) -> QuerySet:
    """The person's settled claims with a service date in [start, end], reversals excluded —
    claims' own "in force" (``claims.public.claims_in_force``): a reversed claim and its
    reversal row both drop out."""
    return claims_in_force(person_ids=[person.pk], start=start, end=end)


def out_of_pocket(person: Person, start: date, end: date) -> Decimal:
    """Sum of out-of-pocket (个人自负) of the person's settled claims in [start, end]."""
    total = eligible_claims(person, start, end).aggregate(
        s=Coalesce(Sum("out_of_pocket"), Value(ZERO), output_field=DecimalField(max_digits=14, decimal_places=2)))
    return total["s"]


# ── applications and queues ──────────────────────────────────────────────────────────────

def applications_for(user) -> QuerySet:
    """Applications the user may see, with what lists show."""
    return scope_queryset(Application.objects.all(), user).select_related(
        "person", "township", "filed_by", "owner", "verified_by", "decided_by")


def queue_to_review(user) -> QuerySet:
    """待我审核: what this user can act on now (never their own filings)."""
    qs = applications_for(user).exclude(filed_by=user)
    if user.is_superuser or user.role == Role.REVIEWER:
        return qs.filter(status__in=OPEN_STATUSES)
    if user.role == Role.TOWNSHIP_AGENT:
        return qs.filter(status__in=AWAITING_VERIFICATION)
    return qs.none()


def queue_overdue(user, today: date) -> QuerySet:
    """已超期: open cases past their deadline."""
    return applications_for(user).filter(status__in=OPEN_STATUSES, deadline__lt=today)


def queue_returned(user) -> QuerySet:
    """退回补正: cases waiting for the applicant's supplement."""
    qs = applications_for(user).filter(status=ApplicationStatus.RETURNED)
    if user.role == Role.WINDOW_CLERK:
        return qs.filter(Q(owner=user) | Q(filed_by=user))
    return qs


def queue_to_pay(user) -> QuerySet:
    """待支付: approved retroactive and tilt amounts not paid yet."""
    return applications_for(user).filter(
        status=ApplicationStatus.APPROVED, kind__in=[ApplicationKind.RETROACTIVE, ApplicationKind.TILT],
        amount__gt=0, payout__isnull=True)


def find_persons(user, query: str, limit: int = 20) -> QuerySet:
    """Persons of the user's township by full ID number or by name (prefix)."""
    query = (query or "").strip()
    qs = scope_queryset(Person.objects.all(), user).select_related("township", "village")
    if not query:
        return qs.none()
    if len(query) == 18 and query[:17].isdigit():
        return qs.filter(id_number=query.upper())[:limit]
    return qs.filter(name__startswith=query).order_by("name", "id")[:limit]
