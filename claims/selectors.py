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
from decimal import ROUND_DOWN, Decimal

from functools import reduce
from operator import add

from django.db.models import DecimalField, Exists, F, OuterRef, Q, QuerySet, Sum
from django.db.models.functions import Round

from members.models import AssistanceEntitlement, EntitlementKind, Enrollment, Identity, OffsiteRegistration
from yibao_site.policy import PolicyCache, PolicySnapshot, policy_snapshot
from yibao_site.scoping import scope_queryset

from .models import Claim, ClaimStatus, PersonYearLedger, VisitType
from .rules import AssistanceStatus


# ── policy for a batch ────────────────────────────────────────────────────────────────────
class SettlementPolicyCache(PolicyCache):
    """A :class:`PolicyCache` that loads one snapshot per region and *change date*.

    The parameters in force on a date are those in force on the latest ``effective_from`` on
    or before it among the region chain's parameters, so a batch spread over a year needs one
    query per region for the change dates plus one snapshot per change date — not one per
    (region, service date).  The snapshot handed out still says the service date.
    """

    def __init__(self) -> None:
        super().__init__()
        self._dates: dict[str, list[date]] = {}
        self._memo: dict[tuple, tuple[dict, str]] = {}

    def get(self, region, on: date) -> PolicySnapshot:
        from bisect import bisect_right

        from yibao_site.models import PolicyParameter

        code = region.code if hasattr(region, "code") else region
        dates = self._dates.get(code)
        if dates is None:
            chain = region.ancestors_codes() if hasattr(region, "ancestors_codes") else [code]
            dates = self._dates[code] = sorted(set(
                PolicyParameter.objects.filter(region__code__in=chain).values_list("effective_from", flat=True)))
        i = bisect_right(dates, on)
        base = super().get(region, dates[i - 1] if i else on)
        return PolicySnapshot(base.region_code, on, base.params)

    def record(self, snap: PolicySnapshot) -> tuple[dict, str]:
        """``(snap.used_record(), snap.version)``, computed once per set of parameters used."""
        key = tuple(sorted((k, p.parameter_id) for k, p in snap.used.items()))
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = (snap.used_record(), snap.version)
        return found


_shared_cache: dict = {"token": None, "cache": None}


