"""The fund report (基金运行报表, DOMAIN.md §10)."""
from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import ROUND_DOWN, Decimal

from django.db.models import Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from yibao_site.money import to_fen
from yibao_site.replica import report_reads

from ..models import FUND_EXPENSE_KINDS, Claim, FundEntry, FundEntryKind


#: Which fund pays which tier: insurance tiers from the scheme's fund (critical-illness
#: insurance is financed from the resident fund), assistance tiers from the assistance fund.
FUND_TIERS = {
    "employee": ("basic_paid", "critical_paid"),
    "resident": ("basic_paid", "critical_paid"),
    "assistance": ("assistance_paid", "second_round_paid"),
}
TIERS = ("basic_paid", "critical_paid", "assistance_paid", "second_round_paid")


def cut_months(balance: Decimal, expense: Decimal, months: int) -> Decimal | None:
    """Months of payment capacity, balance ÷ (expense ÷ months), cut (not rounded) to one
    decimal as the seed prints it (001: 14.67 → 14.6); ``None`` without expense."""
    if months <= 0 or expense <= 0:
        return None
    return (Decimal(balance) * months / Decimal(expense)).quantize(Decimal("0.1"), rounding=ROUND_DOWN)


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


@report_reads
def fund_report(*, year: int, region=None, as_of: date | None = None) -> dict:
    """Amounts by fund and tier per month of ``year`` (by settlement month, reversals netted),
    income by source, balances and months of payment capacity (可支付月数 = accumulated balance
    ÷ average monthly expense) per fund.  ``region`` narrows claims to persons of that region
    and fund entries to entries recorded for it or below."""
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
        average = to_fen(expense / elapsed) if elapsed else Decimal("0.00")
        capacity = cut_months(accumulated, expense, elapsed)
        funds.append({"fund": fund, "income": dict(income[fund]), "income_total": year_income,
                      "claims_expense": claims_expense, "other_expense": other_expense[fund], "expense": expense,
                      "current_balance": current, "accumulated_balance": accumulated,
                      "average_monthly_expense": average, "months_elapsed": elapsed,
                      "months_of_capacity": capacity})
    return {"year": year, "region": region.code if region is not None else None,
            "months": [months[m] for m in range(1, 13)], "funds": funds}
