"""API (API.md ``warning-runs/``, ``warnings/``) and the partner departments' doors."""
import io
from datetime import date
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from assistance.early_warning import services
from assistance.early_warning.models import DeliveryStatus, PersonWarning, WarningRun, WarningStatus
from members.models import Identity

from .helpers import SYSTEM, identity, ledger, person, resident, supervisor


@pytest.fixture
def lists(shiyan):
    """February and March lists of 十堰 (lines 8 000.00 / 16 000.00):
    A monitored, township 1: Feb 8 500.00, March 8 500.00 (continuing);
    B resident, township 2: March 9 000 + 8 000 = 17 000.00 (new in March)."""
    a, b = person(shiyan, name="甲"), person(shiyan, township=1, name="乙")
    identity(a, "monitored", source="rural_revitalization")
    resident(b, 2024)
    ledger(a, 2024, m02="8500.00")
    ledger(b, 2024, m02="9000.00", m03="8000.00")
    services.warning_run(actor=SYSTEM, region=shiyan.city, month=date(2024, 2, 1))
    services.warning_run(actor=SYSTEM, region=shiyan.city, month=date(2024, 3, 1))
    return a, b


@pytest.fixture
def partner(shiyan):
    account = services.partner_account_save(actor=supervisor(), username="minzheng", department="civil_affairs",
                                            region_code=shiyan.city.code)
    return account.user


def test_a_supervisor_runs_a_month_and_posting_it_again_returns_the_same_run(shiyan, staff, api):
    p = person(shiyan)
    identity(p, "marginal")
    ledger(p, 2024, m01="8000.01")
    client = api(staff["supervisor"])
    first = client.post("/api/v1/warning-runs/", {"region": shiyan.city.code, "month": "2024-03"})
    assert first.status_code == 201, first.data
    assert (first.data["month"], first.data["count"], first.data["new_count"]) == ("2024-03", 1, 1)
    assert {d["department"]: d["status"] for d in first.data["deliveries"]} == {
        "civil_affairs": "awaiting_download", "rural_revitalization": "awaiting_download"}
    again = client.post("/api/v1/warning-runs/", {"region": shiyan.city.code, "month": "2024-03"})
    assert again.status_code == 200 and again.data == first.data
    assert WarningRun.objects.count() == 1


@pytest.mark.parametrize("body, field", [
    ({"region": "420300", "month": "2024-13"}, "month"),
    ({"region": "420300", "month": "March"}, "month"),
    ({"region": "420300", "month": ""}, "month"),
    ({"region": "420300", "month": ["2024-03"]}, "month"),
    ({"region": "420300"}, "month"),
    ({"month": "2024-03"}, "region"),
    ({"region": "999999", "month": "2024-03"}, "region"),
    ({"region": "420302001", "month": "2024-03"}, "region"),  # a township
    ({"region": "420300", "month": "2999-01"}, "month"),  # not yet ended
])
def test_bad_run_requests_are_400_with_field_errors_and_write_nothing(shiyan, staff, api, body, field):
    response = api(staff["supervisor"]).post("/api/v1/warning-runs/", body, format="json")
    assert response.status_code == 400 and field in response.data, response.data
    assert not WarningRun.objects.exists()


def test_a_month_without_the_income_parameter_is_a_400_not_a_500(shiyan, staff, api):
    """Rural income is dated from 2020: a 2020 run needs 2019's, which no pack has."""
    response = api(staff["supervisor"]).post("/api/v1/warning-runs/", {"region": "420300", "month": "2020-05"})
    assert response.status_code == 400 and "income.rural_per_capita" in str(response.data)


def test_only_a_supervisor_runs_and_agents_do_not_see_runs_or_deliveries(shiyan, staff, api):
    body = {"region": shiyan.city.code, "month": "2024-03"}
    assert api(staff["reviewer"]).post("/api/v1/warning-runs/", body).status_code == 403
    assert api(staff["agent"]).get("/api/v1/warning-runs/").status_code == 403
    assert api(staff["agent"]).get("/api/v1/warning-deliveries/").status_code == 403
    assert api().get("/api/v1/warnings/").status_code in (401, 403)
    assert api(staff["reviewer"]).get("/api/v1/warning-runs/").status_code == 200


