"""Finance's admin: lists, acceptance and reconciliation forms, running and reviewing a run,
reports with laggards highlighted, the supplier statement, the dashboard items."""
from datetime import date

import pytest
from django.urls import reverse

from procurement import services
from procurement.models import Delivery, DeliveryStatus, PaymentRun
from procurement.testing import RUN_JOB, bank_confirms


@pytest.fixture
def fin_client(client, staff):
    client.force_login(staff["finance"])
    return client


def test_every_list_and_add_page_renders_for_finance(world, fin_client):
    world.deliver_accepted()
    services.payment_run_start(as_of=date(2024, 3, 10), actor=RUN_JOB)
    for model in ["procurementbatch", "supplier", "product", "hospital", "agreedvolume", "order", "delivery",
                  "paymentrun", "paymentorder", "hospitaldeduction"]:
        assert fin_client.get(reverse(f"admin:procurement_{model}_changelist")).status_code == 200, model
    for model in ["supplier", "product", "hospital", "agreedvolume", "order", "delivery"]:
        assert fin_client.get(reverse(f"admin:procurement_{model}_add")).status_code == 200, model


def test_supervisor_reads_but_cannot_add_or_run(world, client, staff):
    client.force_login(staff["supervisor"])
    assert client.get(reverse("admin:procurement_delivery_changelist")).status_code == 200
    assert client.get(reverse("admin:procurement_delivery_add")).status_code == 403
    assert client.get(reverse("admin:procurement_paymentrun_run")).status_code == 403


def test_agents_never_use_the_admin(world, client, staff):
    client.force_login(staff["agent"])
    r = client.get(reverse("admin:procurement_delivery_changelist"))
    assert r.status_code == 302 and "/login/" in r["Location"]


def test_admin_add_delivery_goes_through_the_service_and_shows_its_errors(world, fin_client):
    url = reverse("admin:procurement_delivery_add")
    base = {"hospital": world.h1.pk, "supplier": world.s2.pk, "product": world.drug.pk, "quantity": 10,
            "amount": "123.40", "delivered_on": "2024-03-01", "invoice_number": "A-1"}
    r = fin_client.post(url, base)
    assert r.status_code == 200 and "中选企业" in r.content.decode() and not Delivery.objects.exists()
    r = fin_client.post(url, base | {"supplier": world.s1.pk})
    assert r.status_code == 302
    d = Delivery.objects.get()
    assert d.unit_price == world.drug.unit_price and d.history.first().history_user.username == "finance"


def test_accept_and_reconcile_forms(world, fin_client):
    d = world.deliver(quantity=100, amount="1234.00")
    url = reverse("admin:procurement_delivery_accept", args=[d.pk])
    assert fin_client.get(url).status_code == 200
    r = fin_client.post(url, {"accepted_on": "2024-03-02", "quantity": 101})
    assert r.status_code == 200 and "不能超过配送数量" in r.content.decode()
    assert fin_client.post(url, {"accepted_on": "2024-03-02", "quantity": 80}).status_code == 302
    assert Delivery.objects.get(pk=d.pk).status == DeliveryStatus.HELD
    url = reverse("admin:procurement_delivery_reconcile", args=[d.pk])
    r = fin_client.post(url, {"amount": "1000.00"})
    assert r.status_code == 200 and "仍相差" in r.content.decode()
    assert fin_client.post(url, {"amount": "987.20"}).status_code == 302
    assert Delivery.objects.get(pk=d.pk).status == DeliveryStatus.ACCEPTED
    page = fin_client.get(reverse("admin:procurement_delivery_change", args=[d.pk]))
    assert page.status_code == 200


def test_run_from_the_admin_then_review(world, fin_client):
    world.deliver_accepted()
    r = fin_client.post(reverse("admin:procurement_paymentrun_run"), {"as_of": "2024-03-10"})
    assert r.status_code == 302
    run = PaymentRun.objects.get()
    assert (run.count, run.trigger) == (1, "admin")
    page = fin_client.get(reverse("admin:procurement_paymentrun_change", args=[run.pk]))
    assert page.status_code == 200 and "ZF20240310-S001" in page.content.decode()
    listing = fin_client.get(reverse("admin:procurement_paymentrun_changelist") + "?to_review=1")
    assert "2024-03-10" in listing.content.decode() or "2024年3月10日" in listing.content.decode()
    r = fin_client.post(reverse("admin:procurement_paymentrun_changelist"),
                        {"action": "review_runs", "_selected_action": [run.pk]})
    assert r.status_code == 302
    assert PaymentRun.objects.get().reviewed_by.username == "finance"


