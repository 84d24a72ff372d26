"""Issue 12: published reports reproduce the seeds' figures from data shaped like theirs.

Fixtures hold the seeds' totals (yuan = 万元 × 10 000) as claims, fund entries, account entries
and subsidy lines, written in bulk (report fixtures, not settlements).
"""
from datetime import date, timedelta
from decimal import Decimal as D

import pytest

from claims import reports
from claims.models import Claim, ClaimStatus, FundEntry
from members.models import (AccountEntry, BatchStatus, Identity, PersonalAccount, Person, SubsidyBatch,
                            SubsidyLine)
from yibao_site.testing import make_id_number

from . import factories as f

pytestmark = pytest.mark.django_db

W = D("10000")


def _claim(p, *, scheme="resident", visit="inpatient", on=date(2021, 6, 1), total, basic="0", critical="0",
           assistance="0", category=None, status=ClaimStatus.SETTLED):
    total, basic, critical, assistance = (D(str(x)) for x in (total, basic, critical, assistance))
    return Claim(person=p, year=on.year, scheme=scheme, visit_type=visit, hospital_level=2, service_date=on,
                 total_cost=total, policy_scope_cost=total, basic_paid=basic, critical_paid=critical,
                 assistance_paid=assistance, second_round_paid=D("0"),
                 out_of_pocket=total - basic - critical - assistance, assistance_category=category, status=status)


def _entry(j, fund, kind, wan, month=date(2021, 1, 1)):
    return FundEntry(fund=fund, region=j.city, month=month, kind=kind, amount=D(wan) * W)


@pytest.fixture
def zhangshu_2021(shiyan):
    """001 (二) 医保基金收支情况, 2021-01 – 2021-10 (the figures in 万元)."""
    e, r = f.person(shiyan), f.person(shiyan)
    Claim.objects.bulk_create([
        _claim(e, scheme="employee", total=D("8000") * W, basic=D("6467.84") * W),
        _claim(e, scheme="employee", visit="chronic", total=D("2000") * W, basic=D("1655.16") * W),
        _claim(e, scheme="employee", visit="outpatient", total=D("2500") * W, basic=D("1968.72") * W),
        _claim(r, total=D("30000") * W, basic=D("20128.47") * W, critical=D("500") * W, assistance=D("1588.46") * W,
               category=2),
        _claim(r, visit="chronic", total=D("4000") * W, basic=D("3188.17") * W),
        _claim(r, visit="outpatient", total=D("7000") * W, basic=D("6107.47") * W),
        # reversed and after the report date: not counted
        _claim(e, scheme="employee", total=D("100") * W, basic=D("50") * W, status=ClaimStatus.REVERSED),
        _claim(e, scheme="employee", total=D("100") * W, basic=D("50") * W, on=date(2021, 11, 5)),
    ])
    FundEntry.objects.bulk_create([
        _entry(shiyan, "employee", "opening", "34035.02"),
        _entry(shiyan, "employee", "premium", "12205.38"), _entry(shiyan, "employee", "subsidy", "3291.72"),
        _entry(shiyan, "employee", "interest", "256.42"), _entry(shiyan, "employee", "account_in", "48"),
        _entry(shiyan, "employee", "pharmacy", "3030.74"), _entry(shiyan, "employee", "maternity_med", "118.95"),
        _entry(shiyan, "employee", "maternity_pay", "317.66"), _entry(shiyan, "employee", "transfer_out", "97.37"),
        _entry(shiyan, "employee", "vaccination", "60.44"), _entry(shiyan, "employee", "vaccine_buy", "401.79"),
        _entry(shiyan, "resident", "opening", "32731.56"),
        _entry(shiyan, "resident", "premium", "14139.6"), _entry(shiyan, "resident", "subsidy", "32906.42"),
        _entry(shiyan, "resident", "interest", "580.45"), _entry(shiyan, "resident", "transfer_in", "5.78"),
        _entry(shiyan, "resident", "critical_prem", "3904.03"), _entry(shiyan, "resident", "vaccination", "427.29"),
        _entry(shiyan, "resident", "vaccine_buy", "3577.23"),
        _entry(shiyan, "assistance", "opening", "1547.27"), _entry(shiyan, "assistance", "subsidy", "1084.37"),
    ])
    account = PersonalAccount.objects.create(person=e, opened_on=date(2021, 1, 1), balance=D("15011.53") * W)
    AccountEntry.objects.create(account=account, kind="credit", amount=D("15011.53") * W,
                                balance_after=D("15011.53") * W, on=date(2021, 1, 1))
    return shiyan


