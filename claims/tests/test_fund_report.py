"""Fund report (DOMAIN.md §10): amounts by fund and tier per month, months of payment capacity."""
from datetime import date, datetime
from decimal import Decimal as D
from zoneinfo import ZoneInfo

from claims import selectors, services
from claims.models import Claim

from . import factories as f

TZ = ZoneInfo("Asia/Shanghai")


def _settled_on(claim, when):
    Claim.objects.filter(pk=claim.pk).update(settled_at=datetime(*when, 10, 0, tzinfo=TZ))


def test_months_of_capacity_by_fund(shiyan):
    """Entries: resident opening 1 000 000 (2024-01), premium 200 000 (2024-03), other expense
    1 000 (2024-05), and a 2023 premium of 999 recorded before the opening (ignored);
    assistance opening 100 000.

    Claims (Shiyan 低保, category 2): A, level 2, scope 10 000, total 11 000, settled June:
    basic 9 500 × 75 % = 7 125, assistance 2 875 × 70 % = 2 012.50.  B, scope 5 000, settled
    July: basic 4 500 × 75 % = 3 375 and assistance 1 625 × 70 % = 1 137.50, reversed in
    August (nets to 0).

    Resident fund: expense 7 125 + 1 000 = 8 125; current 200 000 − 8 125 = 191 875;
    accumulated 1 191 875; average 8 125 / 12 = 677.08; 1 191 875 / 677.08 = 1 760.3 months.
    Assistance fund: expense 2 012.50; accumulated 97 987.50; average 167.71; 97 987.50 × 12 ÷ 2 012.50 = 584.27 → cut to 584.2 months.
    """
    city = shiyan.city
    for fund, kind, month, amount in (("resident", "premium", date(2023, 11, 1), "999"),
                                      ("resident", "opening", date(2024, 1, 1), "1000000"),
                                      ("resident", "premium", date(2024, 3, 1), "200000"),
                                      ("resident", "other_expense", date(2024, 5, 1), "1000"),
                                      ("assistance", "opening", date(2024, 1, 1), "100000")):
        services.fund_entry_record(fund=fund, region=city, month=month, kind=kind, amount=D(amount), actor=f.finance())
    p = f.insured(shiyan)
    f.identity(p, "subsistence")
    a = f.settle(p, total="11000", scope="10000", on=date(2024, 6, 1))
    b = f.settle(p, total="5000", on=date(2024, 7, 1))
    _settled_on(a, (2024, 6, 15))
    _settled_on(b, (2024, 7, 10))
    reversal = services.claim_reverse(claim=b, actor=f.clerk())
    _settled_on(reversal, (2024, 8, 5))

    report = selectors.fund_report(year=2024, as_of=date(2025, 1, 10))
    months = {m["month"]: m for m in report["months"]}
    assert months["2024-06"]["basic_paid"] == D("7125.00") and months["2024-06"]["assistance_paid"] == D("2012.50")
    assert months["2024-07"]["funds"]["resident"] == D("3375.00")
    assert months["2024-08"]["funds"]["resident"] == D("-3375.00")
    assert months["2024-08"]["funds"]["assistance"] == D("-1137.50")
    funds = {x["fund"]: x for x in report["funds"]}
    resident, assistance = funds["resident"], funds["assistance"]
    assert resident["income"] == {"premium": D("200000")}
    assert (resident["expense"], resident["current_balance"], resident["accumulated_balance"]) == (
        D("8125.00"), D("191875.00"), D("1191875.00"))
    assert resident["average_monthly_expense"] == D("677.08") and resident["months_of_capacity"] == D("1760.3")
    assert assistance["accumulated_balance"] == D("97987.50") and assistance["months_of_capacity"] == D("584.2")  # cut, not rounded (issue 12)
    assert funds["employee"]["months_of_capacity"] is None

    other_township = selectors.fund_report(year=2024, region=shiyan.townships[1], as_of=date(2025, 1, 10))
    assert all(m["basic_paid"] == 0 for m in other_township["months"])