def test_warnings_filter_by_month_and_kind(shiyan, staff, lists, api):
    a, b = lists
    client = api(staff["reviewer"])
    march = client.get("/api/v1/warnings/", {"month": "2024-03"}).data
    assert march["count"] == 2
    rows = {r["person"]: r for r in march["results"]}
    assert rows[a.id_number]["is_new"] is False and rows[b.id_number]["is_new"] is True
    assert rows[b.id_number] | {"id": None} == {
        "id": None, "run": rows[b.id_number]["run"], "person": b.id_number, "name": "乙",
        "township": shiyan.townships[1].code, "kind": "into_poverty", "month": "2024-03",
        "out_of_pocket": "17000.00", "threshold": "16000.00", "is_new": True, "status": "open",
        "determined_department": "", "determined_at": None, "identity": None, "determination_note": ""}
    feb_return = client.get("/api/v1/warnings/", {"month": "2024-02", "kind": "return_to_poverty"}).data
    assert [r["person"] for r in feb_return["results"]] == [a.id_number]
    assert client.get("/api/v1/warnings/", {"month": "2024-03", "kind": "into_poverty"}).data["count"] == 1


@pytest.mark.parametrize("query, field", [({"month": "2024-3x"}, "month"), ({"kind": "poor"}, "kind"),
                                          ({"month": "0000-00"}, "month")])
def test_a_bad_filter_is_a_400(shiyan, staff, api, query, field):
    response = api(staff["reviewer"]).get("/api/v1/warnings/", query)
    assert response.status_code == 400 and field in response.data


def test_a_township_agent_sees_only_their_own_townships_warnings(shiyan, staff, lists, api):
    a, b = lists
    client = api(staff["agent"])
    seen = client.get("/api/v1/warnings/", {"month": "2024-03"}).data
    assert [r["person"] for r in seen["results"]] == [a.id_number]
    other = PersonWarning.objects.get(person=b)
    assert client.get(f"/api/v1/warnings/{other.pk}/").status_code == 404
    assert client.post(f"/api/v1/warnings/{other.pk}/determine/", {"outcome": "rejected"}).status_code in (403, 404)


def test_a_partner_department_acknowledges_its_delivery_once(shiyan, lists, partner, api):
    run = WarningRun.objects.get(month=date(2024, 3, 1))
    mine = run.deliveries.get(department="civil_affairs")
    theirs = run.deliveries.get(department="rural_revitalization")
    client = api(partner)
    listed = client.get("/api/v1/warning-deliveries/").data
    assert {d["department"] for d in listed["results"]} == {"civil_affairs"}
    # Not yet downloaded (no endpoint): nothing to acknowledge yet.
    assert client.post(f"/api/v1/warning-deliveries/{mine.key}/acknowledge/").status_code == 400
    # Reading the list (GET) is not downloading it: still nothing to acknowledge.
    assert client.get(f"/api/v1/warning-deliveries/{mine.key}/xlsx/").status_code == 200
    assert client.post(f"/api/v1/warning-deliveries/{mine.key}/acknowledge/").status_code == 400
    download = client.post(f"/api/v1/warning-deliveries/{mine.key}/xlsx/")
    assert download.status_code == 200
    book = load_workbook(io.BytesIO(download.content))
    assert [row[0] for row in book["因病致贫预警"].iter_rows(min_row=2, values_only=True)] == [lists[1].id_number]
    assert book["因病返贫预警"].cell(2, 7).value == 8500
    first = client.post(f"/api/v1/warning-deliveries/{mine.key}/acknowledge/", {"note": "已收到"})
    assert first.status_code == 200 and first.data["acknowledged_at"]
    second = client.post(f"/api/v1/warning-deliveries/{mine.key}/acknowledge/", {"note": "再次"})
    assert second.data["acknowledged_at"] == first.data["acknowledged_at"]
    assert second.data["acknowledgement_note"] == "已收到"
    assert client.post(f"/api/v1/warning-deliveries/{theirs.key}/acknowledge/").status_code == 404
    assert client.post("/api/v1/warning-deliveries/not-a-key/acknowledge/").status_code == 404


