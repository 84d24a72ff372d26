"""Admin pages: the dashboard (SVG chart, townships, unacknowledged deliveries), the XLSX
download, the schedule a supervisor changes, endpoints and partner accounts."""
import io
from datetime import date

import pytest
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask
from openpyxl import load_workbook

from assistance.early_warning import services
from assistance.early_warning.models import (
    DeliveryStatus, PartnerAccount, PushEndpoint, WarningDelivery, WarningRun, WarningSchedule,
)

from .helpers import SYSTEM, identity, ledger, person, resident

DASHBOARD = "/admin/early_warning/warningrun/dashboard/"


@pytest.fixture
def two_months(shiyan):
    """Feb: A (monitored 8 500 > 8 000).  March: A continuing, B new (resident 17 000 > 16 000)."""
    a, b = person(shiyan, name="甲"), person(shiyan, township=1, name="乙")
    identity(a, "monitored")
    resident(b, 2024)
    ledger(a, 2024, m02="8500.00")
    ledger(b, 2024, m03="17000.00")
    services.warning_run(actor=SYSTEM, region=shiyan.city, month=date(2024, 2, 1))
    services.warning_run(actor=SYSTEM, region=shiyan.city, month=date(2024, 3, 1))
    return a, b


def test_the_dashboard_draws_months_townships_and_unacknowledged_deliveries(shiyan, staff, two_months, client):
    client.force_login(staff["reviewer"])
    page = client.get(DASHBOARD, {"month": "2024-03"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "chart.umd.min.js" in html and html.count('data-testid="chart"') == 2  # Chart.js, not hand-drawn SVG
    data = page.context["data"]
    march = [m for m in data.months if m.month == date(2024, 3, 1)][0]
    assert (march.return_count, march.into_count, march.new_count, march.continuing_count) == (1, 1, 1, 1)
    assert len(data.months) == 12 and data.months[-1].month == date(2024, 3, 1)
    assert [(t.name, t.return_count, t.into_count) for t in data.townships] == [("第1镇", 1, 0), ("第2镇", 0, 1)]
    assert data.unacknowledged_count == 4 and data.open_count == 3
    assert page.context["form"] is None  # a reviewer reads; only a supervisor runs


def test_a_supervisor_runs_a_month_from_the_dashboard_and_again_changes_nothing(shiyan, staff, two_months, client):
    client.force_login(staff["supervisor"])
    response = client.post(DASHBOARD, {"region": shiyan.city.code, "month": "2024-04"})
    assert response.status_code == 302
    assert WarningRun.objects.filter(month=date(2024, 4, 1), trigger="admin").count() == 1
    client.post(DASHBOARD, {"region": shiyan.city.code, "month": "2024-04"})
    assert WarningRun.objects.filter(month=date(2024, 4, 1)).count() == 1
    bad = client.post(DASHBOARD, {"region": shiyan.city.code, "month": "2024-4"})
    assert bad.status_code == 200 and bad.context["form"].errors["month"]


def test_township_agents_never_reach_the_admin(shiyan, staff, client):
    client.force_login(staff["agent"])
    assert client.get(DASHBOARD).status_code == 302


def test_a_department_without_an_endpoint_gets_the_list_as_xlsx_from_the_admin(shiyan, staff, two_months, client):
    a, b = two_months
    delivery = WarningDelivery.objects.get(run__month=date(2024, 3, 1), department="rural_revitalization")
    client.force_login(staff["supervisor"])
    listing = client.get("/admin/early_warning/warningdelivery/")
    assert listing.status_code == 200 and "xlsx" in listing.content.decode()
    # Looking at the list (GET) records nothing: a GET never writes.
    looked = client.get(f"/admin/early_warning/warningdelivery/{delivery.pk}/xlsx/")
    assert looked.status_code == 200
    delivery.refresh_from_db()
    assert (delivery.status, delivery.downloaded_by) == (DeliveryStatus.AWAITING_DOWNLOAD, None)
    # The list's download button POSTs: the list, and the delivery recorded as downloaded.
    response = client.post(f"/admin/early_warning/warningdelivery/{delivery.pk}/xlsx/")
    assert response.status_code == 200
    assert response["Content-Disposition"].endswith("warning-420300-2024-03-rural_revitalization.xlsx")
    book = load_workbook(io.BytesIO(response.content))
    # The same list both times, cell by cell (the file's bytes carry its creation time).
    seen = load_workbook(io.BytesIO(looked.content))
    assert book.sheetnames == seen.sheetnames
    assert all(list(book[name].iter_rows(values_only=True)) == list(seen[name].iter_rows(values_only=True))
               for name in book.sheetnames)
    assert [r[:2] for r in book["因病返贫预警"].iter_rows(min_row=2, values_only=True)] == [(a.id_number, "甲")]
    assert [r[8] for r in book["因病致贫预警"].iter_rows(min_row=2, values_only=True)] == ["是"]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.downloaded_by) == (DeliveryStatus.DOWNLOADED, staff["supervisor"])
    # A paper receipt is recorded by the supervisor on the department's behalf.
    client.post("/admin/early_warning/warningdelivery/",
                {"action": "acknowledge_on_behalf", "_selected_action": [delivery.pk]})
    delivery.refresh_from_db()
    assert delivery.acknowledged_at is not None


def test_pages_of_every_admin_open_for_a_supervisor(shiyan, staff, two_months, client):
    client.force_login(staff["supervisor"])
    run = WarningRun.objects.get(month=date(2024, 3, 1))
    for url in ["/admin/early_warning/warningrun/", f"/admin/early_warning/warningrun/{run.pk}/change/",
                "/admin/early_warning/personwarning/", "/admin/early_warning/personwarning/?status__exact=open",
                f"/admin/early_warning/warningdelivery/{run.deliveries.first().pk}/change/",
                "/admin/early_warning/pushendpoint/", "/admin/early_warning/pushendpoint/add/",
                "/admin/early_warning/partneraccount/", "/admin/early_warning/partneraccount/add/",
                "/admin/early_warning/warningschedule/", "/admin/"]:
        assert client.get(url).status_code == 200, url


def test_the_home_page_lists_open_warnings_and_unacknowledged_deliveries(shiyan, staff, two_months, client):
    client.force_login(staff["supervisor"])
    items = {i.title: i.count for i in client.get("/admin/").context["todo_items"] if i.group == "双预警"}
    assert items == {"待核定的预警人员": 3, "部门未签收的预警推送": 4}


def test_a_supervisor_changes_the_day_of_the_month_in_the_admin(shiyan, staff, client):
    """The data migration created the schedule (5th, 02:00); the supervisor moves it to the 10th."""
    import importlib

    from django.apps import apps as registry

    migration = importlib.import_module("assistance.early_warning.migrations.0002_schedule")
    migration.create_schedule(registry, None)
    migration.create_schedule(registry, None)  # idempotent
    assert PeriodicTask.objects.filter(name="early_warning.monthly_run").count() == 1
    schedule = WarningSchedule.objects.get()
    assert PeriodicTask.objects.get(name="early_warning.monthly_run").crontab.day_of_month == "5"
    client.force_login(staff["supervisor"])
    response = client.post(f"/admin/early_warning/warningschedule/{schedule.pk}/change/", {
        "day_of_month": "10", "hour": "3", "minute": "30", "enabled": "on", "regions": [shiyan.city.pk]})
    assert response.status_code == 302, response.content.decode()[:2000]
    task = PeriodicTask.objects.get(name="early_warning.monthly_run")
    assert (task.crontab.day_of_month, task.crontab.hour, task.crontab.minute, task.enabled) == ("10", "3", "30", True)
    assert task.task == "early_warning.run_scheduled"
    assert list(WarningSchedule.objects.get().regions.all()) == [shiyan.city]
    bad = client.post(f"/admin/early_warning/warningschedule/{schedule.pk}/change/",
                      {"day_of_month": "31", "hour": "3", "minute": "0"})
    assert bad.status_code == 200 and PeriodicTask.objects.get(pk=task.pk).crontab.day_of_month == "10"
    client.force_login(staff["reviewer"])
    assert client.get(f"/admin/early_warning/warningschedule/{schedule.pk}/change/").status_code == 403


def test_a_supervisor_configures_an_endpoint_and_a_partner_account(shiyan, staff, client):
    client.force_login(staff["supervisor"])
    response = client.post("/admin/early_warning/pushendpoint/add/", {
        "region": shiyan.city.pk, "department": "civil_affairs", "url": "https://mz.example.cn/inbox",
        "secret": "0123456789abcdef-secret", "active": "on", "note": ""})
    assert response.status_code == 302
    assert PushEndpoint.objects.get().url == "https://mz.example.cn/inbox"
    response = client.post("/admin/early_warning/partneraccount/add/", {
        "username": "xczx", "department": "rural_revitalization", "region": shiyan.city.pk, "active": "on"})
    assert response.status_code == 302
    account = PartnerAccount.objects.get()
    assert (account.user.role, account.user.is_staff, account.user.region) == ("", False, shiyan.city)
    taken = client.post("/admin/early_warning/partneraccount/add/", {
        "username": "clerk", "department": "civil_affairs", "active": "on"})
    assert taken.status_code == 200 and PartnerAccount.objects.count() == 1


def test_the_command_runs_a_month_and_running_it_again_changes_nothing(shiyan, two_months, capsys):
    call_command("run_warning", "--region", shiyan.city.code, "--month", "2024-04")
    first = capsys.readouterr().out
    call_command("run_warning", "--region", shiyan.city.code, "--month", "2024-04")
    second = capsys.readouterr().out
    assert "生成" in first and "共 2 人" in first and "已存在" in second
    assert WarningRun.objects.filter(month=date(2024, 4, 1)).count() == 1


@pytest.mark.parametrize("args", [["--region", "420300", "--month", "2024/04"], ["--region", "1", "--month", "2024-04"]])
def test_the_command_refuses_bad_arguments(shiyan, args):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("run_warning", *args)
