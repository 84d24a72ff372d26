import random
from datetime import date

from members import demo
from members.models import Enrollment, Identity, Person, Relative, SubsidyBatch


def test_demo_seed_builds_members_data_and_a_second_run_changes_nothing(db):
    from yibao_site.demo import DemoContext, build_jurisdiction, build_staff
    from yibao_site.packs import pack_load

    j = build_jurisdiction()
    pack_load(name="shiyan-2022", region=j.city)
    staff = build_staff(j, "x-demo-pass-1")

    def ctx():
        return DemoContext(rng=random.Random(7), persons=300, jurisdiction=j, staff=staff, today=date(2026, 6, 15),
                           log=lambda m: None)

    demo.seed(ctx())
    counts = (Person.objects.count(), Enrollment.objects.count(), Identity.objects.count(), Relative.objects.count())
    assert counts[0] >= 290 and counts[1] > 600 and counts[2] > 10 and counts[3] > 100
    assert Enrollment.objects.filter(waiting_period=True).exists()
    assert Enrollment.objects.filter(scheme="employee").exists()
    assert SubsidyBatch.objects.get(year=2026).count > 0
    history = Person.history.count() + Enrollment.history.count()
    demo.seed(ctx())
    assert (Person.objects.count(), Enrollment.objects.count(), Identity.objects.count(),
            Relative.objects.count()) == counts
    assert Person.history.count() + Enrollment.history.count() == history


def _members_written():
    """What the members demo wrote, row for row, keyed by ID numbers (not ids: the sequences of
    a rolled-back run are not rewound), in id order where the order is part of the result."""
    from members.models import AccountEntry, PersonalAccount

    idn = dict(Person.objects.values_list("pk", "id_number"))
    enrolment_fields = [f.attname for f in Enrollment._meta.concrete_fields if f.attname not in ("id", "person_id",
                                                                                                "created_at")]
    enrolments = [(idn[pid], *rest) for pid, *rest in Enrollment.objects.order_by("pk").values_list(
        "person_id", *enrolment_fields)]
    enrolment_history = sorted((idn[pid], *rest) for pid, *rest in Enrollment.history.values_list(
        "person_id", "year", "scheme", "amount", "critical_illness_cap", "history_type", "history_change_reason",
        "history_user_id"))
    accounts = [(idn[pid], *rest) for pid, *rest in PersonalAccount.objects.order_by("pk").values_list(
        "person_id", "opened_on", "balance", "closed_on")]
    account_history = sorted((idn[pid], *rest) for pid, *rest in PersonalAccount.history.values_list(
        "person_id", "opened_on", "balance", "history_type", "history_change_reason"))
    entries = sorted(AccountEntry.objects.values_list(
        "account__person__id_number", "kind", "amount", "balance_after", "on", "month", "memo", "policy_version"))
    relatives = [(idn[a], idn[b], rel) for a, b, rel in Relative.objects.order_by("pk").values_list(
        "person_id", "relative_id", "relation")]
    relative_history = sorted((idn[a], idn[b], *rest) for a, b, *rest in Relative.history.values_list(
        "person_id", "relative_id", "relation", "history_type", "history_change_reason", "history_user_id"))
    persons = [row for row in Person.objects.order_by("pk").values_list(
        "id_number", "name", "sex", "birth_date", "village_id", "township_id", "phone", "household_no",
        "id_outside_county")]
    person_history = sorted(Person.history.values_list("id_number", "name", "history_type", "history_change_reason",
                                                       "history_user_id"))
    return {"enrolments": enrolments, "enrolment history": enrolment_history, "accounts": accounts,
            "account history": account_history, "entries": entries, "relatives": relatives,
            "relative history": relative_history, "persons": persons, "person history": person_history}


def test_demo_fast_enrolments_write_what_the_importer_writes(db, monkeypatch):
    """The members demo's set-based door for the enrolments (``importers.enrol_new_file``)
    against the importer's Python path on the same demo: every enrolment (ids in the same
    order), its history, the personal accounts and their credits, row for row."""
    from django.db import transaction

    from yibao_site.demo import DemoContext, build_jurisdiction, build_staff
    from yibao_site.packs import pack_load

    j = build_jurisdiction()
    pack_load(name="shiyan-2022", region=j.city)
    staff = build_staff(j, "x-demo-pass-1")
    from members import importers

    monkeypatch.setattr(importers, "_FAST_WRITE_CHUNK", 1000)  # (several statements, ids in row order across them)
    results, taken = {}, []
    original, door = demo._enrol, demo.enrol_new_file
    monkeypatch.setattr(demo, "enrol_new_file", lambda *a, **k: taken.append(door(*a, **k)) or taken[-1])
    for fast in (True, False):
        monkeypatch.setattr(demo, "_enrol", lambda *a, fast_=fast, **k: original(*a, fast=fast_, **k))
        # The persons in files of 700 rows in one run, of 1 500 in the other: the same persons.
        monkeypatch.setattr(demo, "PERSONS_FILE_ROWS", 700 if fast else 1500)
        lines = []
        with transaction.atomic():
            demo.seed(DemoContext(rng=random.Random(11), persons=1500, jurisdiction=j, staff=staff,
                                  today=date(2026, 11, 20), log=lines.append))
            results[fast] = _members_written()
            transaction.set_rollback(True)
        assert any(line.startswith("  enrollments: created") for line in lines)
        assert sum(line.startswith("  persons: created") for line in lines) == (3 if fast else 1)
    assert len(taken) == 1 and taken[0][0] > 3000  # (the fast run took the door; the other did not ask)
    fast, slow = results[True], results[False]
    assert len(fast["enrolments"]) > 3000 and len(fast["accounts"]) > 100 and len(fast["entries"]) > 1000
    for key in slow:
        assert fast[key] == slow[key], key


