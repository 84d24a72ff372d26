"""The procurement API (API.md): natural keys, roles, errors, the payment run on demand."""
from datetime import date
from io import BytesIO

import pytest
from openpyxl import load_workbook

from procurement.models import Delivery, DeliveryStatus, PaymentRun
from procurement.testing import bank_confirms


@pytest.fixture
def fin(api, staff):
    return api(staff["finance"])


def _post_delivery(client, **kw):
    body = {"hospital": "H001", "supplier": "S001", "product": "P001", "quantity": 100, "amount": "1234.00",
            "delivered_on": "2024-03-01"} | kw
    return client.post("/api/v1/deliveries/", body, format="json")


def test_finance_registers_accepts_and_pays_a_delivery_end_to_end(world, fin):
    """100 × 12.34 = 1 234.00, accepted 2 Mar 2024 → due 1 Apr; the 10 Mar run pays it."""
    r = _post_delivery(fin)
    assert r.status_code == 201, r.json()
    body = r.json()
    assert body["hospital"] == "H001" and body["status"] == "delivered" and body["unit_price"] == "12.34"
    r = fin.post(f"/api/v1/deliveries/{body['id']}/accept/", {"accepted_on": "2024-03-02", "quantity": 100})
    assert r.status_code == 200, r.json()
    assert (r.json()["status"], r.json()["due_on"], r.json()["accepted_amount"]) == ("accepted", "2024-04-01", "1234.00")
    r = fin.post("/api/v1/payment-runs/", {"as_of": "2024-03-10"})
    assert r.status_code == 201, r.json()
    assert (r.json()["count"], r.json()["total_amount"], r.json()["as_of"]) == (1, "1234.00", "2024-03-10")
    again = fin.post("/api/v1/payment-runs/", {"as_of": "2024-03-10"})
    assert again.status_code == 200 and again.json()["id"] == r.json()["id"]
    d = fin.get(f"/api/v1/deliveries/{body['id']}/").json()
    # The run instructs the bank; the delivery is paid when the bank confirms (issue 17).
    assert d["status"] == "instructed" and d["payment"]["state"] == "instructed" and d["payment"]["paid_on"] is None
    assert fin.get(f"/api/v1/payment-runs/{r.json()['id']}/").json()["deductions"] == []
    bank_confirms(PaymentRun.objects.get(pk=r.json()["id"]))
    d = fin.get(f"/api/v1/deliveries/{body['id']}/").json()
    assert d["status"] == "paid" and d["payment"]["order"] == "ZF20240310-S001" and d["payment"]["days_to_pay"] == 8
    detail = fin.get(f"/api/v1/payment-runs/{r.json()['id']}/").json()
    assert detail["orders"][0]["amount"] == "1234.00" and detail["deductions"] == [
        {"hospital": "H001", "count": 1, "amount": "1234.00"}]
    order = fin.get(f"/api/v1/payment-orders/{detail['orders'][0]['id']}/").json()
    assert order["lines"][0]["delivery"] == body["id"]
    rv = fin.post(f"/api/v1/payment-runs/{r.json()['id']}/review/", {"note": "ok"})
    assert rv.status_code == 200 and rv.json()["reviewed_by"] == "finance"


def test_partial_acceptance_and_reconcile_through_the_api(world, fin):
    d = _post_delivery(fin).json()
    r = fin.post(f"/api/v1/deliveries/{d['id']}/accept/", {"accepted_on": "2024-03-02", "quantity": 80})
    assert (r.json()["status"], r.json()["mismatch"]) == ("held", "246.80")
    r = fin.post(f"/api/v1/deliveries/{d['id']}/reconcile/", {"amount": "987.00"})
    assert r.status_code == 400 and "amount" in r.json()
    r = fin.post(f"/api/v1/deliveries/{d['id']}/reconcile/", {"amount": "987.20", "reason": "供应商红冲重开"})
    assert r.status_code == 200 and r.json()["status"] == "accepted"


