"""Never a 500 for any input: the cases a hostile tester found, and the one digit/money rule."""
from datetime import date
from decimal import Decimal

import pytest

from claims.models import Claim
from claims.tests import factories as f
from yibao_site.inputs import MONEY_MAX, clean_string, excel_safe, is_formula, parse_money

CLAIM = {"visit_type": "inpatient", "hospital_level": 2, "service_date": "2024-06-01", "total_cost": "15000.00",
         "policy_scope_cost": "12000.00", "in_province": True, "referred": False}


@pytest.fixture
def person(shiyan):
    return f.insured(shiyan, township=0)


def _post(client, url, body):
    return client.post(url, body, format="json")


def test_a_huge_claim_for_a_person_with_earlier_claims_is_a_400_not_an_overflow(api, staff, person):
    client = api(staff["clerk"])
    assert _post(client, "/api/v1/claims/", {**CLAIM, "person": person.id_number}).status_code == 201
    res = _post(client, "/api/v1/claims/", {**CLAIM, "person": person.id_number, "service_date": "2024-07-01",
                                            "total_cost": "999999999999.99", "policy_scope_cost": "1.00"})
    assert res.status_code == 400 and "total_cost" in res.json(), res.content
    assert Claim.objects.count() == 1


def test_the_largest_allowed_claim_still_fits_the_ledger(api, staff, person):
    """Two claims of 99 999 999.99 each: the year's ledger holds 199 999 999.98 (14 digits)."""
    client = api(staff["clerk"])
    for day in ("2024-06-01", "2024-07-01"):
        res = _post(client, "/api/v1/claims/", {**CLAIM, "person": person.id_number, "service_date": day,
                                                "total_cost": str(MONEY_MAX), "policy_scope_cost": str(MONEY_MAX)})
        assert res.status_code == 201, res.content


def test_money_as_a_json_number_is_refused_saying_why(api, staff, person):
    res = _post(api(staff["clerk"]), "/api/v1/claims/", {**CLAIM, "person": person.id_number, "total_cost": 15000})
    assert res.status_code == 400
    assert "JSON 数字" in res.json()["total_cost"][0]


def test_full_width_digits_mean_the_same_in_money_dates_and_levels(api, staff, person):
    body = {**CLAIM, "person": person.id_number, "hospital_level": "２", "service_date": "２０２４－０６－０１",
            "total_cost": "１５０００．００", "policy_scope_cost": "１２０００"}
    res = _post(api(staff["clerk"]), "/api/v1/claims/", body)
    assert res.status_code == 201, res.content
    assert res.json()["basic_paid"] == "8625.00"  # (12000 − 500) × 0.75, as with ASCII digits


def test_arabic_indic_digits_are_refused_everywhere(api, staff, person):
    res = _post(api(staff["clerk"]), "/api/v1/claims/", {**CLAIM, "person": person.id_number,
                                                         "total_cost": "١٥٠٠٠"})
    assert res.status_code == 400 and "total_cost" in res.json()


@pytest.mark.parametrize("field", ["person", "visit_type", "service_date"])
def test_a_nul_byte_in_any_field_is_a_400(api, staff, person, field):
    body = {**CLAIM, "person": person.id_number}
    body[field] = str(body[field]) + "\x00"
    res = _post(api(staff["clerk"]), "/api/v1/claims/", body)
    assert res.status_code == 400 and field in res.json(), res.content


def test_a_nul_byte_in_a_warning_run_region_is_a_400(api, staff, shiyan):
    res = _post(api(staff["supervisor"]), "/api/v1/warning-runs/", {"region": "420300\x00", "month": "2024-05"})
    assert res.status_code == 400 and "region" in res.json()


def test_a_nul_byte_in_the_query_string_is_a_400(api, staff, shiyan):
    res = api(staff["supervisor"]).get("/api/v1/persons/?search=%00abc")
    assert res.status_code == 400 and "detail" in res.json()