def test_demo_credit_runs_in_postgresql_write_what_the_python_path_writes(db, monkeypatch):
    """The monthly credit run's set-based door (``accounts._credit_months_pg`` with one month, PostgreSQL)
    against its Python path on the same demo: accounts, entries, balances and their history,
    row for row; and a second run of a month credits nothing again.  (On SQLite both runs
    take the Python path: the comparison then holds trivially.)"""
    from django.db import connection, transaction

    from members import services
    from members.services import accounts
    from yibao_site.actors import system_actor
    from yibao_site.demo import DemoContext, build_jurisdiction, build_staff
    from yibao_site.packs import pack_load

    j = build_jurisdiction()
    pack_load(name="shiyan-2022", region=j.city)
    staff = build_staff(j, "x-demo-pass-1")
    results, reports, doors = {}, {}, []
    real, door = accounts.account_credit_month, accounts._credit_months_pg
    monkeypatch.setattr(accounts, "_credit_months_pg", lambda *a: doors.append(door(*a)) or doors[-1])
    monkeypatch.setattr(demo, "_SQL", False)  # (the month by month runs: ``account_credit_months`` is tested below)
    for python_only in (False, True):
        monkeypatch.setattr(accounts, "_PYTHON_ONLY", python_only)
        runs = []
        monkeypatch.setattr(services, "account_credit_month", lambda **k: runs.append(real(**k)) or runs[-1])
        with transaction.atomic():
            demo.seed(DemoContext(rng=random.Random(5), persons=1200, jurisdiction=j, staff=staff,
                                  today=date(2026, 11, 20), log=lambda m: None))
            again = real(month=date(2026, 3, 1), actor=system_actor("members.account_credit_month"))
            results[python_only] = _members_written()
            reports[python_only] = [(r.month, r.credited, r.amount, r.already, r.accounts_opened) for r in runs] + [
                (again.month, again.credited, again.amount, again.already, again.accounts_opened)]
            transaction.set_rollback(True)
    sql, python = results[False], results[True]
    if connection.vendor == "postgresql":
        assert len(doors) == 12 and None not in doors  # (the first demo's runs took the door, the second's not)
    assert len(reports[True]) == 12 and reports[True][0][1] > 100 and reports[True][-1][1] == 0
    assert reports[True][-1][3] == reports[True][2][1]  # the second March run: every account already credited
    assert reports[False] == reports[True]
    assert len(python["entries"]) == 11 * reports[True][0][1]
    for key in python:
        assert sql[key] == python[key], key


def test_demo_sql_doors_write_what_the_python_path_writes(db, monkeypatch):
    """The members demo's PostgreSQL statements (``demo._SQL``: relatives, the credit runs of
    the year so far) against the path of before on the same demo (same seed): every
    person, relative, enrolment, account and credit with their history, row for row (ids
    compared through ID numbers, in id order), and the same log; a second run writes nothing
    more.  (On SQLite both runs take the path of before.)"""
    from django.db import connection, transaction

    from yibao_site.demo import DemoContext, build_jurisdiction, build_staff
    from yibao_site.packs import pack_load

    j = build_jurisdiction()
    pack_load(name="shiyan-2022", region=j.city)
    staff = build_staff(j, "x-demo-pass-1")
    from members.services import accounts

    doors, month_doors = [], []
    real, real_months = demo._relatives_pg, accounts._credit_months_pg
    monkeypatch.setattr(demo, "_relatives_pg", lambda *a: doors.append(real(*a)) or doors[-1])
    monkeypatch.setattr(accounts, "_credit_months_pg",
                        lambda *a: month_doors.append(real_months(*a)) or month_doors[-1])
    logs = {}
    results, states = {}, {}
    for sql in (True, False):
        monkeypatch.setattr(demo, "_SQL", sql)
        with transaction.atomic():
            lines = logs[sql] = []
            ctx = DemoContext(rng=random.Random(3), persons=450, jurisdiction=j, staff=staff,
                              today=date(2026, 11, 20), log=lines.append)
            demo.seed(ctx)
            results[sql] = _members_written()
            from members.models import AccountEntry, PersonalAccount

            results[sql]["entries in id order"] = list(AccountEntry.objects.order_by("pk").values_list(
                "account__person__id_number", "month", "amount", "balance_after"))
            results[sql]["account history in id order"] = list(PersonalAccount.history.order_by(
                "history_id").values_list("person__id_number", "balance", "history_type"))
            states[sql] = ctx.rng.getstate()
            again = []
            demo.seed(DemoContext(rng=random.Random(3), persons=450, jurisdiction=j, staff=staff,
                                  today=date(2026, 11, 20), log=again.append))
            assert _members_written() == {k: v for k, v in results[sql].items() if "id order" not in k}
            credits = [line for line in again if line.startswith("  account credits")]
            assert len(credits) == 11 and all(line.endswith(" 0 (already %s)" % credits[0].split("already ")[1][:-1])
                                              for line in credits)
            transaction.set_rollback(True)
    if connection.vendor == "postgresql":
        assert len(doors) == 2 and doors[0] > 100 and doors[1] == 0  # (the second run: every pair there already)
        assert None not in month_doors
        # The SQL run's two demos credit their year so far in one call each; the other run's month
        # by month (the monthly run's door, one month a call).
        assert [len(d) for d in month_doors if len(d) > 1] == [11, 11] and len(month_doors) == 2 + 2 * 11
    assert logs[True] == logs[False]  # (every step's counts, the credit runs' month by month)
    sql, python = results[True], results[False]
    assert len(python["relatives"]) > 100 and len(python["enrolments"]) > 800
    assert states[True] == states[False]  # (the same draws: the apps after members see the same generator)
    for key in python:
        assert sql[key] == python[key], key
