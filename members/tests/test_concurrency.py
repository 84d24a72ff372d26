"""Row locks on PostgreSQL: two window clerks paying from one personal account at once."""
import threading
from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from members import services
from members.models import AccountEntry, Enrollment, PersonalAccount

from .factories import register
from members.testing import clerk, finance


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_relative_payments_never_overdraw(shiyan):
    """Balance 4 × 100 = 400 covers one 2024 premium (380) but not two: exactly one of two
    simultaneous payments for two children succeeds; the balance ends at 20.00."""
    parent = register(shiyan, birth=date(1970, 1, 1))
    services.enrollment_create(actor=clerk(), person=parent, year=2024, scheme="employee", employee_status="in_service",
                               paid_on=date(2024, 1, 5), contribution_base=Decimal("5000"))
    kids = [register(shiyan, birth=date(2000 + i, 1, 1)) for i in range(2)]
    for kid in kids:
        services.relative_add(actor=clerk(), person=parent, relative=kid, relation="child")
    for m in range(1, 5):
        services.account_credit_month(actor=finance(), month=date(2024, m, 1))
    barrier = threading.Barrier(2)
    outcomes = []

    def pay(kid):
        try:
            barrier.wait()
            services.account_pay_relative_premium(actor=clerk(), payer=parent, relative=kid, year=2024, paid_on=date(2024, 5, 1))
            outcomes.append("ok")
        except ValidationError:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=pay, args=(k,)) for k in kids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["ok", "refused"]
    assert PersonalAccount.objects.get(person=parent).balance == Decimal("20.00")
    assert Enrollment.objects.filter(scheme="resident").count() == 1
    assert AccountEntry.objects.filter(kind="relative_premium").count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_credit_runs_credit_once(shiyan):
    p = register(shiyan)
    services.enrollment_create(actor=clerk(), person=p, year=2024, scheme="employee", employee_status="in_service",
                               paid_on=date(2024, 1, 5), contribution_base=Decimal("5000"))
    services.account_credit_month(actor=finance(), month=date(2024, 1, 1))  # opens the account
    barrier = threading.Barrier(2)
    errors = []

    def run():
        try:
            barrier.wait()
            services.account_credit_month(actor=finance(), month=date(2024, 2, 1))
        except Exception as exc:  # noqa: BLE001 - any failure is what the test reports
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert PersonalAccount.objects.get(person=p).balance == Decimal("200.00")