def test_fund_statement_reproduces_zhangshu_2021(zhangshu_2021):
    """Employee fund: income 15 801.52万, expense 14 118.67万, current 1 682.85万, accumulated
    35 717.87万 = pooling 20 706.34万 + accounts 15 011.53万; capacity 20 706.34 ÷ (14 118.67
    ÷ 10) = 14.67 → 14.6 (cut, the issue's example; rounding would show 14.7).  Resident:
    income 47 632.25万, expense 37 332.66万 (the critical-illness premium, not the insurer's
    payments), current 10 299.59万, accumulated 43 031.15万 ⇒ 43 031.15 ÷ 3 733.266 = 11.53 →
    11.5.  Assistance: income 1 084.37万, expense 1 588.46万, current −504.09万, accumulated
    1 043.18万."""
    report = reports.fund_statement(year=2021, as_of=date(2021, 10, 31))
    funds = {x["fund"]: x for x in report["funds"]}
    emp, res, ast = funds["employee"], funds["resident"], funds["assistance"]
    assert emp["income_total"] == D("15801.52") * W and emp["expense_total"] == D("14118.67") * W
    assert emp["current_balance"] == D("1682.85") * W and emp["accumulated_balance"] == D("35717.87") * W
    assert emp["pooling_balance"] == D("20706.34") * W and emp["personal_account_balance"] == D("15011.53") * W
    assert emp["months_of_capacity"] == D("14.6")
    expense = {x["item"]: x["amount"] for x in emp["expense"]}
    assert expense["住院支出"] == D("6467.84") * W and expense["定点药店药费"] == D("3030.74") * W
    assert res["income_total"] == D("47632.25") * W and res["expense_total"] == D("37332.66") * W
    assert res["current_balance"] == D("10299.59") * W and res["accumulated_balance"] == D("43031.15") * W
    assert res["months_of_capacity"] == D("11.5")
    assert {x["item"]: x["amount"] for x in res["expense"]}["大病保险保费支出"] == D("3904.03") * W
    assert res["critical_paid_by_insurer"] == D("500") * W
    assert ast["income_total"] == D("1084.37") * W and ast["expense_total"] == D("1588.46") * W
    assert ast["current_balance"] == D("-504.09") * W and ast["accumulated_balance"] == D("1043.18") * W
    assert report["chart_series"][0]["months_of_capacity"] == D("14.6")


def test_the_old_fund_report_cuts_months_too(zhangshu_2021):
    """The monthly fund report (selectors.fund_report) no longer rounds: any capacity it shows
    is cut to one decimal."""
    from claims import selectors

    assert reports.cut_months(D("20706.34"), D("14118.67"), 10) == D("14.6")
    assert reports.cut_months(D("43031.15"), D("37332.66"), 10) == D("11.5")
    report = selectors.fund_report(year=2021, as_of=date(2021, 10, 31))
    for fund in report["funds"]:
        if fund["months_of_capacity"] is not None:
            exact = fund["accumulated_balance"] * fund["months_elapsed"] / fund["expense"]
            assert fund["months_of_capacity"] <= exact < fund["months_of_capacity"] + D("0.1")


