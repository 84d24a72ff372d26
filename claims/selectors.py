"""Reads for settlement: who is covered, who is assisted and at which category on a date.

Set-based: :func:`coverage_facts` and :func:`assistance_facts` load what a whole batch of
persons needs in one query each; :func:`assistance_status` then decides in memory for one
person and date from a policy snapshot.  :func:`assistance_status_for` is the one-person
convenience the assistance app (retroactive assistance) uses.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db.models import Q, QuerySet, Sum

from members.models import AssistanceEntitlement, EntitlementKind, Enrollment, Identity
from yibao_site.policy import PolicySnapshot, policy_snapshot
from yibao_site.scoping import scope_queryset

from .models import Claim, ClaimStatus, PersonYearLedger, VisitType
from .rules import AssistanceStatus


# ── coverage (enrolment) ──────────────────────────────────────────────────────────────────
@dataclass(frozen=True)
class Coverage:
    enrollment_id: int
    scheme: str
    employee_status: str
    benefit_start: date
    benefit_end: date
    critical_illness_cap: Decimal | None

    def covers(self, on: date) -> bool:
        """Whether insurance benefits are in force on ``on`` (not in a waiting period or break)."""
        return self.benefit_start <= on <= self.benefit_end


def coverage_facts(person_ids: Iterable[int], years: Iterable[int]) -> dict[tuple[int, int], Coverage]:
    """Return the active enrolment of each (person, year) among ``person_ids`` × ``years``."""
    rows = (Enrollment.objects.filter(person_id__in=set(person_ids), year__in=set(years), active=True)
            .values_list("id", "person_id", "year", "scheme", "employee_status", "benefit_start", "benefit_end",
                         "critical_illness_cap"))
    return {(pid, year): Coverage(eid, scheme, status or "", start, end, cap)
            for eid, pid, year, scheme, status, start, end, cap in rows}


# ── assistance objects ────────────────────────────────────────────────────────────────────
@dataclass
class PersonAssistanceFacts:
    """One person's identities and entitlements overlapping a period (raw rows)."""

    identities: list[tuple[str, date, date | None]]
    determinations: list[tuple[int, date, date, date | None]]  # category, from, to, revoked_on
    tilts: list[tuple[date, date, date | None]]


def _valid(on: date, start: date, end: date | None, revoked_on: date | None = None) -> bool:
    return start <= on and (end is None or on <= end) and (revoked_on is None or on < revoked_on)


def assistance_facts(person_ids: Iterable[int], start: date, end: date) -> dict[int, PersonAssistanceFacts]:
    """Load the identities and entitlements of ``person_ids`` that overlap [start, end]."""
    ids = set(person_ids)
    facts: dict[int, PersonAssistanceFacts] = defaultdict(lambda: PersonAssistanceFacts([], [], []))
    identities = (Identity.objects.filter(person_id__in=ids, valid_from__lte=end)
                  .filter(Q(valid_to__isnull=True) | Q(valid_to__gte=start))
                  .values_list("person_id", "kind", "valid_from", "valid_to"))
    for pid, kind, vf, vt in identities:
        facts[pid].identities.append((kind, vf, vt))
    entitlements = (AssistanceEntitlement.objects.filter(person_id__in=ids, valid_from__lte=end, valid_to__gte=start)
                    .filter(Q(revoked_on__isnull=True) | Q(revoked_on__gt=start))
                    .values_list("person_id", "kind", "category", "valid_from", "valid_to", "revoked_on"))
    for pid, kind, category, vf, vt, revoked in entitlements:
        if kind == EntitlementKind.DETERMINATION and category:
            facts[pid].determinations.append((category, vf, vt, revoked))
        elif kind == EntitlementKind.TILT:
            facts[pid].tilts.append((vf, vt, revoked))
    return dict(facts)


