from datetime import date

from members import services
from members.models import Enrollment, Person
from yibao_site.testing import make_id_number

from .factories import register


def test_clerk_registers_a_person_and_derived_fields_are_read_only(shiyan, staff, api):
    idn = make_id_number("420302", date(1990, 1, 31), 3, "F")
    r = api(staff["clerk"]).post("/api/v1/persons/", {"id_number": idn, "name": "李四", "village": shiyan.village().code,
                                                     "sex": "M", "birth_date": "2000-01-01"})
    assert r.status_code == 201, r.data
    assert (r.data["sex"], r.data["birth_date"], r.data["township"]) == ("F", "1990-01-31", shiyan.townships[0].code)


def test_bad_person_input_is_a_400_with_field_errors_and_nothing_written(shiyan, staff, api):
    client = api(staff["clerk"])
    r = client.post("/api/v1/persons/", {"id_number": "420302199001310017", "name": "", "village": "x"})
    assert r.status_code == 400 and {"id_number", "name"} <= set(r.data)
    r = client.post("/api/v1/persons/", {"id_number": ["a"], "name": {"x": 1}, "village": None})
    assert r.status_code == 400
    assert Person.objects.count() == 0


def test_english_messages_on_request(shiyan, staff, api):
    r = api(staff["clerk"], language="en").post("/api/v1/persons/", {"id_number": "1", "name": "a",
                                                                     "village": shiyan.village().code})
    assert r.status_code == 400 and "id_number" in r.data


def test_agent_sees_only_own_township_and_cannot_write(shiyan, staff, api):
    mine = register(shiyan, township=0)
    other = register(shiyan, township=1)
    client = api(staff["agent"])
    r = client.get("/api/v1/persons/")
    assert [p["name"] for p in r.data["results"]] == [mine.name] and r.data["count"] == 1
    assert client.get(f"/api/v1/persons/{other.id_number}/").status_code == 404
    assert client.get(f"/api/v1/persons/{mine.id_number}/").status_code == 200
    r = client.post("/api/v1/persons/", {"id_number": make_id_number("420302", date(1990, 1, 1)), "name": "x",
                                         "village": shiyan.village().code})
    assert r.status_code == 403
    assert client.get(f"/api/v1/persons/{other.id_number}/relatives/").status_code == 404


def test_ids_masked_in_lists_for_roles_that_do_not_need_them(shiyan, staff, api):
    p = register(shiyan)
    masked = p.id_number[:6] + "********" + p.id_number[-4:]
    assert api(staff["reviewer"]).get("/api/v1/persons/").data["results"][0]["id_number"] == masked
    assert api(staff["agent"]).get("/api/v1/persons/").data["results"][0]["id_number"] == masked
    assert api(staff["clerk"]).get("/api/v1/persons/").data["results"][0]["id_number"] == p.id_number
    assert api(staff["reviewer"]).get(f"/api/v1/persons/{p.id_number}/").data["id_number"] == p.id_number


def test_search_by_id_prefix_or_name(shiyan, staff, api):
    p = register(shiyan, name="欧阳娜娜")
    register(shiyan, name="张三")
    client = api(staff["clerk"])
    assert client.get("/api/v1/persons/", {"search": "欧阳"}).data["count"] == 1
    assert client.get("/api/v1/persons/", {"search": p.id_number}).data["count"] == 1
    assert client.get("/api/v1/persons/", {"search": "42"}).data["count"] == 0  # too short to search


def test_relatives_endpoint(shiyan, staff, api):
    a, b = register(shiyan, birth=date(1960, 1, 1)), register(shiyan, birth=date(1990, 1, 1))
    client = api(staff["clerk"])
    r = client.post(f"/api/v1/persons/{a.id_number}/relatives/", {"relative": b.id_number, "relation": "child"})
    assert r.status_code == 201, r.data
    r = client.post(f"/api/v1/persons/{a.id_number}/relatives/", {"relative": b.id_number, "relation": "child"})
    assert r.status_code == 400
    listed = client.get(f"/api/v1/persons/{a.id_number}/relatives/").data  # paginated like every list (API.md)
    assert listed["count"] == 1 and listed["results"][0]["relative"] == b.id_number