def settlement_policy_cache() -> SettlementPolicyCache:
    """A process-wide :class:`SettlementPolicyCache`, valid while no policy parameter or region
    has changed (checked with one query on their history tables), so a single settlement does
    not reload ~200 parameters each time."""
    from django.db import connection

    from yibao_site.models import PolicyParameter, Region

    qn = connection.ops.quote_name
    policy_history = qn(PolicyParameter.history.model._meta.db_table)
    region_history = qn(Region.history.model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT (SELECT MAX(history_id) FROM {policy_history}), "
                       f"(SELECT MAX(history_date) FROM {policy_history}), "
                       f"(SELECT MAX(history_id) FROM {region_history}), "
                       f"(SELECT MAX(history_date) FROM {region_history})")
        token = (connection.alias, connection.settings_dict["NAME"], *cursor.fetchone())
    if _shared_cache["token"] != token:
        _shared_cache.update(token=token, cache=SettlementPolicyCache())
    return _shared_cache["cache"]


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
    rows = (OffsiteRegistration.objects.filter(person_id__in=set(person_ids), valid_from__lte=end, valid_to__gte=start)
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


def claims_in_force(*, person_ids: Iterable[int] | None = None, start: date | None = None,
                    end: date | None = None) -> QuerySet[Claim]:
    """Settled claims still in force (not reversed, not a reversal row), optionally for some
    persons and a service-date range [start, end]: what the ledger counts, for other apps."""
    qs = Claim.objects.filter(status=ClaimStatus.SETTLED, reversal_of__isnull=True).exclude(
        Exists(Claim.objects.filter(reversal_of=OuterRef("pk"))))
    if person_ids is not None:
        qs = qs.filter(person_id__in=person_ids)
    if start is not None:
        qs = qs.filter(service_date__gte=start)
    if end is not None:
        qs = qs.filter(service_date__lte=end)
    return qs


def year_to_date_out_of_pocket_expression(through_month: int):
    """``oop_m01 + … + oop_mM`` of :class:`PersonYearLedger` as a query expression, rounded to
    the fen (exact on PostgreSQL; on SQLite the sum is binary floating point, and the rounding
    keeps "exactly at the line" exactly at it) — for set-based readers such as the early warning."""
    columns = [F(f"oop_m{m:02d}") for m in range(1, through_month + 1)]
    return Round(reduce(add, columns), 2, output_field=DecimalField(max_digits=14, decimal_places=2))


def claim_totals(qs: QuerySet[Claim]) -> dict[str, Decimal]:
    return qs.aggregate(total_cost=Sum("total_cost"), basic_paid=Sum("basic_paid"),
                        critical_paid=Sum("critical_paid"), assistance_paid=Sum("assistance_paid"),
                        second_round_paid=Sum("second_round_paid"), out_of_pocket=Sum("out_of_pocket"))


# ── fund report (DOMAIN.md §10) ───────────────────────────────────────────────────────────
#: Which fund pays which tier: insurance tiers from the scheme's fund (critical-illness
#: insurance is financed from the resident fund), assistance tiers from the assistance fund.
FUND_TIERS = {
    "employee": ("basic_paid", "critical_paid"),
    "resident": ("basic_paid", "critical_paid"),
    "assistance": ("assistance_paid", "second_round_paid"),
}
TIERS = ("basic_paid", "critical_paid", "assistance_paid", "second_round_paid")


def _fund_amounts(rows) -> dict[str, Decimal]:
    """Map aggregate rows (scheme + tier sums) to amounts per fund."""
    out = {fund: Decimal("0.00") for fund in FUND_TIERS}
    for row in rows:
        scheme = row["scheme"]
        for tier in TIERS:
            value = row[tier] or Decimal("0.00")
            if tier in ("assistance_paid", "second_round_paid"):
                out["assistance"] += value
            elif scheme in out:
                out[scheme] += value
    return out


def fund_report(*, year: int, region=None, as_of: date | None = None) -> dict:
    """Amounts by fund and tier per month of ``year`` (by settlement month, reversals netted),
    income by source, balances and months of payment capacity (可支付月数 = accumulated balance
    ÷ average monthly expense) per fund.  ``region`` narrows claims to persons of that region
    and fund entries to entries recorded for it or below."""
    from django.db.models.functions import TruncMonth
    from django.utils import timezone

    from .models import FUND_EXPENSE_KINDS, FundEntry, FundEntryKind

    as_of = as_of or timezone.localdate()
    start, end = date(year, 1, 1), date(year, 12, 31)
    claims = Claim.objects.all()
    entries = FundEntry.objects.all()
    if region is not None:
        claims = claims.filter(person__township__path__startswith=region.path)
        entries = entries.filter(region__path__startswith=region.path)
    sums = {t: Sum(t) for t in TIERS}
    monthly = (claims.filter(settled_at__date__gte=start, settled_at__date__lte=end)
               .annotate(month=TruncMonth("settled_at")).values("month", "scheme").annotate(**sums)
               .order_by("month"))
    months = {m: {"month": f"{year}-{m:02d}", **{t: Decimal("0.00") for t in TIERS},
                  "funds": {fund: Decimal("0.00") for fund in FUND_TIERS}} for m in range(1, 13)}
    for row in monthly:
        target = months[row["month"].month]
        for t in TIERS:
            target[t] += row[t] or Decimal("0.00")
        for fund, amount in _fund_amounts([row]).items():
            target["funds"][fund] += amount
    entry_rows = list(entries.filter(month__lte=end).values_list("fund", "kind", "month", "amount"))
    # The balance carried into the year starts from the latest opening balance (期初滚存结余)
    # finance recorded; what happened before it is already in it.
    opening_at = {f: date.min for f in FUND_TIERS}
    for fund, kind, month, _amount in entry_rows:
        if kind == FundEntryKind.OPENING and month > opening_at[fund]:
            opening_at[fund] = month
    income: dict[str, dict[str, Decimal]] = {f: defaultdict(lambda: Decimal("0.00")) for f in FUND_TIERS}
    other_expense = {f: Decimal("0.00") for f in FUND_TIERS}
    carried = {f: Decimal("0.00") for f in FUND_TIERS}
    for fund, kind, month, amount in entry_rows:
        if month < opening_at[fund]:
            continue
        expense_kind = kind in FUND_EXPENSE_KINDS
        sign = -1 if expense_kind else 1
        if month < start or kind == FundEntryKind.OPENING:
            carried[fund] += sign * amount
        elif expense_kind:
            other_expense[fund] += amount
        else:
            income[fund][kind] += amount
    earlier = (claims.filter(settled_at__date__lt=start).annotate(month=TruncMonth("settled_at"))
               .values("month", "scheme").annotate(**sums))
    for row in earlier:
        month = row["month"].date() if hasattr(row["month"], "date") else row["month"]
        for fund, amount in _fund_amounts([row]).items():
            if month >= opening_at[fund]:
                carried[fund] -= amount
    elapsed = 12 if as_of > end else max(as_of.month if as_of >= start else 0, 1)
    funds = []
    for fund in FUND_TIERS:
        claims_expense = sum((months[m]["funds"][fund] for m in months), Decimal("0.00"))
        expense = claims_expense + other_expense[fund]
        year_income = sum(income[fund].values(), Decimal("0.00"))
        current = year_income - expense
        accumulated = carried[fund] + current
        average = (expense / elapsed).quantize(Decimal("0.01")) if elapsed else Decimal("0.00")
        # Cut, not rounded, to one decimal as the seed prints it (001: 14.67 → 14.6).
        capacity = ((accumulated * elapsed / expense).quantize(Decimal("0.1"), rounding=ROUND_DOWN)
                    if expense > 0 and elapsed else None)
        funds.append({"fund": fund, "income": dict(income[fund]), "income_total": year_income,
                      "claims_expense": claims_expense, "other_expense": other_expense[fund], "expense": expense,
                      "current_balance": current, "accumulated_balance": accumulated,
                      "average_monthly_expense": average, "months_elapsed": elapsed,
                      "months_of_capacity": capacity})
    return {"year": year, "region": region.code if region is not None else None,
            "months": [months[m] for m in range(1, 13)], "funds": funds}


# ── ledger integrity (nightly check) ──────────────────────────────────────────────────────
LEDGER_CHECKS = {
    "total_cost": "total_cost", "policy_scope_cost": "policy_scope_cost", "critical_paid": "critical_paid",
    "assistance_paid": "assistance_paid", "second_round_paid": "second_round_paid", "out_of_pocket": "out_of_pocket",
}


def ledger_mismatches(*, year: int, person_ids: Iterable[int] | None = None) -> list[dict]:
    """Compare each year ledger with the sums of its claims: totals, every paid tier,
    out-of-pocket by service month and the count of claims in force.  A reversed claim and its
    reversal entry net to zero, so the sums run over every row.  Return one row per
    difference (an empty list when the ledgers are right)."""
    from django.db.models import Case, Count, DecimalField, F, Value, When

    claims = Claim.objects.filter(year=year)
    ledgers = PersonYearLedger.objects.filter(year=year)
    if person_ids is not None:
        ids = set(person_ids)
        claims, ledgers = claims.filter(person_id__in=ids), ledgers.filter(person_id__in=ids)
    zero = Value(Decimal("0.00"), output_field=DecimalField(max_digits=14, decimal_places=2))
    sums = {f"s_{name}": Sum(name) for name in (*LEDGER_CHECKS, "basic_paid")}
    sums.update({f"s_oop_m{m:02d}": Sum(Case(When(service_date__month=m, then=F("out_of_pocket")), default=zero))
                 for m in range(1, 13)})
    sums["s_claims_count"] = Count("id", filter=Q(status=ClaimStatus.SETTLED))
    expected = {row["person_id"]: {k[2:]: v for k, v in row.items() if k.startswith("s_")}
                for row in claims.values("person_id").annotate(**sums).order_by()}
    # Payouts and adjustments (LedgerEntry) move the same totals; their month is the month of
    # the claim they belong to.
    from .models import LedgerEntry

    entries = LedgerEntry.objects.filter(year=year)
    if person_ids is not None:
        entries = entries.filter(person_id__in=ids)
    entry_sums = {"s_critical_paid": Sum("critical"), "s_assistance_paid": Sum("assistance"),
                  "s_second_round_paid": Sum("second_round"), "s_out_of_pocket": Sum("out_of_pocket"),
                  "s_basic_paid": Sum("basic")}
    entry_sums.update({f"s_oop_m{m:02d}": Sum(Case(When(claim__service_date__month=m, then=F("out_of_pocket")),
                                                  default=zero)) for m in range(1, 13)})
    for row in entries.values("person_id").annotate(**entry_sums).order_by():
        target = expected.setdefault(row["person_id"], {})
        for k, v in row.items():
            if k.startswith("s_") and v is not None:
                target[k[2:]] = (target.get(k[2:]) or Decimal("0.00")) + v
    month_fields = [f"oop_m{m:02d}" for m in range(1, 13)]
    fields = [*LEDGER_CHECKS, *month_fields, "claims_count"]
    out = []
    seen = set()
    for ledger in ledgers.values("person_id", *fields, "basic_inpatient_paid", "basic_outpatient_paid",
                                 "basic_chronic_paid"):
        pid = ledger["person_id"]
        seen.add(pid)
        want_row = expected.get(pid, {})
        actual = {k: ledger[k] for k in fields}
        actual["basic_paid"] = (ledger["basic_inpatient_paid"] + ledger["basic_outpatient_paid"]
                                + ledger["basic_chronic_paid"])
        for k, value in actual.items():
            want = want_row.get(k)
            if want is None:
                want = 0 if k == "claims_count" else Decimal("0.00")
            if value != want:
                out.append({"person_id": pid, "year": year, "field": k, "ledger": value, "claims": want})
    for pid in set(expected) - seen:
        out.append({"person_id": pid, "year": year, "field": "ledger", "ledger": None, "claims": "missing"})
    return out


# ── the person-year ledger as entries (API.md ``ledgers/``) ───────────────────────────────
def ledger_entries(person_id: int, year: int) -> list[dict]:
    """Every entry of a person-year in the order it was written: each claim's settlement and
    reversal (the ``Claim`` rows) and each one-time payment and adjustment (``LedgerEntry``)."""
    from .models import LedgerEntry

    out = []
    for c in (Claim.objects.filter(person_id=person_id, year=year).order_by("settled_at", "id")
              .only("id", "status", "reversal_of_id", "basic_paid", "critical_paid", "assistance_paid",
                    "second_round_paid", "out_of_pocket", "settled_at", "service_date", "explanation")):
        reversal = c.status == ClaimStatus.REVERSAL
        out.append({"kind": "reversal" if reversal else "claim", "claim": c.reversal_of_id if reversal else c.pk,
                    "basic": c.basic_paid, "critical": c.critical_paid, "assistance": c.assistance_paid,
                    "second_round": c.second_round_paid, "out_of_pocket": c.out_of_pocket,
                    "reason": (c.explanation.splitlines() or [""])[0], "cash_status": "", "application": None,
                    "at": c.settled_at})
    for e in LedgerEntry.objects.filter(person_id=person_id, year=year).order_by("at", "id"):
        out.append(entry_row(e))
    out.sort(key=lambda row: row["at"])
    return out


def entry_row(e) -> dict:
    return {"kind": e.kind, "claim": e.claim_id, "basic": e.basic, "critical": e.critical,
            "assistance": e.assistance, "second_round": e.second_round, "out_of_pocket": e.out_of_pocket,
            "reason": e.reason, "cash_status": e.cash_status, "application": e.application_id, "at": e.at}


def ledger_view(ledger: PersonYearLedger) -> dict:
    return {"person": ledger.person, "year": ledger.year, "basic_paid": ledger.basic_paid,
            "critical_paid": ledger.critical_paid, "assistance_paid": ledger.assistance_paid,
            "second_round_paid": ledger.second_round_paid, "out_of_pocket": ledger.out_of_pocket,
            "claims_count": ledger.claims_count, "entries": ledger_entries(ledger.person_id, ledger.year)}