def _spread(total: D, n: int) -> list[D]:
    each = (total / n).quantize(D("0.01"))
    return [total - each * (n - 1)] + [each] * (n - 1)


def test_assistance_statement_reproduces_yicheng_2024(yicheng):
    """000 问题二, 2024-01 – 2024-10: 门诊救助 19 646 人次 250万元, 住院医疗救助 6 547 人次
    695万元, 因病致贫救助 4 人次 9万元; total 954万元."""
    p, q = f.person(yicheng), f.person(yicheng)
    claims = []
    days = [date(2024, 1, 1) + timedelta(days=i % 300) for i in range(19646)]
    for day, amount in zip(days, _spread(D("2500000"), 19646)):
        claims.append(_claim(p, visit="chronic", on=day, total=amount * 3, assistance=amount, category=3))
    for i, amount in enumerate(_spread(D("6950000"), 6547)):
        claims.append(_claim(q, on=date(2024, 1, 1) + timedelta(days=i % 300), total=amount * 3,
                             assistance=amount, category=1))
    for amount in _spread(D("90000"), 4):
        claims.append(_claim(q, on=date(2024, 5, 1), total=amount * 2, assistance=amount, category=4))
    claims += [_claim(q, on=date(2024, 11, 2), total="1000", assistance="500", category=1),
               _claim(q, on=date(2024, 6, 2), total="1000", assistance="500", category=1, status=ClaimStatus.REVERSED),
               _claim(q, on=date(2024, 6, 2), total="1000", basic="700")]
    Claim.objects.bulk_create(claims, batch_size=2000)
    report = reports.assistance_statement(year=2024, region=yicheng.city, through=date(2024, 10, 31))
    rows = {r["group"]: r for r in report["by_group"]}
    assert (rows["outpatient"]["visits"], rows["outpatient"]["amount_wan"]) == (19646, D("250.00"))
    assert (rows["inpatient"]["visits"], rows["inpatient"]["amount_wan"]) == (6547, D("695.00"))
    assert (rows["illness_poverty"]["visits"], rows["illness_poverty"]["amount_wan"]) == (4, D("9.00"))
    assert report["amount_wan"] == D("954.00") and report["visits"] == 26197


def test_escaped_poverty_ratio_reproduces_zhangshu_2021(shiyan):
    """001 (六): 脱贫人口住院 3 510 人次, 医疗总费用 3 272.78万元, 总报销 2 959.59万元 ⇒
    2 959.59 ÷ 3 272.78 = 90.43 %.  A claim of a person without the identity, or dated before
    it, does not count."""
    poor = f.person(shiyan)
    f.identity(poor, "stable_escaped", valid_from=date(2021, 1, 1))
    other = f.person(shiyan)
    totals, paid = _spread(D("32727800"), 3510), _spread(D("29595900"), 3510)
    claims = [_claim(poor, on=date(2021, 1, 1) + timedelta(days=i % 300), total=t, basic=b)
              for i, (t, b) in enumerate(zip(totals, paid))]
    claims.append(_claim(other, total="10000", basic="1000"))
    Claim.objects.bulk_create(claims, batch_size=2000)
    late = f.person(shiyan)
    f.identity(late, "stable_escaped", valid_from=date(2021, 9, 1))
    Claim.objects.bulk_create([_claim(late, on=date(2021, 3, 1), total="10000", basic="1000")])
    report = reports.escaped_poverty_ratio(year=2021, region=shiyan.city, through=date(2021, 10, 31))
    assert report["visits"] == 3510
    assert report["total_cost_wan"] == D("3272.78") and report["reimbursed_wan"] == D("2959.59")
    assert report["ratio_percent"] == D("90.43")


