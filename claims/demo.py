"""Demo data of claims for ``seed_demo``: last year's and this year's settlements of the
demo persons (platform records through the ``claims`` importer, a few window reimbursements,
a reversal), and the funds' income entries sized so that the fund report shows a realistic
number of months of payment capacity.  Every claim carries a deterministic serial number,
so a second run changes nothing.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import Sum

from chronic.public import certified_map
from members.models import Enrollment
from yibao_site.actors import system_actor
from yibao_site.money import to_fen

from . import services
from .importers import ClaimImporter
from .models import Claim, ClaimSource, ClaimStatus, Fund, FundEntry, FundEntryKind

DEMO_NOTE = "演示数据"
CLAIMS_PER_PERSON_YEAR = 0.8
SETTLE_CHUNK = 25_000
# A city-sized demo (≥ 150 000 persons) settles a sample: at most this many claims a year, drawn
# over all the enrolled persons, so the settlement stays within minutes (≈ 1 000 claims/s).
MAX_CLAIMS_PER_YEAR = 120_000


def _amounts(rng, visit: str) -> tuple[Decimal, Decimal]:
    if visit == "outpatient":
        total = Decimal(rng.randint(3_000, 60_000)) / 100
    elif visit == "chronic":
        total = Decimal(rng.randint(30_000, 900_000)) / 100
    else:
        total = Decimal(int(rng.lognormvariate(9.3, 0.9) * 100)) / 100
    scope = to_fen(total * Decimal(rng.randint(72, 96)) / 100)
    return total, scope


def _rows(rng, year: int, last_day: date, enrolled: list[tuple[int, str, str]],
          certified: dict[int, str] | None = None) -> list[dict]:
    rows = []
    days = (last_day - date(year, 1, 1)).days
    if days < 1:
        return rows
    for n in range(min(int(len(enrolled) * CLAIMS_PER_PERSON_YEAR * days / 365), MAX_CLAIMS_PER_YEAR)):
        pid, idn, _scheme = rng.choice(enrolled)
        visit = rng.choices(["outpatient", "chronic", "inpatient"], weights=[55, 18, 27])[0]
        disease = (certified or {}).get(pid, "")
        if visit == "chronic" and not disease:
            visit = "outpatient"  # chronic care is claimed for a certified disease (DOMAIN.md §11)
        total, scope = _amounts(rng, visit)
        service = date(year, 1, 1) + timedelta(days=rng.randint(0, days - 1))
        level = rng.choices([1, 2, 3], weights=[50, 35, 15])[0]
        row = {"person": idn, "visit_type": visit, "hospital_level": str(level), "service_date": service.isoformat(),
               "total_cost": str(total), "policy_scope_cost": str(scope),
               "in_province": "否" if rng.random() < 0.05 else "是", "referred": "是" if rng.random() < 0.3 else "否",
               "external_ref": f"DEMO-{year}-{n:06d}"}
        if visit == "chronic":
            row["disease"] = disease
        if visit == "inpatient":
            row["admission_date"] = (service - timedelta(days=rng.randint(2, 18))).isoformat()
        rows.append(row)
    return rows


def seed(ctx) -> None:
    rng, today = ctx.rng, ctx.today
    log = getattr(ctx, "log", print)
    clerk = ctx.staff.get("demo_clerk")
    for year, last_day in ((today.year - 1, date(today.year - 1, 12, 31)), (today.year, today - timedelta(days=1))):
        enrolled = list(Enrollment.objects.filter(year=year, active=True, person__township__in=ctx.jurisdiction.townships)
                        .values_list("person_id", "person__id_number", "scheme").order_by("person_id"))
        if not enrolled:
            log(f"  claims {year}: no enrolled persons")
            continue
        rows = _rows(rng, year, last_day, enrolled, certified_map([e[0] for e in enrolled]))
        if not rows:
            continue
        importer = ClaimImporter(user=clerk)
        importer.batch_size = SETTLE_CHUNK  # the batch settlement in large chunks (its per-call work once per chunk)
        report = importer.run(rows, actor=clerk)
        if not report.ok:
            raise RuntimeError("demo claims import failed: " + "; ".join(str(e) for e in report.errors[:5]))
        log(f"  claims {year}: created {report.created}, unchanged {report.unchanged}")
        if report.created:
            _backdate(year)

    # A few window reimbursements and one reversal (once).
    if not Claim.objects.filter(external_ref__startswith="DEMO-MANUAL-").exists():
        enrolled = list(Enrollment.objects.filter(year=today.year, active=True,
                                                  person__township__in=ctx.jurisdiction.townships)
                        .select_related("person")[:5])
        for i, enrolment in enumerate(enrolled):
            total, scope = _amounts(rng, "inpatient")
            on = max(date(today.year, 1, 1), today - timedelta(days=3 + i))
            try:
                claim = services.claim_settle(
                    person=enrolment.person, visit_type="inpatient", hospital_level=2, service_date=on,
                    total_cost=total, policy_scope_cost=scope, source=ClaimSource.MANUAL, actor=clerk,
                    external_ref=f"DEMO-MANUAL-{i}", reason="窗口手工报销",
                    bills=[{"number": f"FP{today:%Y%m%d}{i:03d}", "total_cost": str(total),
                            "policy_scope_cost": str(scope)}])
            except Exception as exc:  # a demo person may be in a waiting period etc.; skip, not fail
                log(f"  manual claim skipped: {exc}")
                continue
            if i == 0:
                services.claim_reverse(claim=claim, actor=clerk, reason="演示:医院退费冲销")

    # Fund income sized on last year's expense: about 11–15 months of payment capacity.
    if not FundEntry.objects.filter(note=DEMO_NOTE).exists():
        _fund_entries(ctx, rng)
    log(f"  claims: {Claim.objects.filter(status=ClaimStatus.SETTLED).count()} settled in total")


def _backdate(year: int) -> None:
    """Give the demo's platform records the settlement time they would have had (a few days
    after discharge), so the fund report spreads them over the months like real data."""
    if connection.vendor == "postgresql":  # one set-based UPDATE (a 1 M-person demo has ~1 M claims a year)
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {Claim._meta.db_table} SET settled_at = "
                "(service_date + (id %% 5) * interval '1 day' + time '10:00') AT TIME ZONE 'Asia/Shanghai' "
                "WHERE year = %s AND external_ref LIKE %s", [year, f"DEMO-{year}-%"])
        return
    tz = ZoneInfo("Asia/Shanghai")
    claims = list(Claim.objects.filter(year=year, external_ref__startswith=f"DEMO-{year}-").only("id", "service_date"))
    for claim in claims:
        claim.settled_at = datetime.combine(claim.service_date + timedelta(days=claim.pk % 5), time(10), tz)
    Claim.objects.bulk_update(claims, ["settled_at"], batch_size=1000)


def _fund_entries(ctx, rng) -> None:
    today = ctx.today
    finance = ctx.staff.get("demo_finance") or system_actor("claims.demo")
    city = ctx.jurisdiction.city
    last = today.year - 1
    spent = Claim.objects.filter(year=last).values("scheme").annotate(
        basic=Sum("basic_paid"), critical=Sum("critical_paid"), assist=Sum("assistance_paid"),
        second=Sum("second_round_paid"))
    monthly = {Fund.EMPLOYEE: Decimal("0"), Fund.RESIDENT: Decimal("0"), Fund.ASSISTANCE: Decimal("0")}
    zero = Decimal("0")
    for row in spent:
        if row["scheme"] in monthly:
            monthly[row["scheme"]] += ((row["basic"] or zero) + (row["critical"] or zero)) / 12
        monthly[Fund.ASSISTANCE] += ((row["assist"] or zero) + (row["second"] or zero)) / 12
    months = [date(last, m, 1) for m in range(1, 13)] + [date(today.year, m, 1) for m in range(1, today.month + 1)]
    income_kinds = {Fund.EMPLOYEE: [FundEntryKind.EMPLOYER, FundEntryKind.PREMIUM],
                    Fund.RESIDENT: [FundEntryKind.PREMIUM, FundEntryKind.SUBSIDY],
                    Fund.ASSISTANCE: [FundEntryKind.SUBSIDY]}
    for fund, per_month in monthly.items():
        per_month = max(per_month, Decimal("1000"))
        opening = to_fen(per_month * Decimal(rng.randint(110, 150)) / 10)
        services.fund_entry_record(fund=fund, region=city, month=date(last, 1, 1), kind=FundEntryKind.OPENING,
                                   amount=opening, note=DEMO_NOTE, actor=finance)
        for month in months:
            kinds = income_kinds[fund]
            for kind in kinds:
                amount = to_fen(per_month * Decimal(rng.randint(95, 115)) / 100 / len(kinds))
                services.fund_entry_record(fund=fund, region=city, month=month, kind=kind, amount=amount,
                                           note=DEMO_NOTE, actor=finance)
        services.fund_entry_record(fund=fund, region=city, month=date(last, 12, 1), kind=FundEntryKind.INTEREST,
                                   amount=to_fen(opening * Decimal("0.015")), note=DEMO_NOTE, actor=finance)
