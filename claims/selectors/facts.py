"""What settlement reads about persons, set-based: who is covered, who is assisted and at which
category on a date, off-site registrations, open inpatient stays."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db.models import Q

from members.models import AssistanceEntitlement, EntitlementKind, Enrollment, Identity, OffsiteRegistration
from yibao_site.policy import PolicySnapshot, policy_snapshot

from ..models import Claim, ClaimStatus, VisitType
from ..rules import AssistanceStatus


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
    rows = (Enrollment.objects.filter(person_id__any=sorted(set(person_ids)), year__in=set(years), active=True)
            .values_list("id", "person_id", "year", "scheme", "employee_status", "benefit_start", "benefit_end",
                         "critical_illness_cap"))
    return coverage_of_rows(rows)


def coverage_of_rows(rows) -> dict[tuple[int, int], Coverage]:
    """:func:`coverage_facts` of rows (id, person, year, scheme, status, start, end, cap) read elsewhere."""
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
    ids = sorted(set(person_ids))  # one array parameter (``__any``), not a bind parameter each
    identities = (Identity.objects.filter(person_id__any=ids, valid_from__lte=end)
                  .filter(Q(valid_to__isnull=True) | Q(valid_to__gte=start))
                  .values_list("person_id", "kind", "valid_from", "valid_to"))
    entitlements = (AssistanceEntitlement.objects.filter(person_id__any=ids, valid_from__lte=end, valid_to__gte=start)
                    .filter(Q(revoked_on__isnull=True) | Q(revoked_on__gt=start))
                    .values_list("person_id", "kind", "category", "valid_from", "valid_to", "revoked_on"))
    return assistance_of_rows(identities, entitlements)


def assistance_of_rows(identities, entitlements) -> dict[int, PersonAssistanceFacts]:
    """:func:`assistance_facts` of identity rows (person, kind, from, to) and entitlement rows
    (person, kind, category, from, to, revoked on) read elsewhere."""
    facts: dict[int, PersonAssistanceFacts] = defaultdict(lambda: PersonAssistanceFacts([], [], []))
    for pid, kind, vf, vt in identities:
        facts[pid].identities.append((kind, vf, vt))
    for pid, kind, category, vf, vt, revoked in entitlements:
        if kind in (EntitlementKind.DETERMINATION, EntitlementKind.RETROACTIVE) and category:
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


# ── off-site treatment registrations (异地就医备案) ─────────────────────────────────────────
@dataclass(frozen=True)
class OffsitePeriod:
    kind: str
    valid_from: date
    valid_to: date
    in_province: bool


def offsite_periods(person_ids: Iterable[int], start: date, end: date) -> dict[int, list[OffsitePeriod]]:
    """The registrations of ``person_ids`` overlapping [start, end], in one query (a revoked
    registration's ``valid_to`` already ends the day before its revocation)."""
    found: dict[int, list[OffsitePeriod]] = defaultdict(list)
    rows = (OffsiteRegistration.objects.filter(person_id__any=sorted(set(person_ids)), valid_from__lte=end,
                                                   valid_to__gte=start)
            .values_list("person_id", "kind", "valid_from", "valid_to", "in_province"))
    for pid, kind, vf, vt, in_province in rows:
        found[pid].append(OffsitePeriod(kind, vf, vt, in_province))
    return dict(found)


def offsite_covers(periods: Iterable[OffsitePeriod], on: date, *, in_province: bool) -> bool:
    """Whether a registration valid on ``on`` covers care at that place: any registration for
    care inside the province, an out-of-province registration for care outside it.  Relocation
    (异地安置) and registered referral (转诊转院) both count as referred care."""
    return any(p.valid_from <= on <= p.valid_to and (in_province or not p.in_province) for p in periods)


# ── open inpatient stays (employee outpatient pooling) ────────────────────────────────────
def inpatient_stays(person_ids: Iterable[int], start: date, end: date) -> dict[int, list[tuple[date, date]]]:
    """Return the settled inpatient stays (admission, discharge) of ``person_ids`` that overlap
    [start, end]."""
    stays: dict[int, list[tuple[date, date]]] = defaultdict(list)
    rows = (Claim.objects.filter(person_id__any=sorted(set(person_ids)), visit_type=VisitType.INPATIENT,
                                 status=ClaimStatus.SETTLED, admission_date__isnull=False,
                                 admission_date__lte=end, service_date__gte=start)
            .values_list("person_id", "admission_date", "service_date"))
    for pid, admitted, discharged in rows:
        stays[pid].append((admitted, discharged))
    return stays