def test_reports_page_highlights_laggards_and_exports(world, fin_client):
    services.agreed_volume_save(hospital=world.h1, product=world.drug, year=2024, quantity=200, actor=world.finance)
    services.agreed_volume_save(hospital=world.h2, product=world.drug, year=2024, quantity=200, actor=world.finance)
    world.deliver_accepted(quantity=100)
    bank_confirms(services.payment_run_start(as_of=date(2024, 3, 10), actor=RUN_JOB))  # reports count confirmed money only
    url = reverse("admin:procurement_reports")
    r = fin_client.get(url, {"period": "month", "year": 2024, "as_of": "2024-07-01"})
    html = r.content.decode()
    assert r.status_code == 200 and "1,234.00" in html
    assert html.count('data-testid="laggard"') == 1  # H002 bought nothing; H001 100/200 = 0.50 ≥ 0.40
    x = fin_client.get(url, {"period": "month", "year": 2024, "as_of": "2024-07-01", "export": "completion"})
    assert x["Content-Type"].startswith("application/vnd.openxml")


def test_supplier_statement_page_and_xlsx(world, fin_client):
    world.deliver_accepted()
    services.payment_run_start(as_of=date(2024, 3, 10), actor=RUN_JOB)
    url = reverse("admin:procurement_supplier_statement", args=[world.s1.pk])
    r = fin_client.get(url, {"date_from": "2024-03-01", "date_to": "2024-03-31"})
    assert r.status_code == 200 and "ZF20240310-S001" in r.content.decode()
    x = fin_client.get(url, {"date_from": "2024-03-01", "date_to": "2024-03-31", "export": "xlsx"})
    assert x["Content-Type"].startswith("application/vnd.openxml")


def test_dashboard_shows_due_soon_overdue_held_and_runs_to_review(world, rf, staff):
    from yibao_site.dashboard import dashboard_callback

    world.deliver_accepted(quantity=100, amount="1234.00", accept_quantity=80)  # held, due 1 Apr
    services.payment_run_start(as_of=date(2024, 4, 2), actor=RUN_JOB)
    request = rf.get("/admin/")
    request.user = staff["finance"]
    items = {str(i.title): i for i in dashboard_callback(request, {})["todo_items"]}
    assert items["逾期未付配送(已升级)"].count == 1 and items["逾期未付配送(已升级)"].level == "danger"
    assert items["对账不符挂起"].count == 1 and items["待复核支付批次"].count == 1
    request.user = staff["clerk"]
    assert not [i for i in dashboard_callback(request, {})["todo_items"] if str(i.group) == "集采与直接结算"]


def test_finance_imports_deliveries_through_the_admin(world, fin_client, client, staff):
    from django.core.files.uploadedfile import SimpleUploadedFile

    url = reverse("admin:procurement_delivery_import")
    assert fin_client.get(url).status_code == 200
    data = ("hospital,supplier,product,quantity,amount,delivered_on,invoice_number,accepted_on,accepted_quantity\n"
            "H001,S001,P001,10,123.40,2024-03-01,ADM-1,2024-03-02,10\n").encode()
    r = fin_client.post(url, {"format": "0", "resource": "0",
                              "import_file": SimpleUploadedFile("d.csv", data, content_type="text/csv")})
    assert r.status_code == 200 and "confirm_form" in r.context, r.content.decode()[:2000]
    assert not Delivery.objects.exists()  # the first step only previews
    confirm = r.context["confirm_form"]
    r = fin_client.post(reverse("admin:procurement_delivery_process_import"),
                        {k: v for k, v in confirm.initial.items()})
    assert r.status_code == 302
    d = Delivery.objects.get()
    assert (d.invoice_number, d.status) == ("ADM-1", DeliveryStatus.ACCEPTED)
    client.force_login(staff["clerk"])
    assert client.get(url).status_code == 403