def assistance_status(snapshot: PolicySnapshot, facts: PersonAssistanceFacts | None, on: date) -> AssistanceStatus:
    """Decide one person's assistance status on ``on`` (就高不就低).

    - an identity valid on the date gives the category ``assistance.category.<kind>``, but
      only categories in ``assistance.auto_categories`` count without an application;
    - an approved determination (entitlement ``determination``) valid on the date gives its
      category;
    - the highest category (lowest number) wins;
    - tilt eligibility is an approved ``tilt`` entitlement valid on the date;
    - the identity kinds valid on the date are passed on for Shiyan's transitional rule.
    """
    if facts is None:
        return AssistanceStatus()
    kinds = sorted({kind for kind, vf, vt in facts.identities if _valid(on, vf, vt)})
    candidates: list[tuple[int, str]] = []
    auto = None
    for kind in kinds:
        key = f"assistance.category.{kind}"
        if snapshot.has(key):
            if auto is None:
                auto = {int(c) for c in snapshot.value("assistance.auto_categories", None) or []}
            category = int(snapshot.value(key))
            if category in auto:
                candidates.append((category, kind))
    for category, vf, vt, revoked in facts.determinations:
        if _valid(on, vf, vt, revoked):
            candidates.append((int(category), "determination"))
    tilt = any(_valid(on, vf, vt, revoked) for vf, vt, revoked in facts.tilts)
    best = min(candidates) if candidates else (None, "")
    return AssistanceStatus(category=best[0], category_source=best[1], tilt=tilt, transitional_kinds=tuple(kinds))


def assistance_status_for(person, on: date, snapshot: PolicySnapshot | None = None) -> AssistanceStatus:
    """One person's assistance status on ``on`` (two queries)."""
    snapshot = snapshot or policy_snapshot(person.township, on)
    return assistance_status(snapshot, assistance_facts([person.pk], on, on).get(person.pk), on)


# ── open inpatient stays (employee outpatient pooling) ────────────────────────────────────
def inpatient_stays(person_ids: Iterable[int], start: date, end: date) -> dict[int, list[tuple[date, date]]]:
    """Return the settled inpatient stays (admission, discharge) of ``person_ids`` that overlap
    [start, end]."""
    stays: dict[int, list[tuple[date, date]]] = defaultdict(list)
    rows = (Claim.objects.filter(person_id__in=set(person_ids), visit_type=VisitType.INPATIENT,
                                 status=ClaimStatus.SETTLED, admission_date__isnull=False,
                                 admission_date__lte=end, service_date__gte=start)
            .values_list("person_id", "admission_date", "service_date"))
    for pid, admitted, discharged in rows:
        stays[pid].append((admitted, discharged))
    return stays


# ── lists ─────────────────────────────────────────────────────────────────────────────────
def claim_list(user) -> QuerySet[Claim]:
    """Claims the user may see, newest first."""
    return scope_queryset(Claim.objects.select_related("person", "person__township"), user).order_by("-id")


def ledger_for(person_id: int, year: int) -> PersonYearLedger | None:
    return PersonYearLedger.objects.filter(person_id=person_id, year=year).first()


def year_to_date_out_of_pocket(person_ids: Iterable[int], year: int, through_month: int) -> dict[int, Decimal]:
    """Out-of-pocket of ``year`` through ``through_month`` per person, from the ledger
    (the sum of ``oop_m01`` … ``oop_mM``): one indexed scan, no GROUP BY over claims."""
    fields = [f"oop_m{m:02d}" for m in range(1, through_month + 1)]
    rows = (PersonYearLedger.objects.filter(person_id__in=set(person_ids), year=year)
            .values_list("person_id", *fields))
    return {row[0]: sum(row[1:], Decimal("0.00")) for row in rows}


def claim_totals(qs: QuerySet[Claim]) -> dict[str, Decimal]:
    return qs.aggregate(total_cost=Sum("total_cost"), basic_paid=Sum("basic_paid"),
                        critical_paid=Sum("critical_paid"), assistance_paid=Sum("assistance_paid"),
                        second_round_paid=Sum("second_round_paid"), out_of_pocket=Sum("out_of_pocket"))