def test_enrollment_create_computes_read_only_fields(shiyan, staff, api):
    p = register(shiyan)
    client = api(staff["clerk"])
    r = client.post("/api/v1/enrollments/", {"person": p.id_number, "year": 2025, "scheme": "resident",
                                             "paid_on": "2025-02-10", "waiting_period": False,
                                             "benefit_start": "2025-01-01"})
    assert r.status_code == 201, r.data
    assert (r.data["amount"], r.data["benefit_start"], r.data["waiting_period"], r.data["critical_illness_cap"]) == (
        "400.00", "2025-05-10", True, "400000.00")
    r = client.post("/api/v1/enrollments/", {"person": p.id_number, "year": 2025, "scheme": "resident",
                                             "paid_on": "2025-02-10"})
    assert r.status_code == 400
    r = client.post("/api/v1/enrollments/", {"person": p.id_number, "year": 2019, "scheme": "resident",
                                             "paid_on": "2018-10-10"})
    assert r.status_code == 400  # no policy for 2019: a clear 400, not a 500
    r = client.post("/api/v1/enrollments/", {"person": "420302199001010000", "year": 2025, "scheme": "resident",
                                             "paid_on": "2025-02-10", "amount": 1.5})
    assert r.status_code == 400 and "person" in r.data
    assert Enrollment.objects.count() == 1


def test_agent_cannot_enrol_someone_of_another_township(shiyan, staff, api):
    other = register(shiyan, township=1)
    r = api(staff["agent"]).get("/api/v1/enrollments/", {"person": other.id_number})
    assert r.data["count"] == 0


def test_identities_endpoint_and_filters(shiyan, staff, api):
    p = register(shiyan)
    client = api(staff["clerk"])
    r = client.post("/api/v1/identities/", {"person": p.id_number, "kind": "orphan", "valid_from": "2024-01-01",
                                            "source": "civil_affairs"})
    assert r.status_code == 201, r.data
    assert r.data["valid_to"] is None
    assert client.get("/api/v1/identities/", {"valid_on": "2024-06-01", "kind": "orphan"}).data["count"] == 1
    assert client.get("/api/v1/identities/", {"valid_on": "2023-06-01"}).data["count"] == 0
    r = client.post("/api/v1/identities/", {"person": p.id_number, "kind": "orphan", "valid_from": "2024-05-01",
                                            "source": "civil_affairs"})
    assert r.status_code == 400


def test_subsidy_batch_build_confirm_export(shiyan, staff, api):
    p = register(shiyan)
    services.identity_add(actor=staff["clerk"], person=p, kind="subsistence", valid_from=date(2020, 1, 1), source="civil_affairs")
    clerk = api(staff["clerk"])
    r = clerk.post("/api/v1/subsidy-batches/", {"region": shiyan.city.code, "year": 2024})
    assert r.status_code == 201, r.data
    assert (r.data["count"], r.data["total_amount"]) == (1, "342.00")
    assert r.data["lines"][0] == {"person": p.id_number, "name": p.name, "township": shiyan.townships[0].code,
                                  "kind": "subsistence", "rate": "0.9000", "premium": "380.00", "amount": "342.00"}
    batch_id = r.data["id"]
    assert clerk.post(f"/api/v1/subsidy-batches/{batch_id}/confirm/").status_code == 403
    assert api(staff["supervisor"]).post(f"/api/v1/subsidy-batches/{batch_id}/confirm/").status_code == 200
    r = clerk.post("/api/v1/subsidy-batches/", {"region": shiyan.city.code, "year": 2024})
    assert r.status_code == 400
    r = api(staff["finance"]).get(f"/api/v1/subsidy-batches/{batch_id}/export/")
    assert r.status_code == 200 and r["Content-Type"].startswith("application/vnd.openxmlformats")
    assert api(staff["agent"]).get("/api/v1/subsidy-batches/").status_code == 403
    assert api(staff["reviewer"]).get(f"/api/v1/subsidy-batches/{batch_id}/").data["lines"][0]["person"].count("*") == 8


