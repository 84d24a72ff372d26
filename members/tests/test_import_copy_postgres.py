"""Large files on PostgreSQL take the COPY door (plain values, history written by the server):
the same rows, the same history, the same derived fields as the small-file path."""
from datetime import date, timedelta
from decimal import Decimal

import pytest

from members.models import Enrollment, Identity, Person
from yibao_site.audit import COPY_THRESHOLD
from yibao_site.policy import policy_snapshot
from yibao_site.testing import make_id_number

from .test_importers import HEADER, csv_bytes, run

pytestmark = pytest.mark.postgres

N = COPY_THRESHOLD + 30


def _ids(n):
    return [make_id_number("420302", date(1970, 1, 1) + timedelta(days=i), 7, "M" if i % 2 else "F") for i in range(n)]


def test_large_files_of_persons_enrolments_and_identities(shiyan, staff):
    """Resident 2025 paid in the collection period (2024-11-15): the 2025 premium in force (no
    subsidy), benefits the whole year, no waiting period, one continuous year."""
    ids = _ids(N)
    persons = [[idn, f"人{i}", shiyan.village(i % 2, 0).code, "", f"H{i}"] for i, idn in enumerate(ids)]
    report = run("persons", csv_bytes(HEADER, persons), actor=staff["clerk"])
    assert report.ok and report.created == N
    stored = Person.objects.get(id_number=ids[1])
    assert (stored.name, stored.sex, stored.birth_date, stored.township_id, stored.household_no) == (
        "人1", "M", date(1970, 1, 2), shiyan.townships[1].pk, "H1")
    assert stored.created_at is not None and not stored.id_outside_county
    history = Person.history.filter(id_number__in=ids)
    assert history.count() == N
    first = history.get(id=stored.pk)
    assert (first.history_type, first.history_user_id, first.history_change_reason) == ("+", staff["clerk"].pk,
                                                                                         "导入参保人员")
    assert (first.name, first.village_id, first.created_at) == ("人1", stored.village_id, stored.created_at)
    assert run("persons", csv_bytes(HEADER, persons)).unchanged == N

    enrol = [[idn, 2025, "resident", "2024-11-15"] for idn in ids]
    report = run("enrollments", csv_bytes(["person", "year", "scheme", "paid_on"], enrol), actor=staff["clerk"])
    assert report.ok and report.created == N, [str(e) for e in report.errors]
    e = Enrollment.objects.get(person=stored, year=2025)
    premium = policy_snapshot(shiyan.townships[1], date(2025, 1, 1)).decimal("members.premium.resident")
    assert (e.amount, e.benefit_start, e.benefit_end, e.waiting_period, e.continuous_years, e.via) == (
        premium.quantize(Decimal("0.01")), date(2025, 1, 1), date(2025, 12, 31), False, 1, "import")
    assert e.policy_version.startswith("shiyan-2022#") and e.critical_illness_cap is not None
    assert Enrollment.history.filter(history_type="+", history_change_reason="导入年度参保").count() == N
    assert run("enrollments", csv_bytes(["person", "year", "scheme", "paid_on"], enrol)).unchanged == N

    idents = [[idn, "subsistence", "2024-01-01", "", "civil_affairs"] for idn in ids]
    header = ["person", "kind", "valid_from", "valid_to", "source"]
    report = run("identities", csv_bytes(header, idents), actor=staff["clerk"])
    assert report.ok and report.created == N
    assert Identity.objects.get(person=stored).valid_to is None
    assert Identity.history.filter(history_type="+", history_user_id=staff["clerk"].pk).count() == N
    assert run("identities", csv_bytes(header, idents)).unchanged == N


def test_monthly_credit_of_many_accounts_takes_the_copy_door(shiyan, staff):
    """Above the COPY threshold the credit run opens accounts, writes entries by COPY and the
    balances by one UPDATE: the same amounts, balances and history as the per-row rules."""
    from members import services
    from members.models import AccountEntry, PersonalAccount
    from yibao_site.actors import system_actor

    ids = _ids(N)
    persons = [[idn, f"人{i}", shiyan.village(i % 2, 0).code, "", ""] for i, idn in enumerate(ids)]
    assert run("persons", csv_bytes(HEADER, persons), actor=staff["clerk"]).ok
    header = ["person", "year", "scheme", "employee_status", "paid_on", "contribution_base"]
    rows = [[idn, 2025, "employee", "retired" if i % 3 == 0 else "in_service", "2025-01-10", "" if i % 3 == 0 else "5000"]
            for i, idn in enumerate(ids)]
    assert run("enrollments", csv_bytes(header, rows), actor=staff["clerk"]).ok
    PersonalAccount.objects.all().delete()  # let the run open them (the COPY door for accounts too)
    actor = system_actor("members.account_credit_month")
    report = services.account_credit_month(month=date(2025, 3, 1), actor=actor)
    assert report.accounts_opened == N and report.credited == N
    again = services.account_credit_month(month=date(2025, 3, 1), actor=actor)
    assert (again.credited, again.already) == (0, N)
    second = services.account_credit_month(month=date(2025, 4, 1), actor=actor)
    assert second.credited == N
    for account in PersonalAccount.objects.all():
        entries = list(AccountEntry.objects.filter(account=account).order_by("month"))
        assert [e.month for e in entries] == [date(2025, 3, 1), date(2025, 4, 1)]
        assert entries[0].amount == entries[1].amount > 0
        assert entries[1].balance_after == account.balance == 2 * entries[0].amount
        assert entries[0].relative_id is None and entries[0].enrollment_id is None
    assert PersonalAccount.history.filter(history_type="~").count() == 2 * N
    assert AccountEntry.history.filter(history_type="+").count() == 2 * N