def test_a_year_zero_month_is_a_400(api, staff, shiyan):
    res = _post(api(staff["finance"]), "/api/v1/enrollments/account-credits/", {"month": "0000-01"})
    assert res.status_code == 400 and "month" in res.json(), res.content


def test_a_payment_run_in_year_one_is_a_400(api, staff, shiyan):
    res = _post(api(staff["finance"]), "/api/v1/payment-runs/", {"as_of": "0001-01-01"})
    assert res.status_code == 400 and "as_of" in res.json(), res.content


def test_json_nested_100000_deep_is_a_400_in_json(api, staff, shiyan):
    body = "[" * 100_000 + "]" * 100_000
    res = api(staff["supervisor"]).post("/api/v1/regions/", body, content_type="application/json")
    assert res.status_code == 400 and "嵌套" in res.json()["detail"]


def test_json_nested_a_little_too_deep_is_a_400(api, staff, shiyan):
    body = '{"code": ' + "[" * 25 + "]" * 25 + "}"
    res = api(staff["supervisor"]).post("/api/v1/regions/", body, content_type="application/json")
    assert res.status_code == 400


def test_nan_literal_is_a_400(api, staff, shiyan):
    res = api(staff["supervisor"]).post("/api/v1/regions/", '{"code": NaN}', content_type="application/json")
    assert res.status_code == 400


def test_a_25_mb_body_is_a_413_in_json(api, staff, shiyan):
    body = '{"name": "' + "x" * (25 * 1024 * 1024) + '"}'
    res = api(staff["supervisor"]).post("/api/v1/regions/", body, content_type="application/json")
    assert res.status_code == 413
    assert res["Content-Type"].startswith("application/json") and "过大" in res.json()["detail"][0]


def test_a_3_mb_json_body_is_a_413(api, staff, shiyan):
    body = '{"name": "' + "x" * (3 * 1024 * 1024) + '"}'
    res = api(staff["supervisor"]).post("/api/v1/regions/", body, content_type="application/json")
    assert res.status_code == 413 and "过大" in str(res.json())


def test_the_one_money_rule():
    assert parse_money("1,234.50") == Decimal("1234.50")
    assert parse_money("１２３４．５") == Decimal("1234.50")
    assert parse_money(12, allow_number=True) == Decimal("12.00")
    for bad in ("NaN", "Infinity", "-1", "1.234", "abc", 12, 1.5, True, str(MONEY_MAX + Decimal("0.01"))):
        with pytest.raises(Exception):
            parse_money(bad)


def test_the_one_string_rule():
    assert clean_string("２０２４－０６－０１") == "2024-06-01"
    assert clean_string("张三１号") == "张三１号"  # names keep what was typed
    assert clean_string("４２０３０２１９７００３０１００１Ｘ") == "42030219700301001X"
    for bad in ("a\x00b", "\x07", "0001-01-01", "0000-01", "٣"):
        with pytest.raises(Exception):
            clean_string(bad)
    assert clean_string("line\nbreak\ttab") == "line\nbreak\ttab"


def test_formula_cells():
    for text in ("=cmd|' /C calc'!A0", "@SUM(A1)", "+A1", "-A1+1", "\t=1", "\r=1"):
        assert is_formula(text), text
        assert excel_safe(text) == "'" + text
    for text in ("-5", "+8613800000000", "张三", "", "1=1"):
        assert not is_formula(text), text
    assert excel_safe(Decimal("-5")) == Decimal("-5")


def test_dates_far_outside_the_window_are_refused_even_when_valid_iso(api, staff, person):
    res = _post(api(staff["clerk"]), "/api/v1/claims/", {**CLAIM, "person": person.id_number,
                                                         "service_date": "1800-01-01"})
    assert res.status_code == 400 and "service_date" in res.json()
    assert date(1900, 1, 1)  # the window's start (inputs.DATE_MIN)
