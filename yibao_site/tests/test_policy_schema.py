"""The declared policy-parameter schema: every pack key declared, bad values refused at every
door (API, admin, service, pack), and settlement trusting what it reads."""
from datetime import date

import pytest

from yibao_site.models import PolicyParameter
from yibao_site.packs import available_packs, read_pack
from yibao_site.policy import PolicyMissing, policy_snapshot
from yibao_site.policy_schema import SCHEMA, clean_value, spec_for
from yibao_site.services import policy_parameter_save

URL = "/api/v1/policy-parameters/"


def test_every_key_of_every_pack_is_declared_and_every_value_fits():
    assert set(available_packs()) >= {"shiyan-2022", "yicheng-2024"}
    for name in available_packs():
        for entry in read_pack(name)["parameters"]:  # read_pack checks each value too
            assert spec_for(entry["key"]) is not None, f"{name}: {entry['key']} has no schema entry"


def test_every_declaration_is_used_by_some_pack_key():
    keys = {e["key"] for name in available_packs() for e in read_pack(name)["parameters"]}
    unused = [s.pattern for s in SCHEMA if not any(s.regex.match(k) for k in keys)]
    assert unused == []


def test_specific_declarations_win_over_general_ones():
    assert spec_for("critical.cap.bonus_ceiling_rate").kind == "rate"
    assert spec_for("critical.cap.continuity_bonus").kind == "money"
    assert spec_for("assistance.category.orphan").kind == "count"
    assert spec_for("basic.employee.outpatient.rate.retired.l2").kind == "rate"
    assert spec_for("second_round.transitional.cap").nullable


@pytest.mark.parametrize("value, message", [
    ("NaN", "NaN"), ("Infinity", "NaN"), ("abc", "不是数字"), ("-5", "0 至 1"), ("1.5", "0 至 1"),
    ({"x": 1}, "应为"), (None, "不能为 null"), (0.85, "JSON 数字"), (True, "JSON 数字"), ("0.1234567", "6 位小数"),
])
def test_a_supervisor_cannot_post_a_rate_that_is_not_one(shiyan, staff, api, value, message):
    body = {"region": shiyan.city.code, "key": "basic.resident.inpatient.rate.l2", "value": value,
            "effective_from": "2025-01-01"}
    before = PolicyParameter.objects.count()
    res = api(staff["supervisor"]).post(URL, body, format="json")
    assert res.status_code == 400, res.data
    assert message in res.json()["value"][0]
    assert "basic.resident.inpatient.rate.l2" in res.json()["value"][0]
    assert PolicyParameter.objects.count() == before


def test_value_is_required_and_an_unknown_key_names_the_schema(shiyan, staff, api):
    client = api(staff["supervisor"])
    res = client.post(URL, {"region": shiyan.city.code, "key": "basic.resident.inpatient.rate.l2",
                            "effective_from": "2025-01-01"}, format="json")
    assert res.status_code == 400 and "value" in res.json()
    res = client.post(URL, {"region": shiyan.city.code, "key": "basic.resident.spa.rate_x", "value": "0.5",
                            "effective_from": "2025-01-01"}, format="json")
    assert res.status_code == 400
    assert "basic.resident.spa.rate_x" in res.json()["key"][0] and "policy_schema.py" in res.json()["key"][0]


def test_errors_in_english_on_request(shiyan, staff, api):
    res = api(staff["supervisor"], language="en").post(
        URL, {"region": shiyan.city.code, "key": "procurement.payment_days", "value": 0,
              "effective_from": "2025-01-01"}, format="json")
    assert res.status_code == 400
    assert "between 1 and 90" in res.json()["value"][0]