def test_a_partner_account_can_do_nothing_else(shiyan, lists, partner, api):
    client = api(partner)
    assert client.post("/api/v1/warning-runs/", {"region": "420300", "month": "2024-04"}).status_code == 403
    assert client.get("/api/v1/warning-runs/").status_code == 403
    assert client.get("/api/v1/persons/").status_code == 403
    assert client.get("/api/v1/regions/").status_code == 403
    delivery = WarningRun.objects.get(month=date(2024, 3, 1)).deliveries.get(department="civil_affairs")
    assert client.post(f"/api/v1/warning-deliveries/{delivery.key}/redeliver/").status_code == 403


def test_a_determination_creates_the_identity_and_closes_the_persons_open_warnings(shiyan, lists, partner, api):
    """B is determined 因病致贫重病患者 (category 4) by civil affairs on 2024-04-10: identity
    valid 12 months (assistance.determination.valid_months) → 2024-04-10 … 2025-04-09."""
    a, b = lists
    warning = PersonWarning.objects.get(person=b, month=date(2024, 3, 1))
    response = api(partner).post(f"/api/v1/warnings/{warning.pk}/determine/", {
        "outcome": "approved", "identity_kind": "illness_poverty", "valid_from": "2024-04-10", "note": "民政认定"})
    assert response.status_code == 200, response.data
    assert (response.data["status"], response.data["determined_department"]) == ("determined", "civil_affairs")
    created = Identity.objects.get(person=b)
    assert (created.kind, created.source, created.valid_from, created.valid_to) == (
        "illness_poverty", "civil_affairs", date(2024, 4, 10), date(2025, 4, 9))
    assert response.data["identity"] == created.pk
    again = api(partner).post(f"/api/v1/warnings/{warning.pk}/determine/", {"outcome": "rejected", "note": "x"})
    assert again.status_code == 400
    assert PersonWarning.objects.get(person=a, month=date(2024, 3, 1)).status == WarningStatus.OPEN
    # The loop is closed: with the identity, B is no longer an ordinary resident in April.
    april, _ = services.warning_run(actor=SYSTEM, region=shiyan.city, month=date(2024, 4, 1))
    assert set(PersonWarning.objects.filter(run=april).values_list("person_id", flat=True)) == {a.pk}


def test_a_determination_closes_every_open_warning_of_the_person(shiyan, lists, staff, api):
    a, _b = lists
    march = PersonWarning.objects.get(person=a, month=date(2024, 3, 1))
    response = api(staff["supervisor"]).post(f"/api/v1/warnings/{march.pk}/determine/", {
        "outcome": "approved", "identity_kind": "marginal", "valid_from": "2024-04-01",
        "department": "rural_revitalization"})
    assert response.status_code == 200, response.data
    assert set(PersonWarning.objects.filter(person=a).values_list("month", "status")) == {
        (date(2024, 2, 1), "determined"), (date(2024, 3, 1), "determined")}
    identity_row = Identity.objects.get(pk=response.data["identity"])
    assert (identity_row.source, identity_row.valid_to) == ("rural_revitalization", None)
    assert PersonWarning.history.filter(person_id=a.pk, history_type="~").count() == 2


