"""The run's SELECT (issue 14: identities as hashed sets of persons, only the candidates above
their own line probed, by LATERAL on PostgreSQL): who is on which list at the edges of the
rule — identities of other kinds, expired or not yet valid, enrolment in another scheme,
persons of another county, newness against last month's list of the same kind."""
from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from assistance.early_warning import services
from assistance.early_warning.models import PersonWarning, WarningKind, WarningStatus

from .helpers import SYSTEM, add_county, employee, identity, ledger, person, resident

RET, INTO = WarningKind.RETURN_TO_POVERTY, WarningKind.INTO_POVERTY


def _world(j):
    """Shiyan 2024: return line 8 000.00, into line 16 000.00.  Returns what March's city list
    must be after February's: {name: (kind, out_of_pocket, is_new)}."""
    def p(name, *, county=None, village=None, **months):
        kwargs = {"village": village, "county": county} if village is not None else {}
        found = person(j, name=name, **kwargs)
        ledger(found, 2024, **months)
        return found

    both = p("两种身份", m01="9000.00")
    identity(both, "monitored"), identity(both, "subsistence")
    other = p("其他身份", m02="20000.00")
    identity(other, "subsistence"), resident(other, 2024)
    expired = p("身份已过期", m03="20000.00")
    identity(expired, "monitored", valid_to=date(2024, 2, 29)), resident(expired, 2024)
    later_low = p("身份未生效低", m01="9000.00")
    identity(later_low, "monitored", valid_from=date(2024, 4, 1)), resident(later_low, 2024)
    later_high = p("身份未生效高", m01="17000.00")
    identity(later_high, "monitored", valid_from=date(2024, 4, 1)), resident(later_high, 2024)
    last_day = p("月末生效", m01="8000.01")
    identity(last_day, "marginal", valid_from=date(2024, 3, 31))
    unenrolled_ret = p("未参保返贫", m01="17000.00")
    identity(unenrolled_ret, "stable_escaped")
    p("未参保致贫", m01="17000.00")
    employee(p("职工医保", m01="17000.00"), 2024)
    late = p("四月才超线", m01="100.00", m04="30000.00")
    resident(late, 2024)
    at_line = p("恰在线上", m01="16000.00")
    resident(at_line, 2024)
    # On February's return list, on March's again: not new.
    again = p("连续返贫", m01="9000.00")
    identity(again, "monitored")
    # On February's into list (no identity then), March's return list: new on that list.
    switched = p("转为返贫", m01="17000.00")
    identity(switched, "monitored", valid_from=date(2024, 3, 1)), resident(switched, 2024)
    # Another county of the city: on the city's list, not on 茅箭区's.
    _county, _town, village = add_county(j)
    elsewhere = p("张湾区", county="420303", village=village, m02="16500.00")
    resident(elsewhere, 2024)
    # New = not on February's city list of the same kind (those above a line in January or
    # February were on it).
    return {
        "两种身份": (RET, "9000.00", False), "身份已过期": (INTO, "20000.00", True),
        "身份未生效高": (INTO, "17000.00", False), "月末生效": (RET, "8000.01", True),
        "未参保返贫": (RET, "17000.00", False), "连续返贫": (RET, "9000.00", False),
        "转为返贫": (RET, "17000.00", True), "张湾区": (INTO, "16500.00", False),
    }


def _listed(run):
    return {w.person.name: (w.kind, str(w.out_of_pocket), w.is_new)
            for w in PersonWarning.objects.filter(run=run).select_related("person")}


def test_who_is_on_which_list_at_the_edges_of_the_rule(shiyan):
    expected = _world(shiyan)
    february, _ = services.warning_run(actor=SYSTEM, region=shiyan.city, month=date(2024, 2, 1))
    assert _listed(february)["连续返贫"][0] == RET and _listed(february)["转为返贫"][0] == INTO
    march, created = services.warning_run(actor=SYSTEM, region=shiyan.city, month=date(2024, 3, 1))
    assert created and _listed(march) == expected
    assert (march.count, march.return_count, march.into_count, march.new_count) == (8, 5, 3, 3)
    lines = {w.kind: str(w.threshold) for w in PersonWarning.objects.filter(run=march)}
    assert lines == {RET: "8000.00", INTO: "16000.00"}
    history = PersonWarning.history.filter(run_id=march.pk, history_type="+")
    assert sorted(history.values_list("id", flat=True)) == sorted(
        PersonWarning.objects.filter(run=march).values_list("id", flat=True))
    # The same month again writes nothing.
    written = PersonWarning.objects.count(), PersonWarning.history.count()
    again, created = services.warning_run(actor=SYSTEM, region=shiyan.city, month=date(2024, 3, 1))
    assert (again.pk, created) == (march.pk, False)
    assert (PersonWarning.objects.count(), PersonWarning.history.count()) == written


def test_a_county_s_list_leaves_out_the_persons_of_the_other_counties(shiyan):
    expected = _world(shiyan)
    del expected["张湾区"]
    run, _ = services.warning_run(actor=SYSTEM, region=shiyan.county, month=date(2024, 3, 1))
    # No February list for the county: everyone is new.
    assert _listed(run) == {name: (kind, oop, True) for name, (kind, oop, _new) in expected.items()}


@pytest.mark.postgres
def test_postgresql_probes_the_candidates_by_key_and_hashes_the_identities(shiyan):
    """The PostgreSQL form: persons and enrolments probed per candidate (LATERAL), the
    identities read as sets (``EXISTS`` / ``NOT EXISTS``, hashed), not grouped per person; same lists."""
    expected = _world(shiyan)
    services.warning_run(actor=SYSTEM, region=shiyan.city, month=date(2024, 2, 1))
    with CaptureQueriesContext(connection) as ctx:
        run, _ = services.warning_run(actor=SYSTEM, region=shiyan.city, month=date(2024, 3, 1))
    [statement] = [q["sql"] for q in ctx.captured_queries if 'INSERT INTO "early_warning_personwarning"' in q["sql"]]
    assert statement.count("LATERAL") == 2 and "GROUP BY person_id" not in statement
    assert " NOT EXISTS (" in statement and "RETURNING *" in statement
    assert _listed(run) == expected


@pytest.mark.postgres
def test_the_status_index_holds_only_the_decided_warnings(shiyan):
    """Every warning is written open: the (status, month) index leaves the open ones out, so
    the run does not maintain it, and a filter on a decided status still reads it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'ew_warning_status_decided'")
        [(definition,)] = cursor.fetchall()
        assert "(status, month)" in definition and "WHERE" in definition and "'open'" in definition
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = PersonWarning.objects.filter(status=WarningStatus.DETERMINED).explain()
    assert "ew_warning_status_decided" in plan