def test_subsidy_statement_reproduces_yicheng_2024(yicheng):
    """000: 2024年度全区医疗救助资助参保10 577人, 资助参保金额401.93万元 = 10 577 × 380 =
    4 019 260 元 → 401.93万元."""
    village = yicheng.village(0, 0)
    persons = Person.objects.bulk_create([
        Person(id_number=make_id_number(yicheng.county.code, date(1950, 1, 1) + timedelta(days=i // 400),
                                        i % 400 + 1), name="资助", sex="M",
               birth_date=date(1950, 1, 1) + timedelta(days=i // 400), village=village, township=village.parent)
        for i in range(10577)], batch_size=2000)
    kinds = ["subsistence" if i < 5000 else "monitored" for i in range(10577)]
    identities = Identity.objects.bulk_create([
        Identity(person=p, kind=k, valid_from=date(2023, 1, 1), source="civil_affairs")
        for p, k in zip(persons, kinds)], batch_size=2000)
    batch = SubsidyBatch.objects.create(region=yicheng.city, year=2024, status=BatchStatus.CONFIRMED)
    SubsidyLine.objects.bulk_create([
        SubsidyLine(batch=batch, person=p, year=2024, township=village.parent, identity=ident, kind=ident.kind,
                    rate=D("1"), premium=D("380"), amount=D("380")) for p, ident in zip(persons, identities)],
        batch_size=2000)
    draft = SubsidyBatch.objects.create(region=yicheng.city, year=2025, status=BatchStatus.DRAFT)
    SubsidyLine.objects.create(batch=draft, person=persons[0], year=2025, township=village.parent,
                               identity=identities[0], kind="subsistence", rate=D("1"), premium=D("400"),
                               amount=D("400"))
    report = reports.subsidy_statement(year=2024, region=yicheng.city)
    assert report["persons"] == 10577 and report["amount"] == D("4019260.00") and report["amount_wan"] == D("401.93")
    by_kind = {r["kind"]: r for r in report["by_kind"]}
    assert by_kind["subsistence"]["persons"] == 5000 and by_kind["monitored"]["amount"] == D("5577") * 380


def test_admin_page_shows_tables_chart_series_and_exports_xlsx(client, staff, zhangshu_2021):
    from io import BytesIO

    from django.urls import reverse
    from openpyxl import load_workbook

    client.force_login(staff["supervisor"])
    url = reverse("admin:claims_published_reports")
    page = client.get(url, {"report": "funds", "year": "2021", "through": "2021-10-31"})
    assert page.status_code == 200
    assert page.context["region"] == zhangshu_2021.city, page.context["region"]
    assert "14.6" in page.content.decode() and "207063400.00" in page.content.decode()
    assert page.context["chart_series"][0]["months_of_capacity"] == D("14.6")
    export = client.get(url, {"report": "funds", "year": "2021", "through": "2021-10-31", "format": "xlsx"})
    assert export.status_code == 200 and export["Content-Type"].startswith("application/vnd.openxml")
    sheet = load_workbook(BytesIO(export.content)).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    # yibao_site.xlsx: the table's columns head the sheet; money is a number Excel can sum
    assert rows[0][0] == "基金" and rows[1][-1] == "14.6" and rows[1][5] == 207063400
    for kind in ("assistance", "poverty", "subsidy", "nonsense"):
        assert client.get(url, {"report": kind, "year": "x"}).status_code == 200


def test_api_serves_each_report(api, staff, zhangshu_2021):
    res = api(staff["finance"]).get("/api/v1/reports/funds/", {"year": 2021, "through": "2021-10-31"})
    assert res.status_code == 200
    employee = res.data["funds"][0]
    assert employee["months_of_capacity"] == "14.60" and employee["pooling_balance"] == "207063400.00"
    assert api(staff["finance"]).get("/api/v1/reports/unknown/", {"year": 2021}).status_code == 404
    assert api(staff["finance"]).get("/api/v1/reports/funds/", {"year": "x"}).status_code == 400
    for kind in ("assistance", "poverty", "subsidy"):
        assert api(staff["reviewer"]).get(f"/api/v1/reports/{kind}/", {"year": 2021}).status_code == 200