BAD_DELIVERIES = [
    ({"hospital": "NOPE"}, "hospital"),
    ({"product": "P002"}, "supplier"),
    ({"quantity": 0}, "quantity"),
    ({"quantity": "many"}, "quantity"),
    ({"amount": "12.345"}, "amount"),
    ({"amount": "-1"}, "amount"),
    ({"amount": "1e20"}, "amount"),
    ({"delivered_on": "2024-02-30"}, "delivered_on"),
    ({"delivered_on": "2999-01-01"}, "delivered_on"),
    ({"order": 999999}, "order"),
    ({"hospital": ["H001"], "quantity": {"x": 1}}, "hospital"),
]


def test_bad_delivery_input_is_a_400_with_field_errors_and_writes_nothing(world, fin):
    for body, field in BAD_DELIVERIES:
        r = _post_delivery(fin, **body)
        assert r.status_code == 400 and field in r.json(), (body, r.json())
    assert not Delivery.objects.exists()


def test_duplicate_invoice_is_a_400(world, fin):
    assert _post_delivery(fin, invoice_number="F-1").status_code == 201
    r = _post_delivery(fin, invoice_number="F-1")
    assert r.status_code == 400 and "invoice_number" in r.json()


def test_bad_payment_run_input_is_a_400(world, fin):
    for body in [{}, {"as_of": "yesterday"}, {"as_of": "2999-01-01"}, {"as_of": None}, {"as_of": ["2024-01-01"]}]:
        r = fin.post("/api/v1/payment-runs/", body, format="json")
        assert r.status_code == 400 and "as_of" in r.json(), (body, r.json())
    assert not PaymentRun.objects.exists()


def test_bad_acceptance_is_a_400(world, fin):
    d = _post_delivery(fin).json()
    for body, field in [({"accepted_on": "2024-03-02", "quantity": 101}, "quantity"),
                        ({"accepted_on": "2024-02-01", "quantity": 1}, "accepted_on"),
                        ({"quantity": 1}, "accepted_on"), ({"accepted_on": "x", "quantity": -5}, "quantity")]:
        r = fin.post(f"/api/v1/deliveries/{d['id']}/accept/", body, format="json")
        assert r.status_code == 400 and field in r.json(), (body, r.json())
    assert Delivery.objects.get().status == DeliveryStatus.DELIVERED


def test_english_error_messages_on_request(world, api, staff):
    r = api(staff["finance"], language="en").post("/api/v1/payment-runs/", {"as_of": "nope"})
    assert r.status_code == 400 and "Date has wrong format" in r.json()["as_of"][0]


def test_township_agents_see_nothing_of_procurement(world, api, staff):
    d = world.deliver()
    for who in ("agent", "agent_b"):
        client = api(staff[who])
        for url in ["/api/v1/deliveries/", "/api/v1/hospitals/", "/api/v1/suppliers/", "/api/v1/payment-runs/",
                    "/api/v1/procurement-reports/settlement/", "/api/v1/hospitals/H001/", f"/api/v1/deliveries/{d.pk}/",
                    "/api/v1/procurement-reports/volume-completion/?year=2024"]:
            assert client.get(url).status_code == 403, url
        assert client.post(f"/api/v1/deliveries/{d.pk}/accept/", {"accepted_on": "2024-03-02", "quantity": 1}).status_code == 403
    assert Delivery.objects.get().status == DeliveryStatus.DELIVERED


def test_readers_read_and_only_finance_writes(world, api, staff):
    world.deliver_accepted()
    for who in ("clerk", "reviewer", "supervisor"):
        client = api(staff[who])
        assert client.get("/api/v1/deliveries/").json()["count"] == 1
        assert client.get("/api/v1/suppliers/S001/").status_code == 200
        assert client.post("/api/v1/payment-runs/", {"as_of": "2024-03-10"}).status_code == 403
        assert _post_delivery(client).status_code == 403
    assert not PaymentRun.objects.exists()


