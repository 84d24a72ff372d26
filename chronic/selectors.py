"""Reads of the chronic-disease catalogue and certifications.

``certified_diseases`` and ``catalogue_for_codes`` are what settlement (claims) reads, one
query each for a whole batch.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Iterable

from django.apps import apps
from django.db.models import Count, Q, QuerySet, Sum

from members.models import Person
from yibao_site.models import Region
from yibao_site.scoping import scope_queryset

from .models import OPEN_STATUSES, Certification, CertificationStatus, ChronicDisease


#: Statuses whose validity window counts: approved, and revoked (valid up to the revocation).
GRANTED = (CertificationStatus.APPROVED, CertificationStatus.REVOKED)


def catalogue_in_force(region: Region, on: date) -> list[ChronicDisease]:
    """The diseases in force for ``region`` on ``on``: for each code, the nearest region of the
    chain (village → … → city) that defines it, its latest version on or before the date."""
    chain = region.ancestors_codes()
    depth = {code: i for i, code in enumerate(chain)}
    rows = (ChronicDisease.objects.filter(region__code__in=chain, valid_from__lte=on)
            .filter(Q(valid_to__isnull=True) | Q(valid_to__gte=on)).select_related("region"))
    best: dict[str, tuple[tuple[int, date], ChronicDisease]] = {}
    for row in rows:
        rank = (depth[row.region.code], row.valid_from)
        if row.code not in best or rank > best[row.code][0]:
            best[row.code] = (rank, row)
    return sorted((row for _rank, row in best.values()), key=lambda d: d.code)


def disease_in_force(region: Region, code: str, on: date) -> ChronicDisease | None:
    code = (code or "").strip().upper()
    return next((d for d in catalogue_in_force(region, on) if d.code == code), None)


def catalogue_for_codes(codes: Iterable[str]) -> dict[str, list[tuple[str, date, date | None, str, str]]]:
    """code → [(region path, valid_from, valid_to, rate_key, cap_key)] for ``codes`` (one query)."""
    found: dict[str, list] = defaultdict(list)
    codes = {c for c in codes if c}
    if not codes:
        return {}
    for code, path, vf, vt, rate_key, cap_key in (ChronicDisease.objects.filter(code__in=codes).values_list(
            "code", "region__path", "valid_from", "valid_to", "rate_key", "cap_key")):
        found[code].append((path, vf, vt, rate_key, cap_key))
    return dict(found)


def pick_catalogue_entry(entries, township_path: str, on: date):
    """The entry of ``catalogue_for_codes`` in force for a township on a date (nearest region,
    then latest version), or None."""
    best = None
    for path, vf, vt, rate_key, cap_key in entries or ():
        if not township_path.startswith(path) or vf > on or (vt is not None and vt < on):
            continue
        rank = (len(path), vf)
        if best is None or rank > best[0]:
            best = (rank, (rate_key, cap_key))
    return best[1] if best else None


def certified_diseases(person_ids: Iterable[int], start: date, end: date
                       ) -> dict[int, list[tuple[str, date, date | None]]]:
    """person id → [(disease code, valid from, valid to)] of approved (or since revoked: their
    validity then ends the day before the revocation) certifications that overlap [start, end] — one query for a whole settlement batch."""
    ids = set(person_ids)
    if not ids:
        return {}
    rows = (Certification.objects.filter(person_id__any=sorted(ids), status__in=GRANTED, valid_from__lte=end)
            .filter(Q(valid_to__isnull=True) | Q(valid_to__gte=start))
            .values_list("person_id", "disease__code", "valid_from", "valid_to"))
    found: dict[int, list] = defaultdict(list)
    for pid, code, vf, vt in rows:
        found[pid].append((code, vf, vt))
    return dict(found)


def is_certified(certified: dict[int, list], person_id: int, code: str, on: date) -> bool:
    return any(c == code and vf <= on and (vt is None or on <= vt) for c, vf, vt in certified.get(person_id, ()))


def person_certifications(person: Person, on: date) -> list[Certification]:
    """The person's certifications in force on ``on``."""
    return list(Certification.objects.filter(person=person, status__in=GRANTED, valid_from__lte=on).filter(Q(valid_to__isnull=True) | Q(valid_to__gte=on))
                .select_related("disease"))


def certifications_for(user) -> QuerySet[Certification]:
    return scope_queryset(Certification.objects.select_related("person", "disease", "township", "filed_by"), user)


def queue_to_decide(user) -> QuerySet[Certification]:
    return certifications_for(user).filter(status__in=OPEN_STATUSES).exclude(filed_by=user)


def queue_overdue(user, on: date) -> QuerySet[Certification]:
    return certifications_for(user).filter(status__in=OPEN_STATUSES, deadline__lt=on)


# ── reports ──────────────────────────────────────────────────────────────────────────────

def certified_by_disease_and_township(user, on: date) -> list[dict]:
    """Persons with a certification in force on ``on``, by disease and township (the user's scope)."""
    rows = (certifications_for(user).filter(status__in=GRANTED, valid_from__lte=on)
            .filter(Q(valid_to__isnull=True) | Q(valid_to__gte=on))
            .values("disease__code", "disease__name", "township__code", "township__name")
            .annotate(persons=Count("person", distinct=True)).order_by("disease__code", "township__code"))
    return [{"disease": r["disease__code"], "disease_name": r["disease__name"], "township": r["township__code"],
             "township_name": r["township__name"], "persons": r["persons"]} for r in rows]


def chronic_spending_by_disease(user, start: date, end: date) -> list[dict]:
    """Chronic claims settled with service dates in [start, end], by disease: count, total cost,
    basic insurance, medical assistance, out of pocket; claims flagged for review counted apart.
    (Reads the claims table by its app label, so this module never imports claims.)"""
    Claim = apps.get_model("claims", "Claim")
    qs = scope_queryset(Claim.objects.filter(visit_type="chronic", service_date__range=(start, end),
                                             status="settled"), user)
    names = dict(ChronicDisease.objects.values_list("code", "name"))
    rows = (qs.values("disease").annotate(
        claims=Count("id"), total_cost=Sum("total_cost"), basic_paid=Sum("basic_paid"),
        assistance_paid=Sum("assistance_paid"), out_of_pocket=Sum("out_of_pocket"),
        flagged=Count("id", filter=Q(chronic_review=True))).order_by("disease"))
    zero = Decimal("0.00")
    return [{"disease": r["disease"], "disease_name": names.get(r["disease"], ""), "claims": r["claims"],
             "total_cost": r["total_cost"] or zero, "basic_paid": r["basic_paid"] or zero,
             "assistance_paid": r["assistance_paid"] or zero, "out_of_pocket": r["out_of_pocket"] or zero,
             "flagged": r["flagged"]} for r in rows]


def certified_map(person_ids) -> dict[int, str]:
    """person id → a disease code certified for the person (the claims demo names it on
    chronic claims)."""
    found: dict[int, str] = {}
    for pid, code in (Certification.objects.filter(person_id__in=person_ids, status=CertificationStatus.APPROVED)
                      .values_list("person_id", "disease__code").order_by("person_id", "id")):
        found.setdefault(pid, code)
    return found
