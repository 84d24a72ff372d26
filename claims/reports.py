"""Reports a bureau publishes (seeds 000 and 001, DOMAIN.md §10): reads only.

- :func:`fund_statement` — per fund, income by source, expense by type (inpatient, chronic,
  outpatient pooling, pharmacy, maternity, critical-illness premium, vaccines, …), current and
  accumulated balance, the employee fund split into pooling fund and personal accounts, and
  months of payment capacity = accumulated **pooling** balance ÷ average monthly expense, cut
  (not rounded) to one decimal as 001 prints it (20 706.34 ÷ (14 118.67 ÷ 10) = 14.67 → 14.6).
- :func:`assistance_statement` — assistance visits and amounts by visit type and category
  (000: 门诊救助 19 646 人次 250万元, 住院救助 6 547 人次 695万元, 因病致贫 4 人次 9万元).
- :func:`escaped_poverty_ratio` — the actual inpatient reimbursement ratio of 脱贫人口
  (001: 3 510 人次, 3 272.78万元, 报销 2 959.59万元 ⇒ 90.43 %).
- :func:`subsidy_statement` — subsidised enrolment totals from confirmed subsidy batches
  (000: 10 577 人, 401.93万元), by identity and township.

Claim amounts are counted from claims in force (settled, not reversed) by service date; fund
entries (income, opening balances, non-claim expenses) by the month they are recorded for.
Each statement carries ``chart_series`` (label → value pairs) for a chart component.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal

from django.db.models import Count, Exists, OuterRef, Q, Sum
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from members.models import AccountEntry, BatchStatus, Identity, IdentityKind, SubsidyLine
from yibao_site.models import Region, RegionLevel
from yibao_site.money import quantize, to_fen
from yibao_site.policy import policy_snapshot
from yibao_site.replica import report_reads
from yibao_site.scoping import scope_queryset
from yibao_site.xlsx import Sheet

from .models import FUND_EXPENSE_KINDS, Claim, ClaimStatus, Fund, FundEntry, FundEntryKind, VisitType
from .selectors import cut_months

ZERO = Decimal("0.00")
WAN = Decimal("10000")

EXPENSE_KINDS = FUND_EXPENSE_KINDS


def wan(amount: Decimal) -> Decimal:
    """Yuan → 万元 with two places, half up (the seeds print 401.93万元)."""
    return to_fen(Decimal(amount) / WAN)


def _in_force_claims(region, start: date, end: date):
    qs = Claim.objects.filter(status=ClaimStatus.SETTLED, service_date__gte=start, service_date__lte=end)
    if region is not None:
        qs = qs.filter(person__township__path__startswith=region.path)
    return qs


def _months_elapsed(year: int, as_of: date) -> int:
    if as_of.year > year:
        return 12
    if as_of.year < year:
        return 0
    return as_of.month


# ── fund statement (001 (二)) ─────────────────────────────────────────────────────────────
CLAIM_EXPENSE_LABEL = {VisitType.INPATIENT: "住院支出", VisitType.CHRONIC: "门诊慢特病支出",
                       VisitType.OUTPATIENT: "普通门诊(门诊统筹)支出"}


def fund_statement(*, year: int, region=None, as_of: date | None = None) -> dict:
    """Each fund's income by source, expense by type and balances for ``year`` up to ``as_of``
    (default: the year's end), with months of payment capacity on the pooling balance.

    Insurance funds pay the basic tier of their scheme's claims by visit type; critical-illness
    insurance is bought from an insurer, so the resident fund's expense is the premium finance
    records (大病保险保费支出), and the insurer's payments are shown apart.  The assistance fund
    pays tiers 3–4.  The employee fund's accumulated balance is split into personal accounts
    (the accounts' balances on ``as_of``) and the pooling fund (the rest)."""
    as_of = as_of or date(year, 12, 31)
    start, end = date(year, 1, 1), min(date(year, 12, 31), as_of)
    months = _months_elapsed(year, as_of)
    claims = _in_force_claims(region, start, end)
    by_scheme_visit = claims.values("scheme", "visit_type").annotate(
        basic=Sum("basic_paid"), critical=Sum("critical_paid"), assistance=Sum("assistance_paid"),
        second=Sum("second_round_paid")).order_by()
    entries = FundEntry.objects.filter(month__lte=end)
    if region is not None:
        entries = entries.filter(region__path__startswith=region.path)
    funds = {f: {"fund": f, "label": str(Fund(f).label), "income": defaultdict(lambda: ZERO),
                 "expense": defaultdict(lambda: ZERO), "opening": ZERO, "carried": ZERO,
                 "critical_paid_by_insurer": ZERO} for f in Fund.values}
    for row in by_scheme_visit:
        if row["scheme"] in funds:
            label = CLAIM_EXPENSE_LABEL[row["visit_type"]]
            funds[row["scheme"]]["expense"][label] += row["basic"] or ZERO
            funds[row["scheme"]]["critical_paid_by_insurer"] += row["critical"] or ZERO
        funds[Fund.ASSISTANCE]["expense"][CLAIM_EXPENSE_LABEL[row["visit_type"]]] += (
            (row["assistance"] or ZERO) + (row["second"] or ZERO))
    opening_at: dict[str, date] = {}
    rows = list(entries.values_list("fund", "kind", "month", "amount"))
    for fund, kind, month, _amount in rows:
        if kind == FundEntryKind.OPENING and month <= end and month > opening_at.get(fund, date.min):
            opening_at[fund] = month
    for fund, kind, month, amount in rows:
        target = funds[fund]
        if month < opening_at.get(fund, date.min):
            continue
        if kind == FundEntryKind.OPENING:
            target["opening"] += amount
        elif month < start:
            target["carried"] += -amount if kind in EXPENSE_KINDS else amount
        elif kind in EXPENSE_KINDS:
            target["expense"][str(FundEntryKind(kind).label)] += amount
        else:
            target["income"][str(FundEntryKind(kind).label)] += amount
    # Claims between an opening balance recorded before the year and the year's start.
    for fund, opened in opening_at.items():
        if opened < start and fund != Fund.ASSISTANCE:
            earlier = _in_force_claims(region, opened, date(year - 1, 12, 31)).filter(scheme=fund)
            funds[fund]["carried"] -= earlier.aggregate(s=Sum("basic_paid"))["s"] or ZERO
        elif opened < start:
            earlier = _in_force_claims(region, opened, date(year - 1, 12, 31)).aggregate(
                a=Sum("assistance_paid"), b=Sum("second_round_paid"))
            funds[fund]["carried"] -= (earlier["a"] or ZERO) + (earlier["b"] or ZERO)
    accounts = AccountEntry.objects.filter(on__lte=end)
    if region is not None:
        accounts = accounts.filter(account__person__township__path__startswith=region.path)
    account_balance = accounts.aggregate(total=Sum("amount"))["total"] or ZERO
    out = []
    for fund in Fund.values:
        f = funds[fund]
        income_total = sum(f["income"].values(), ZERO)
        expense_total = sum(f["expense"].values(), ZERO)
        current = income_total - expense_total
        accumulated = f["opening"] + f["carried"] + current
        accounts_part = account_balance if fund == Fund.EMPLOYEE else None
        pooling = accumulated - accounts_part if accounts_part is not None else accumulated
        out.append({
            "fund": fund, "label": f["label"],
            "income": [{"item": k, "amount": v} for k, v in f["income"].items()],
            "income_total": income_total,
            "expense": [{"item": k, "amount": v} for k, v in f["expense"].items()],
            "expense_total": expense_total,
            "current_balance": current, "accumulated_balance": accumulated,
            "pooling_balance": pooling, "personal_account_balance": accounts_part,
            "critical_paid_by_insurer": f["critical_paid_by_insurer"] if fund == Fund.RESIDENT else None,
            "months_elapsed": months,
            "average_monthly_expense": to_fen(expense_total / months)
            if months else None,
            "months_of_capacity": cut_months(pooling, expense_total, months),
        })
    return {"year": year, "as_of": as_of.isoformat(), "region": region.code if region is not None else None,
            "funds": out,
            "chart_series": [{"label": f["label"], "income": f["income_total"], "expense": f["expense_total"],
                              "months_of_capacity": f["months_of_capacity"]} for f in out]}


# ── assistance statement (000 问题二) ──────────────────────────────────────────────────────
def assistance_statement(*, year: int, region=None, through: date | None = None) -> dict:
    """Assistance visits (人次: claims in force with any tier-3/4 payment) and amounts, by visit
    group and category, for ``year`` up to ``through``.  000 reports 因病致贫 (category 4,
    依申请) apart from 门诊/住院救助, so category 4 forms its own row; the other rows are
    outpatient care (chronic and ordinary) and inpatient care of categories 1–3."""
    start, end = date(year, 1, 1), through or date(year, 12, 31)
    qs = _in_force_claims(region, start, end).filter(Q(assistance_paid__gt=0) | Q(second_round_paid__gt=0))
    rows = qs.values("visit_type", "assistance_category").annotate(
        visits=Count("id"), assistance=Sum("assistance_paid"), second=Sum("second_round_paid")).order_by()
    groups = {"outpatient": {"visits": 0, "amount": ZERO}, "inpatient": {"visits": 0, "amount": ZERO},
              "illness_poverty": {"visits": 0, "amount": ZERO}}
    by_category: dict[int | None, dict] = defaultdict(lambda: {"visits": 0, "amount": ZERO})
    for row in rows:
        amount = (row["assistance"] or ZERO) + (row["second"] or ZERO)
        category = row["assistance_category"]
        group = ("illness_poverty" if category == 4 else
                 "inpatient" if row["visit_type"] == VisitType.INPATIENT else "outpatient")
        groups[group]["visits"] += row["visits"]
        groups[group]["amount"] += amount
        by_category[category]["visits"] += row["visits"]
        by_category[category]["amount"] += amount
    labels = {"outpatient": _("门诊救助"), "inpatient": _("住院医疗救助"), "illness_poverty": _("因病致贫救助")}
    table = [{"group": g, "label": labels[g], "visits": v["visits"], "amount": v["amount"],
              "amount_wan": wan(v["amount"])} for g, v in groups.items()]
    total = sum((v["amount"] for v in groups.values()), ZERO)
    return {"year": year, "through": end.isoformat(), "region": region.code if region is not None else None,
            "by_group": table,
            "by_category": [{"category": c, "visits": v["visits"], "amount": v["amount"], "amount_wan": wan(v["amount"])}
                            for c, v in sorted(by_category.items(), key=lambda kv: (kv[0] is None, kv[0] or 0))],
            "visits": sum(v["visits"] for v in groups.values()), "amount": total, "amount_wan": wan(total),
            "chart_series": [{"label": r["label"], "value": r["amount"]} for r in table]}


# ── actual reimbursement ratio of 脱贫人口 (001 (六)) ─────────────────────────────────────
def escaped_poverty_ratio(*, year: int, region, through: date | None = None) -> dict:
    """Inpatient care of persons holding an identity of ``report.escaped_poverty.kinds`` on the
    service date: visits, total cost, total reimbursed (every tier) and the ratio in percent
    with two places, half up."""
    start, end = date(year, 1, 1), through or date(year, 12, 31)
    kinds = list(policy_snapshot(region, end).value("report.escaped_poverty.kinds"))
    holds = Identity.objects.filter(person=OuterRef("person"), kind__in=kinds, valid_from__lte=OuterRef("service_date")
                                    ).filter(Q(valid_to__isnull=True) | Q(valid_to__gte=OuterRef("service_date")))
    qs = (_in_force_claims(region, start, end).filter(visit_type=VisitType.INPATIENT)
          .filter(Exists(holds)))
    agg = qs.aggregate(visits=Count("id"), total=Sum("total_cost"), basic=Sum("basic_paid"),
                       critical=Sum("critical_paid"), assistance=Sum("assistance_paid"),
                       second=Sum("second_round_paid"))
    total = agg["total"] or ZERO
    reimbursed = sum((agg[k] or ZERO for k in ("basic", "critical", "assistance", "second")), ZERO)
    ratio = quantize(reimbursed * 100 / total, "0.01") if total > 0 else None
    return {"year": year, "through": end.isoformat(), "region": region.code, "kinds": kinds,
            "visits": agg["visits"], "total_cost": total, "total_cost_wan": wan(total),
            "reimbursed": reimbursed, "reimbursed_wan": wan(reimbursed), "ratio_percent": ratio,
            "chart_series": [{"label": _("基金及救助报销"), "value": reimbursed},
                             {"label": _("个人负担"), "value": total - reimbursed}]}


# ── subsidised enrolment (000 资助参保) ───────────────────────────────────────────────────
def subsidy_statement(*, year: int, region=None) -> dict:
    """Persons and amounts subsidised for coverage ``year`` (confirmed batches), by identity
    and township."""
    qs = SubsidyLine.objects.filter(year=year, batch__status=BatchStatus.CONFIRMED)
    if region is not None:
        qs = qs.filter(township__path__startswith=region.path)
    total = qs.aggregate(persons=Count("person", distinct=True), amount=Sum("amount"))
    by_kind = [{"kind": r["kind"], "label": str(IdentityKind(r["kind"]).label), "persons": r["persons"],
                "amount": r["amount"], "amount_wan": wan(r["amount"])}
               for r in qs.values("kind").annotate(persons=Count("person", distinct=True), amount=Sum("amount"))
               .order_by("kind")]
    by_township = [{"township": r["township__code"], "label": r["township__name"], "persons": r["persons"],
                    "amount": r["amount"], "amount_wan": wan(r["amount"])}
                   for r in qs.values("township__code", "township__name")
                   .annotate(persons=Count("person", distinct=True), amount=Sum("amount")).order_by("township__code")]
    amount = total["amount"] or ZERO
    return {"year": year, "region": region.code if region is not None else None, "persons": total["persons"],
            "amount": amount, "amount_wan": wan(amount), "by_kind": by_kind, "by_township": by_township,
            "chart_series": [{"label": r["label"], "value": r["amount"]} for r in by_kind]}


# ── one entry point for pages, exports and the API ────────────────────────────────────────
REPORTS = {
    "funds": gettext_noop("医保基金收支情况"),
    "assistance": gettext_noop("医疗救助情况"),
    "poverty": gettext_noop("脱贫人口住院实际报销比例"),
    "subsidy": gettext_noop("资助参保情况"),
}


@report_reads
def build(kind: str, *, year: int, region, through: date | None = None) -> dict:
    """Compute report ``kind`` (a key of :data:`REPORTS`) for ``year`` within ``region``."""
    if kind == "funds":
        return fund_statement(year=year, region=region, as_of=through)
    if kind == "assistance":
        return assistance_statement(year=year, region=region, through=through)
    if kind == "poverty":
        return escaped_poverty_ratio(year=year, region=region, through=through)
    if kind == "subsidy":
        return subsidy_statement(year=year, region=region)
    raise ValueError(kind)


def _money(v) -> str:
    return "" if v is None else f"{Decimal(v):.2f}"


def tables(kind: str, data: dict) -> list[dict]:
    """The report as titled tables (``columns`` and ``rows`` of strings and numbers), the one
    shape the admin page and the XLSX export both render."""
    out = []
    if kind == "funds":
        out.append({"title": _("基金收支与可支付月数(元)"),
                    "columns": [_("基金"), _("收入"), _("支出"), _("当期结余"), _("累计结余"), _("其中统筹基金"),
                                _("其中个人账户"), _("月均支出"), _("可支付月数")],
                    "rows": [[f["label"], _money(f["income_total"]), _money(f["expense_total"]),
                              _money(f["current_balance"]), _money(f["accumulated_balance"]),
                              _money(f["pooling_balance"]), _money(f["personal_account_balance"]),
                              _money(f["average_monthly_expense"]),
                              "" if f["months_of_capacity"] is None else str(f["months_of_capacity"])]
                             for f in data["funds"]], "money": {1, 2, 3, 4, 5, 6, 7}})
        for f in data["funds"]:
            rows = [[_("收入"), i["item"], _money(i["amount"])] for i in f["income"]]
            rows += [[_("支出"), i["item"], _money(i["amount"])] for i in f["expense"]]
            out.append({"title": f["label"], "columns": [_("收支"), _("项目"), _("金额(元)")], "rows": rows,
                        "money": {2}})
    elif kind == "assistance":
        out.append({"title": _("按就诊类型"), "columns": [_("项目"), _("人次"), _("金额(元)"), _("金额(万元)")],
                    "rows": [[r["label"], r["visits"], _money(r["amount"]), _money(r["amount_wan"])]
                             for r in data["by_group"]]
                    + [[_("合计"), data["visits"], _money(data["amount"]), _money(data["amount_wan"])]],
                    "money": {2, 3}})
        out.append({"title": _("按救助类别"), "columns": [_("救助类别"), _("人次"), _("金额(元)"), _("金额(万元)")],
                    "rows": [[r["category"] or "—", r["visits"], _money(r["amount"]), _money(r["amount_wan"])]
                             for r in data["by_category"]], "money": {2, 3}})
    elif kind == "poverty":
        out.append({"title": _("脱贫人口住院"), "columns": [_("人次"), _("医疗总费用(万元)"), _("总报销(万元)"),
                                                         _("实际报销比例(%)")],
                    "rows": [[data["visits"], _money(data["total_cost_wan"]), _money(data["reimbursed_wan"]),
                              "" if data["ratio_percent"] is None else str(data["ratio_percent"])]],
                    "money": {1, 2}})
    elif kind == "subsidy":
        out.append({"title": _("按身份类别"), "columns": [_("身份类别"), _("人数"), _("金额(元)"), _("金额(万元)")],
                    "rows": [[r["label"], r["persons"], _money(r["amount"]), _money(r["amount_wan"])]
                             for r in data["by_kind"]]
                    + [[_("合计"), data["persons"], _money(data["amount"]), _money(data["amount_wan"])]],
                    "money": {2, 3}})
        out.append({"title": _("按乡镇(街道)"), "columns": [_("区划代码"), _("乡镇(街道)"), _("人数"), _("金额(元)")],
                    "rows": [[r["township"], r["label"], r["persons"], _money(r["amount"])]
                             for r in data["by_township"]], "money": {3}})
    return out


def sheets(kind: str, data: dict) -> list[Sheet]:
    """The report's tables for the XLSX export (``yibao_site.xlsx``), one sheet per table;
    money columns are numbers Excel can sum."""
    return [Sheet(table["title"], table["columns"], table["rows"], money_columns=set(table.get("money", ())))
            for table in tables(kind, data)]


def report_region(user, code: str | None):
    """The region a report covers: the one asked for if the user may see it, else the user's
    own region, else the (first) city."""
    if code:
        found = scope_queryset(Region.objects.filter(code=code), user).first()
        if found is not None:
            return found
    if user.region_id and not user.is_superuser:
        return user.region
    return Region.objects.filter(level=RegionLevel.CITY).order_by("code").first()
