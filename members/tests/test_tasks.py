from datetime import date
from decimal import Decimal

import pytest
from django.core.management import call_command

from members import services, tasks
from members.models import AccountEntry, PersonalAccount

from .factories import register
from members.testing import clerk


def _employee(j):
    p = register(j)
    services.enrollment_create(actor=clerk(), person=p, year=2024, scheme="employee", employee_status="in_service",
                               paid_on=date(2024, 1, 5), contribution_base=Decimal("5000"))
    return p


def test_credit_task_for_a_given_month_is_idempotent(shiyan):
    p = _employee(shiyan)
    assert tasks.account_credit_month("2024-02")["amount"] == "100.00"
    assert tasks.account_credit_month("2024-02")["already"] == 1
    assert PersonalAccount.objects.get(person=p).balance == Decimal("100.00")


def test_credit_command(shiyan, capsys):
    _employee(shiyan)
    call_command("credit_personal_accounts", "--month", "2024-03")
    assert "划入 1 户" in capsys.readouterr().out


def test_identity_list_command(shiyan, tmp_path, capsys):
    p = register(shiyan)
    f = tmp_path / "l.csv"
    f.write_text(f"person,kind,valid_from,valid_to\n{p.id_number},orphan,2025-01-01,\n", encoding="utf-8")
    call_command("apply_identity_list", "civil_affairs", str(f), "--as-of", "2025-02-01")
    assert "新增 1" in capsys.readouterr().out
    f.write_text(f"person,kind,valid_from,valid_to\n{p.id_number},orphan,2025-13-01,\n", encoding="utf-8")
    with pytest.raises(SystemExit):
        call_command("apply_identity_list", "civil_affairs", str(f), "--as-of", "2025-02-01")


@pytest.mark.django_db
def test_beat_rows_exist():
    from django_celery_beat.models import PeriodicTask

    assert set(PeriodicTask.objects.filter(name__startswith="members.").values_list("task", flat=True)) == {
        "members.account_credit_month", "members.enrollment_caps_refresh"}


@pytest.mark.postgres
@pytest.mark.celery_worker
def test_real_worker_credits_accounts(real_worker, shiyan):
    p = _employee(shiyan)
    result = real_worker.send_task("members.account_credit_month", kwargs={"month": "2024-04"})
    import time

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not AccountEntry.objects.filter(account__person=p).exists():
        time.sleep(0.5)
    assert PersonalAccount.objects.get(person=p).balance == Decimal("100.00")
    assert result.id
