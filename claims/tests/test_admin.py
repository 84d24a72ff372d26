"""Staff pages: the claim list, manual reimbursement (试算 → 确认 → 结算单), fund report."""
from datetime import date
from decimal import Decimal as D

from django.urls import reverse

from claims.models import Claim, ClaimSource, ClaimStatus, FundEntry

from . import factories as f


def _manual_post(who, confirm="0", **extra):
    data = {"person": who.id_number, "visit_type": "inpatient", "hospital_level": "2",
            "service_date": "2024-06-01", "admission_date": "", "in_province": "on",
            "bills-TOTAL_FORMS": "3", "bills-INITIAL_FORMS": "0", "bills-MIN_NUM_FORMS": "0",
            "bills-MAX_NUM_FORMS": "30",
            "bills-0-number": "FP001", "bills-0-total_cost": "10000", "bills-0-policy_scope_cost": "8000",
            "bills-1-number": "FP002", "bills-1-total_cost": "5000", "bills-1-policy_scope_cost": "4000",
            "confirm": confirm}
    data.update(extra)
    return data


def test_window_clerk_previews_confirms_and_prints(client, staff, shiyan):
    """Two bills 10 000 + 5 000 (scope 8 000 + 4 000) → one claim of 15 000 / 12 000:
    basic (12 000 − 500) × 75 % = 8 625; out-of-pocket 6 375."""
    p = f.insured(shiyan)
    client.force_login(staff["clerk"])
    url = reverse("admin:claims_claim_manual")
    assert client.get(url).status_code == 200
    preview = client.post(url, _manual_post(p))
    assert preview.status_code == 200 and preview.context["preview"].basic_paid == D("8625.00")
    assert "住院起付线500元" in preview.content.decode() and not Claim.objects.exists()
    done = client.post(url, _manual_post(p, confirm="1"))
    claim = Claim.objects.get()
    assert done.status_code == 302 and done["Location"] == reverse("admin:claims_claim_slip", args=[claim.pk])
    assert claim.source == ClaimSource.MANUAL and claim.total_cost == D("15000.00")
    assert claim.breakdown["bills"][1] == {"number": "FP002", "total_cost": "5000.00", "policy_scope_cost": "4000.00"}
    slip = client.get(done["Location"]).content.decode()
    assert "医疗费用结算单" in slip and "8,625.00" in slip and "6,375.00" in slip and "FP002" in slip


def test_manual_form_errors_show_on_the_page_and_write_nothing(client, staff, shiyan):
    p = f.insured(shiyan)
    nobody = f.person(shiyan)
    client.force_login(staff["clerk"])
    url = reverse("admin:claims_claim_manual")
    res = client.post(url, _manual_post(p, **{"bills-0-policy_scope_cost": "20000"}))
    assert res.status_code == 200 and "政策范围内费用不能超过医疗总费用" in res.content.decode()
    res = client.post(url, _manual_post(nobody, confirm="1"))
    assert res.status_code == 200 and "没有有效的参保登记" in res.content.decode()
    res = client.post(url, _manual_post(p, **{"person": "123"}))
    assert "参保人不存在" in res.content.decode()
    assert not Claim.objects.exists()


def test_only_settling_roles_reach_the_manual_page(client, staff):
    for who, code in (("reviewer", 403), ("finance", 403), ("supervisor", 200)):
        client.force_login(staff[who])
        assert client.get(reverse("admin:claims_claim_manual")).status_code == code, who


def test_claim_list_detail_and_reverse_action(client, staff, shiyan):
    p = f.insured(shiyan)
    claim = f.settle(p, total="15000", scope="12000")
    client.force_login(staff["clerk"])
    changelist = reverse("admin:claims_claim_changelist")
    assert client.get(changelist).status_code == 200
    assert client.get(changelist, {"q": p.id_number, "status": "settled", "year": "2024"}).status_code == 200
    detail = client.get(reverse("admin:claims_claim_change", args=[claim.pk])).content.decode()
    assert "住院起付线500元" in detail
    res = client.post(changelist, {"action": "reverse_selected", "_selected_action": [claim.pk]})
    assert res.status_code == 302
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.REVERSED
    assert client.get(reverse("admin:claims_claim_add")).status_code == 302
    client.force_login(staff["reviewer"])
    assert client.get(changelist).status_code == 200
    res = client.post(changelist, {"action": "reverse_selected", "_selected_action": [claim.pk]})
    assert res.status_code in (302, 403)


def test_ledger_list_and_fund_entry_by_finance(client, staff, shiyan):
    p = f.insured(shiyan)
    f.settle(p, total="1000")
    client.force_login(staff["supervisor"])
    assert client.get(reverse("admin:claims_personyearledger_changelist")).status_code == 200
    client.force_login(staff["finance"])
    res = client.post(reverse("admin:claims_fundentry_add"), {
        "fund": "resident", "region": shiyan.city.pk, "month": "2024-01-01", "kind": "premium",
        "amount": "5000.00", "note": "一月个人缴费"})
    assert res.status_code == 302 and FundEntry.objects.get().amount == D("5000.00")
    client.force_login(staff["clerk"])
    assert client.get(reverse("admin:claims_fundentry_add")).status_code == 403


def test_fund_report_page(client, staff, shiyan):
    p = f.insured(shiyan)
    f.settle(p, total="15000", scope="12000", on=date(2024, 6, 1))
    client.force_login(staff["finance"])
    res = client.get(reverse("admin:claims_fund_report"), {"year": "x"})
    assert res.status_code == 200
    html = res.content.decode()
    assert "可支付月数" in html and "8,625.00" in html


def test_agents_never_reach_the_admin_pages(client, staff):
    client.force_login(staff["agent"])
    for name in ("admin:claims_claim_manual", "admin:claims_fund_report", "admin:claims_claim_changelist"):
        assert client.get(reverse(name)).status_code == 302  # to the admin login