@pytest.mark.parametrize("body, field", [
    ({"outcome": "maybe"}, "outcome"),
    ({"outcome": "approved"}, "identity_kind"),
    ({"outcome": "approved", "identity_kind": "stable_escaped"}, "identity_kind"),  # no assistance category
    ({"outcome": "approved", "identity_kind": "nobody"}, "identity_kind"),
    ({"outcome": "approved", "identity_kind": "subsistence", "valid_from": "2024-05-01", "valid_to": "2024-04-01"},
     "valid_to"),
    ({"outcome": "rejected"}, "note"),
    ({"outcome": "approved", "identity_kind": "subsistence", "valid_from": "yesterday"}, "valid_from"),
])
def test_bad_determinations_are_400_and_change_nothing(shiyan, lists, partner, api, body, field):
    warning = PersonWarning.objects.get(person=lists[1], month=date(2024, 3, 1))
    response = api(partner).post(f"/api/v1/warnings/{warning.pk}/determine/", body, format="json")
    assert response.status_code == 400 and field in response.data, response.data
    warning.refresh_from_db()
    assert warning.status == WarningStatus.OPEN and not Identity.objects.filter(person=lists[1]).exists()


def test_staff_recording_a_determination_must_name_the_department(shiyan, lists, staff, api):
    warning = PersonWarning.objects.get(person=lists[1], month=date(2024, 3, 1))
    response = api(staff["supervisor"]).post(f"/api/v1/warnings/{warning.pk}/determine/",
                                             {"outcome": "rejected", "note": "家庭财产超标"})
    assert response.status_code == 400 and "department" in response.data
    assert api(staff["reviewer"]).post(f"/api/v1/warnings/{warning.pk}/determine/",
                                       {"outcome": "rejected", "note": "x"}).status_code == 403


def test_a_rejection_closes_only_that_warning_with_its_reason(shiyan, lists, partner, api):
    warning = PersonWarning.objects.get(person=lists[1], month=date(2024, 3, 1))
    response = api(partner).post(f"/api/v1/warnings/{warning.pk}/determine/",
                                 {"outcome": "rejected", "note": "家庭财产超过当地标准"})
    assert (response.data["status"], response.data["determination_note"]) == ("not_determined", "家庭财产超过当地标准")
    assert not Identity.objects.filter(person=lists[1]).exists()


def test_english_error_messages_on_request(shiyan, staff, api):
    response = api(staff["supervisor"], language="en").post("/api/v1/warning-runs/",
                                                             {"region": "420300", "month": "x"})
    assert response.status_code == 400 and "month" in response.data


def test_deliveries_can_be_filtered_by_unacknowledged(shiyan, lists, staff, api):
    client = api(staff["supervisor"])
    assert client.get("/api/v1/warning-deliveries/", {"acknowledged": "false"}).data["count"] == 4
    delivery = WarningRun.objects.get(month=date(2024, 2, 1)).deliveries.first()
    services.delivery_mark_downloaded(delivery=delivery, actor=staff["supervisor"])
    assert client.post(f"/api/v1/warning-deliveries/{delivery.key}/acknowledge/").status_code == 200
    assert client.get("/api/v1/warning-deliveries/", {"acknowledged": "false"}).data["count"] == 3
    assert client.get("/api/v1/warning-deliveries/", {"acknowledged": "true"}).data["count"] == 1
    assert delivery.__class__.objects.get(pk=delivery.pk).status == DeliveryStatus.DOWNLOADED


def test_the_demo_seed_builds_lists_and_is_idempotent(shiyan, staff, lists):
    """Demo: the three months before 'today' (Feb–Apr 2024 for today = 2024-05-15)."""
    from types import SimpleNamespace

    from assistance.early_warning import demo

    ctx = SimpleNamespace(today=date(2024, 5, 15), jurisdiction=shiyan, log=lambda *a: None,
                          staff={"demo_supervisor": staff["supervisor"]})
    demo.seed(ctx)
    runs = set(WarningRun.objects.values_list("month", flat=True))
    assert runs == {date(2024, 2, 1), date(2024, 3, 1), date(2024, 4, 1)}
    closed = PersonWarning.objects.exclude(status=WarningStatus.OPEN).count()
    assert closed >= 1
    before = (WarningRun.objects.count(), PersonWarning.objects.count(), Identity.objects.count())
    demo.seed(ctx)
    assert (WarningRun.objects.count(), PersonWarning.objects.count(), Identity.objects.count()) == before