def test_master_data_by_natural_key(world, fin):
    r = fin.post("/api/v1/hospitals/", {"code": "H009", "name": "新医院", "level": 3, "township": "420302002"})
    assert r.status_code == 201, r.json()
    assert fin.post("/api/v1/hospitals/", {"code": "H009", "name": "x", "level": 3, "township": "420302002"}).status_code == 400
    r = fin.post("/api/v1/hospitals/", {"code": "H010", "name": "x", "level": 3, "township": "420302"})
    assert r.status_code == 400 and "township" in r.json()
    r = fin.patch("/api/v1/hospitals/H009/", {"name": "新名称"})
    assert r.status_code == 200 and r.json()["name"] == "新名称" and r.json()["township"] == "420302002"
    r = fin.post("/api/v1/products/", {"code": "P010", "name": "x", "kind": "drug", "unit_price": "0", "supplier": "S001"})
    assert r.status_code == 400 and "unit_price" in r.json()
    r = fin.post("/api/v1/products/", {"code": "P010", "name": "x", "kind": "pill", "unit_price": "1.00"})
    assert r.status_code == 400 and "kind" in r.json()
    r = fin.post("/api/v1/agreed-volumes/", {"hospital": "H001", "product": "P001", "year": 2024, "quantity": 1000})
    assert r.status_code == 201
    r = fin.post("/api/v1/agreed-volumes/", {"hospital": "H001", "product": "P001", "year": 2024, "quantity": 1200})
    assert r.status_code == 201 and fin.get("/api/v1/agreed-volumes/").json()["count"] == 1


def test_reports_settlement_and_statement_and_completion(world, fin):
    """Paid 10 Mar: 1 234.00 (8 days, on time); paid 5 Apr: 24.68 (34 days after 2 Mar, late).
    March: 1 line, 1 234.00; April: 1 line, 24.68; total share on time 1/2 = 0.5000, average 21.0 days."""
    world.deliver_accepted(quantity=100, accepted_on=date(2024, 3, 2))
    fin.post("/api/v1/payment-runs/", {"as_of": "2024-03-10"})
    world.deliver_accepted(quantity=2, accepted_on=date(2024, 3, 2))
    fin.post("/api/v1/payment-runs/", {"as_of": "2024-04-05"})
    for run in PaymentRun.objects.order_by("as_of"):  # the bank confirms each on its run's date
        bank_confirms(run)
    r = fin.get("/api/v1/procurement-reports/settlement/?period=month").json()
    assert [(x["period"], x["count"], x["amount"]) for x in r["rows"]] == [("2024-03", 1, "1234.00"), ("2024-04", 1, "24.68")]
    assert r["total"] == {"count": 2, "amount": "1258.68", "average_days": "21.00", "max_days": 34,
                          "on_time_count": 1, "on_time_share": "0.5000"}
    assert fin.get("/api/v1/procurement-reports/settlement/?period=week").status_code == 400

    st = fin.get("/api/v1/suppliers/S001/statement/?date_from=2024-03-01&date_to=2024-03-31").json()
    assert st["paid_amount"] == "1234.00" and len(st["deliveries"]) == 2 and st["outstanding_amount"] == "0.00"
    assert fin.get("/api/v1/suppliers/S001/statement/?date_from=2024-03-31&date_to=2024-03-01").status_code == 400
    x = fin.get("/api/v1/suppliers/S001/statement/?date_from=2024-03-01&date_to=2024-03-31&export=xlsx")
    assert x.status_code == 200 and x["Content-Type"].startswith("application/vnd.openxml")
    wb = load_workbook(BytesIO(x.content))
    assert wb.sheetnames == ["汇总", "配送明细", "付款单"] and wb["配送明细"].max_row == 3

    fin.post("/api/v1/agreed-volumes/", {"hospital": "H001", "product": "P001", "year": 2024, "quantity": 200})
    fin.post("/api/v1/agreed-volumes/", {"hospital": "H002", "product": "P001", "year": 2024, "quantity": 200})
    # 1 Jul 2024: elapsed 0.5000 × 0.80 → expected 0.4000; H001 102/200 = 0.5100 on track, H002 0/200 lags.
    r = fin.get("/api/v1/procurement-reports/volume-completion/?year=2024&as_of=2024-07-01").json()
    assert [(x["hospital"], x["done"], x["completion"], x["expected"], x["laggard"]) for x in r["results"]] == [
        ("H001", 102, "0.5100", "0.4000", False), ("H002", 0, "0.0000", "0.4000", True)]
    r = fin.get("/api/v1/procurement-reports/volume-completion/?year=2024&as_of=2024-07-01&laggards_only=true").json()
    assert [x["hospital"] for x in r["results"]] == ["H002"]
    assert fin.get("/api/v1/procurement-reports/volume-completion/?year=abc").status_code == 400
    x = fin.get("/api/v1/procurement-reports/volume-completion/?year=2024&as_of=2024-07-01&export=xlsx")
    assert load_workbook(BytesIO(x.content)).active.max_row == 3


