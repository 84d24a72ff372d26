"""Assistance objects (categories, validity), the monthly dynamics, deadlines and the overdue job."""
from __future__ import annotations

from datetime import date

import pytest
from django.core.management import call_command

from assistance import selectors, services, tasks
from assistance.models import ApplicationEvent
from members.services import entitlement_grant
from members.testing import reviewer

ON = date(2024, 3, 15)


def test_category_is_the_highest_of_identities_and_determinations(staff, make_person, give_identity):
    person = make_person()
    give_identity(person, "monitored", date(2023, 1, 1))                     # category 3
    give_identity(person, "subsistence", date(2024, 1, 1), date(2024, 6, 30))  # category 2 for half a year
    entitlement_grant(actor=reviewer(), person=person, kind="determination", category=4, valid_from=date(2024, 1, 1),
                      valid_to=date(2024, 12, 31))
    assert selectors.person_category(person, date(2024, 3, 1)) == 2
    assert selectors.person_category(person, date(2024, 7, 1)) == 3
    assert selectors.person_category(person, date(2022, 7, 1)) is None
    objects = selectors.assistance_objects(staff["reviewer"], date(2024, 3, 1))
    assert [(p.pk, p.category) for p in objects] == [(person.pk, 2)]


def test_objects_are_scoped_to_the_agents_township(staff, make_person, give_identity):
    mine, theirs = make_person(township=0), make_person(township=1)
    for p in (mine, theirs):
        give_identity(p, "orphan", date(2023, 1, 1))
    assert [p.pk for p in selectors.assistance_objects(staff["agent"], ON)] == [mine.pk]
    assert {p.pk for p in selectors.assistance_objects(staff["reviewer"], ON)} == {mine.pk, theirs.pk}


def test_monthly_dynamics_counts_added_and_removed_by_township(staff, shiyan, make_person, give_identity):
    """March 2024: A becomes 低保 on 3 Mar (added, township 1); B's determination ends 10 Mar
    (removed, township 2); C is an object all along (neither); D's identity starts 1 Apr (not
    yet).  A determination that is revoked from 20 Mar also removes E (township 1)."""
    from members.services import entitlement_revoke

    a, b, c, d, e = (make_person(township=t) for t in (0, 1, 0, 0, 0))
    give_identity(a, "subsistence", date(2024, 3, 3))
    entitlement_grant(actor=reviewer(), person=b, kind="determination", category=4, valid_from=date(2023, 3, 11),
                      valid_to=date(2024, 3, 10))
    give_identity(c, "extreme_poverty", date(2020, 1, 1))
    give_identity(d, "marginal", date(2024, 4, 1))
    ent = entitlement_grant(actor=reviewer(), person=e, kind="determination", category=3, valid_from=date(2024, 1, 1),
                            valid_to=date(2024, 12, 31))
    entitlement_revoke(actor=reviewer(), entitlement=ent, on=date(2024, 3, 20))
    data = selectors.monthly_dynamics(staff["reviewer"], 2024, 3)
    t1, t2 = shiyan.townships[0].code, shiyan.townships[1].code
    rows = {r["township"]: (r["added"], r["removed"], r["objects"]) for r in data["townships"]}
    assert rows == {t1: (1, 1, 2), t2: (0, 1, 0)}
    assert (data["added"], data["removed"], data["objects"]) == (1, 2, 2)
    assert {p.pk for p in selectors.month_members(staff["reviewer"], 2024, 3, "removed")} == {b.pk, e.pk}
    agent_view = selectors.monthly_dynamics(staff["agent"], 2024, 3)
    assert [r["township"] for r in agent_view["townships"]] == [t1]


def test_deadline_skips_holidays_of_the_calendar(staff, make_person, file_case):
    """Friday 2024-03-15 + 15 working days = Friday 2024-04-05; with 4–5 April (清明) off and
    Sunday 7 April worked (调休), the 15th working day is Monday 8 April: 4 Apr and 5 Apr are
    skipped, Sun 7 Apr counts as the 14th and Mon 8 Apr as the 15th."""
    for day, name, work in ((date(2024, 4, 4), "清明节", False), (date(2024, 4, 5), "清明节", False),
                            (date(2024, 4, 7), "清明调休", True)):
        services.holiday_save(actor=staff["supervisor"], day=day, name=name, is_workday=work)
    app = file_case(staff["agent"], make_person(), on=ON)
    assert app.deadline == date(2024, 4, 8)


def test_overdue_job_flags_once_and_lists_the_case(staff, make_person, file_case):
    app = file_case(staff["agent"], make_person(), on=ON)  # deadline 2024-04-05
    assert services.applications_flag_overdue(actor=tasks.OVERDUE_ACTOR, on=date(2024, 4, 5))["flagged"] == 0
    assert services.applications_flag_overdue(actor=tasks.OVERDUE_ACTOR, on=date(2024, 4, 6))["flagged"] == 1
    assert services.applications_flag_overdue(actor=tasks.OVERDUE_ACTOR, on=date(2024, 4, 6)) == {"as_of": "2024-04-06", "flagged": 0,
                                                                        "cleared": 0}
    app.refresh_from_db()
    assert app.overdue is True
    assert ApplicationEvent.objects.filter(application=app, action="overdue").count() == 1
    assert list(selectors.queue_overdue(staff["reviewer"], date(2024, 4, 6))) == [app]
    services.application_reject(actor=staff["reviewer"], application=app, reason="逾期未补")
    assert services.applications_flag_overdue(actor=tasks.OVERDUE_ACTOR, on=date(2024, 4, 7))["cleared"] == 0  # rejecting cleared it already
    app.refresh_from_db()
    assert app.overdue is False


def test_overdue_task_and_command_run_the_same_service(staff, make_person, file_case, capsys):
    file_case(staff["agent"], make_person(), on=ON)
    assert tasks.flag_overdue("2024-04-10")["flagged"] == 1
    call_command("flag_overdue_applications", "--as-of", "2024-04-10")
    assert "新标记超期 0 件" in capsys.readouterr().out


def test_queues_never_offer_a_reviewer_their_own_or_an_agent_other_townships(staff, agent2, make_person, file_case):
    mine = file_case(staff["agent"], make_person(township=0), on=ON)
    other = file_case(staff["agent_b"], make_person(township=1), on=ON)
    assert set(selectors.queue_to_review(agent2)) == {mine}
    assert set(selectors.queue_to_review(staff["agent"])) == set()
    assert set(selectors.queue_to_review(staff["reviewer"])) == {mine, other}
    assert set(selectors.queue_to_review(staff["clerk"])) == set()


@pytest.mark.parametrize("query", ["李", "李雷"])
def test_find_persons_by_name_prefix_stays_in_the_township(staff, make_person, query):
    mine = make_person("李雷", township=0)
    make_person("李雷", township=1)
    assert list(selectors.find_persons(staff["agent"], query)) == [mine]
    assert list(selectors.find_persons(staff["agent"], mine.id_number)) == [mine]
