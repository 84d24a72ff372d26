"""The run's writes are set-based (issue 14): the statements of a run do not grow with the
number of persons on the lists, and the unconstrained references stay protected."""
from datetime import date

import pytest
from django.db import connection
from django.db.models import ProtectedError
from django.test.utils import CaptureQueriesContext

from assistance.early_warning import services
from assistance.early_warning.models import PersonWarning, WarningKind

from .helpers import SYSTEM, identity, ledger, person, resident

MARCH = date(2024, 3, 1)


def _world(j, n):
    """``n`` persons above each line (Shiyan: return 8 000.00, into 16 000.00), plus one of
    each below, one with an identity not of the return kinds and one not enrolled."""
    for i in range(n):
        r, o = person(j, name=f"返{i}"), person(j, name=f"致{i}")
        identity(r, "monitored"), resident(o, 2024)
        ledger(r, 2024, m01="8000.01"), ledger(o, 2024, m02="9000.00", m03="7000.01")
    low_r, low_o, other, unenrolled = (person(j, name=n_) for n_ in ("低返", "低致", "其他", "未参保"))
    identity(low_r, "marginal"), resident(low_o, 2024), identity(other, "subsistence"), resident(other, 2024)
    ledger(low_r, 2024, m01="8000.00"), ledger(low_o, 2024, m01="16000.00")
    ledger(other, 2024, m01="20000.00"), ledger(unenrolled, 2024, m01="20000.00")


def _counted_run(j, month):
    with CaptureQueriesContext(connection) as ctx:
        run, created = services.warning_run(actor=SYSTEM, region=j.city, month=month)
    assert created
    # On PostgreSQL the INSERT … SELECT is inside a ``WITH`` that also writes the history rows.
    inserts = [q["sql"] for q in ctx.captured_queries if 'INSERT INTO "early_warning_personwarning"' in q["sql"]]
    assert len(inserts) == 1  # both lists of the one group of counties in one INSERT … SELECT
    return run, len(ctx.captured_queries)


def test_a_run_s_statements_do_not_depend_on_how_many_are_warned(shiyan):
    _world(shiyan, 1)
    march, few = _counted_run(shiyan, MARCH)
    _world(shiyan, 6)
    april, many = _counted_run(shiyan, date(2024, 4, 1))
    assert (march.return_count, march.into_count, march.new_count) == (1, 1, 2)
    assert (april.return_count, april.into_count, april.new_count) == (7, 7, 12)
    assert few == many


def test_the_lists_and_history_equal_what_the_rules_say(shiyan):
    _world(shiyan, 2)
    run, _ = services.warning_run(actor=SYSTEM, region=shiyan.city, month=MARCH)
    rows = list(PersonWarning.objects.filter(run=run).select_related("person").order_by("person__name"))
    assert [(w.person.name, w.kind, str(w.out_of_pocket), str(w.threshold), w.is_new, w.township_id) for w in rows] == [
        (w.person.name, WarningKind.RETURN_TO_POVERTY if w.person.name.startswith("返") else WarningKind.INTO_POVERTY,
         "8000.01" if w.person.name.startswith("返") else "16000.01",
         "8000.00" if w.person.name.startswith("返") else "16000.00", True, w.person.township_id) for w in rows]
    assert {w.person.name for w in rows} == {"返0", "返1", "致0", "致1"}
    assert PersonWarning.history.filter(run_id=run.pk, history_type="+").count() == 4
    # April: the same persons again are not new
    april, _ = services.warning_run(actor=SYSTEM, region=shiyan.city, month=date(2024, 4, 1))
    assert april.count == 4 and april.new_count == 0


def test_a_warned_person_and_run_cannot_be_deleted(shiyan):
    """The references carry no database constraint (valid by construction); Django's
    ``PROTECT`` still refuses deleting what a warning refers to."""
    _world(shiyan, 1)
    run, _ = services.warning_run(actor=SYSTEM, region=shiyan.city, month=MARCH)
    warning = PersonWarning.objects.filter(run=run).first()
    with pytest.raises(ProtectedError):
        warning.person.delete()
    with pytest.raises(ProtectedError):
        run.delete()