def test_filters_for_due_soon_and_overdue_lists(world, fin):
    held = world.deliver_accepted(quantity=100, amount="1234.00", accept_quantity=80)
    fin.post("/api/v1/payment-runs/", {"as_of": "2024-04-02"})
    assert [d["id"] for d in fin.get("/api/v1/deliveries/?alert=overdue").json()["results"]] == [held.pk]
    assert fin.get("/api/v1/deliveries/?alert=due_soon").json()["count"] == 0
    assert fin.get("/api/v1/deliveries/?alert=bogus").status_code == 400


def test_no_input_is_ever_a_500(world, fin):
    d = world.deliver()
    garbage = [None, [], [1, 2], "x", {"quantity": None}, {"accepted_on": None, "quantity": None},
               {"as_of": {"a": 1}}, {"amount": "NaN"}, {"amount": "Infinity"}, {"quantity": 10**30},
               {"hospital": None, "supplier": 5, "product": [], "amount": True, "delivered_on": 20240301},
               {"code": "", "name": "", "level": "九", "township": None, "unit_price": "-0", "kind": None},
               {"hospital": "H\x00", "supplier": "S001", "product": "P001", "quantity": 1, "amount": "1.00",
                "delivered_on": "2024-03-01", "invoice_number": "\x00"},
               {"code": "X\x00", "name": "n\x00", "level": 1, "township": "420302001\x00"}]
    urls = ["/api/v1/deliveries/", f"/api/v1/deliveries/{d.pk}/accept/", f"/api/v1/deliveries/{d.pk}/reconcile/",
            "/api/v1/payment-runs/", "/api/v1/hospitals/", "/api/v1/products/", "/api/v1/suppliers/",
            "/api/v1/agreed-volumes/", "/api/v1/orders/", "/api/v1/procurement-batches/"]
    for url in urls:
        for body in garbage:
            r = fin.post(url, body, format="json")
            assert r.status_code < 500 and r.status_code != 201, (url, body, r.status_code)
    for url in ["/api/v1/procurement-reports/settlement/?date_from=x&period=[]",
                "/api/v1/procurement-reports/volume-completion/?year=99999999999&as_of=2024-02-30",
                "/api/v1/suppliers/S001/statement/?date_from=&date_to=", "/api/v1/deliveries/?delivered_from=nope",
                "/api/v1/hospitals/%00/", "/api/v1/payment-runs/?as_of__gte=x", "/api/v1/deliveries/?hospital=%00",
                "/api/v1/procurement-reports/settlement/?supplier=%00"]:
        assert fin.get(url).status_code < 500, url
    assert Delivery.objects.count() == 1