def test_good_values_are_accepted_and_full_width_digits_normalised(shiyan, staff, api):
    client = api(staff["supervisor"])
    res = client.post(URL, {"region": shiyan.city.code, "key": "basic.resident.inpatient.rate.l2",
                            "value": "０．８０", "effective_from": "2025-01-01"}, format="json")
    assert res.status_code == 201, res.data
    assert res.json()["value"] == "0.80"
    res = client.post(URL, {"region": shiyan.city.code, "key": "second_round.transitional.cap", "value": None,
                            "effective_from": "2025-01-01"}, format="json")
    assert res.status_code == 201, res.data


def test_a_county_may_override_a_county_key_but_not_a_city_wide_one(shiyan):
    policy_parameter_save(region=shiyan.county, key="procurement.payment_days", value=20,
                          effective_from=date(2025, 1, 1))
    with pytest.raises(Exception) as exc:
        policy_parameter_save(region=shiyan.county, key="members.premium.resident", value="500",
                              effective_from=date(2025, 1, 1))
    assert "市级统筹" in str(exc.value)
    with pytest.raises(Exception) as exc:
        policy_parameter_save(region=shiyan.townships[0], key="procurement.payment_days", value=20,
                              effective_from=date(2025, 1, 1))
    assert "市级或县级" in str(exc.value)


def test_codes_lists_and_month_days_are_checked():
    assert clean_value("account.relative_premium.relations", ["spouse", "child"]) == ["spouse", "child"]
    with pytest.raises(Exception, match="cousin"):
        clean_value("account.relative_premium.relations", ["spouse", "cousin"])
    with pytest.raises(Exception):
        clean_value("basic.employee.outpatient.levels", [1, 4])
    assert clean_value("members.collection_period.start", "０９-０１") == "09-01"
    with pytest.raises(Exception):
        clean_value("members.collection_period.start", "02-30")


def test_the_admin_form_refuses_a_bad_value(shiyan, staff, client):
    client.force_login(staff["supervisor"])
    res = client.post("/admin/yibao_site/policyparameter/add/", {
        "region": shiyan.city.pk, "key": "basic.resident.inpatient.rate.l2", "value": '"NaN"',
        "effective_from": "2025-01-01", "source": "", "note": ""})
    assert res.status_code == 200  # the form again, with the error
    assert "NaN" in res.content.decode()
    assert not PolicyParameter.objects.filter(key="basic.resident.inpatient.rate.l2", effective_from=date(2025, 1, 1)).exists()


def test_a_value_that_bypassed_the_schema_is_a_clear_400_not_a_500(shiyan, staff, api):
    """A row written around the service (a raw SQL fix, an old import) still cannot crash
    settlement: the snapshot refuses it naming the key."""
    PolicyParameter.objects.create(region=shiyan.city, key="critical.cap.continuity_min_years", value="abc",
                                   effective_from=date(2025, 1, 1))
    snap = policy_snapshot(shiyan.city, date(2025, 6, 1))
    with pytest.raises(PolicyMissing, match="critical.cap.continuity_min_years"):
        snap.integer("critical.cap.continuity_min_years")
    PolicyParameter.objects.create(region=shiyan.city, key="basic.resident.inpatient.rate.l1", value="NaN",
                                   effective_from=date(2025, 1, 1))
    with pytest.raises(PolicyMissing, match="basic.resident.inpatient.rate.l1"):
        policy_snapshot(shiyan.city, date(2025, 6, 1)).decimal("basic.resident.inpatient.rate.l1")


def test_a_missing_parameter_at_settlement_is_a_400_naming_the_key(shiyan, staff, api):
    from claims.tests import factories as f

    person = f.insured(shiyan, township=0)
    PolicyParameter.objects.filter(key="basic.resident.inpatient.rate.l2").delete()
    res = api(staff["clerk"]).post("/api/v1/claims/", {
        "person": person.id_number, "visit_type": "inpatient", "hospital_level": 2, "service_date": "2024-06-01",
        "total_cost": "15000.00", "policy_scope_cost": "12000.00", "in_province": True, "referred": False},
        format="json")
    assert res.status_code == 400, res.content
    assert "basic.resident.inpatient.rate.l2" in str(res.json())
