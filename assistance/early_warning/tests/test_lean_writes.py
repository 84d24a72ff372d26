"""The run's writes kept lean (issue 14): the warnings carry no (run, …) index — a run's
readers (the push payload, the export, the API's ``?run=``) filter by the run's month too,
which the (month, kind) index serves — and no database constraint on the columns the run
never sets (determined_by, identity, the history's user), which PostgreSQL would check once
per inserted row at commit.  A run's readers still read exactly its rows when another run
(another county) shares its month."""
import json
from datetime import date

import pytest
from django.db import connection

from assistance.early_warning import services
from assistance.early_warning.exports import run_sheets
from assistance.early_warning.models import PersonWarning
from assistance.early_warning.services.outbox import delivery_payload

from .helpers import SYSTEM, add_county, identity, ledger, person, resident

MARCH = date(2024, 3, 1)


@pytest.fixture
def two_runs(shiyan):
    """March of 茅箭区 (甲, return list) and of 张湾区 (乙, into list): two runs, one month."""
    a = person(shiyan, name="茅箭甲")
    identity(a, "monitored")
    ledger(a, 2024, m01="9000.00")
    county, _town, village = add_county(shiyan)
    b = person(shiyan, name="张湾乙", county="420303", village=village)
    resident(b, 2024)
    ledger(b, 2024, m01="17000.00")
    first, _ = services.warning_run(actor=SYSTEM, region=shiyan.county, month=MARCH)
    second, _ = services.warning_run(actor=SYSTEM, region=county, month=MARCH)
    assert first.month == second.month and (first.count, second.count) == (1, 1)
    return first, second


def test_a_run_s_payload_and_export_hold_only_its_rows(two_runs):
    for run, name in zip(two_runs, ["茅箭甲", "张湾乙"]):
        for delivery in run.deliveries.all():
            payload = json.loads(delivery_payload(delivery))
            assert [w["name"] for w in payload["warnings"]] == [name]
            assert payload["count"] == 1
        rows = [row for sheet in run_sheets(run) for row in sheet.rows]
        assert [row[1] for row in rows] == [name]


def test_the_api_filters_a_run_s_rows(two_runs, staff, api):
    first, second = two_runs
    client = api(staff["supervisor"])
    for run, name in ((first, "茅箭甲"), (second, "张湾乙")):
        response = client.get("/api/v1/warnings/", {"run": run.pk})
        assert response.status_code == 200, response.data
        data = response.data["results"] if isinstance(response.data, dict) else response.data
        assert [w["name"] for w in data] == [name]
    missing = client.get("/api/v1/warnings/", {"run": max(first.pk, second.pk) + 100})
    assert missing.status_code == 400


def test_history_and_determination_are_written_as_before(two_runs, staff):
    _first, second = two_runs
    [warning] = PersonWarning.objects.filter(run=second)
    assert PersonWarning.history.filter(id=warning.pk, history_type="+", history_user__isnull=True).count() == 1
    services.warning_determine(warning=warning, department="civil_affairs", outcome="approved",
                               actor=staff["supervisor"], identity_kind="illness_poverty",
                               valid_from=date(2024, 4, 10))
    warning.refresh_from_db()
    assert warning.identity is not None and warning.determined_by == staff["supervisor"]
    assert PersonWarning.history.filter(id=warning.pk, history_user=staff["supervisor"]).exists()


@pytest.mark.postgres
def test_postgresql_maintains_no_run_index_and_checks_no_unset_reference(two_runs):
    first, _second = two_runs
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'early_warning_personwarning'")
        definitions = [d for (d,) in cursor.fetchall()]
        assert not any("(run_id" in d for d in definitions), definitions
        cursor.execute("SELECT conname FROM pg_constraint WHERE contype = 'f' AND conrelid IN "
                       "('early_warning_personwarning'::regclass, 'early_warning_historicalpersonwarning'::regclass)")
        assert cursor.fetchall() == []
        cursor.execute("SET LOCAL enable_seqscan = off")
    plan = PersonWarning.objects.filter(month=first.month, run=first).explain()
    assert "(month, kind)" in _index_definition(plan), plan


def _index_definition(plan):
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'early_warning_personwarning'")
        return " ".join(d for name, d in cursor.fetchall() if name in plan)