def test_pay_relative_premium_endpoint(shiyan, staff, api):
    from decimal import Decimal

    parent = register(shiyan, birth=date(1970, 1, 1))
    child = register(shiyan, birth=date(2000, 1, 1))
    services.enrollment_create(actor=staff["clerk"], person=parent, year=2024, scheme="employee", employee_status="in_service",
                               paid_on=date(2024, 1, 5), contribution_base=Decimal("20000"))
    services.relative_add(actor=staff["clerk"], person=parent, relative=child, relation="child")
    r = api(staff["finance"]).post("/api/v1/enrollments/account-credits/", {"month": "2024-01"})
    assert r.data["amount"] == "400.00"
    r = api(staff["clerk"]).post(f"/api/v1/persons/{parent.id_number}/pay-relative-premium/",
                                 {"relative": child.id_number, "year": 2024, "paid_on": "2024-02-01"})
    assert r.status_code == 201, r.data
    r = api(staff["clerk"]).get(f"/api/v1/persons/{parent.id_number}/account/")
    assert r.data["balance"] == "20.00"
    r = api(staff["finance"]).post("/api/v1/enrollments/account-credits/", {"month": "2024-13"})
    assert r.status_code == 400


def test_person_detail_read_as_a_value_row_answers_as_the_model_read(shiyan, staff, api, monkeypatch):
    """PersonViewSet.retrieve reads one value tuple instead of a model instance: byte for byte
    the generic retrieve's answers (200 and 404, lower-case X, a foreign ID, a blank phone) for
    the clerk, a township agent and the supervisor, in both languages."""
    from rest_framework import mixins

    from members.api import PersonViewSet

    people = [register(shiyan, township=0), register(shiyan, township=1, sex="F", name="王五")]
    Person.objects.filter(pk=people[1].pk).update(phone="13800000000", household_no="H-1")
    xid = make_id_number("420302", date(1975, 3, 3), 9, "M")
    if xid.endswith("X"):
        people.append(services.person_register(actor=staff["clerk"], id_number=xid, name="赵六",
                                               village_code=shiyan.village(0, 0).code))
    urls = [f"/api/v1/persons/{p.id_number}/" for p in people]
    urls += [u.lower() for u in urls] + ["/api/v1/persons/420302199001310017/", f"{urls[0]}?name=nobody"]

    def answers():
        out = []
        for role in ("clerk", "agent", "supervisor"):
            for language in ("zh-hans", "en"):
                client = api(staff[role], language=language)
                out += [(role, language, u, r.status_code, r.content) for u in urls for r in [client.get(u)]]
        return out

    new = answers()
    monkeypatch.setattr(PersonViewSet, "retrieve", mixins.RetrieveModelMixin.retrieve)
    old = answers()
    assert new == old
    assert {(role, code) for role, _l, _u, code, _c in new} >= {("clerk", 200), ("agent", 404), ("agent", 200),
                                                               ("supervisor", 200), ("clerk", 404)}


def test_id_masking_per_role_in_lists_decided_once_a_page(shiyan, staff, api, monkeypatch):
    """Who sees what is unchanged (whole for the window clerk and the supervisor, masked for
    everyone else, whole in a detail), and the decision is made once for a page of three rows,
    not once per row."""
    from yibao_site import idnumbers

    people = [register(shiyan, seq=s) for s in (11, 12, 13)]
    for p in people:
        services.enrollment_create(person=p, year=2026, scheme="resident", paid_on=date(2025, 10, 1), actor=staff["clerk"])
    whole = [p.id_number for p in people]
    masked = [i[:6] + "********" + i[-4:] for i in whole]
    calls = []
    real = idnumbers.sees_full_ids
    monkeypatch.setattr(idnumbers, "sees_full_ids", lambda user: calls.append(user) or real(user))
    for role, expected in [("clerk", whole), ("supervisor", whole), ("agent", masked), ("reviewer", masked),
                           ("finance", masked)]:
        client = api(staff[role])
        calls.clear()
        listed = client.get("/api/v1/persons/", {"ordering": "id"}).data["results"]
        assert [r["id_number"] for r in listed] == expected, role
        assert len(calls) == 1, role
        calls.clear()
        listed = client.get("/api/v1/enrollments/", {"ordering": "id"}).data["results"]
        assert [r["person"] for r in listed] == expected, role
        assert len(calls) == 1, role
        assert client.get(f"/api/v1/persons/{whole[0]}/").data["id_number"] == whole[0], role
    assert api(staff["agent_b"]).get("/api/v1/persons/").data["results"] == []
