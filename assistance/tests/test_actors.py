"""Every write service of the review guards its own caller and fails closed: no actor, an
inactive user or a scheduled job where a person must act is refused before anything is read
or written; the daily job runs as its explicit system actor."""
from __future__ import annotations

from datetime import date

import pytest
from django.core.exceptions import PermissionDenied

from assistance import services, tasks
from assistance.models import Application, ApplicationEvent, Holiday
from yibao_site.actors import system_actor

ON = date(2024, 3, 15)
JOB = system_actor("assistance.some_job")


def test_no_actor_and_a_job_cannot_file_verify_decide_or_pay(staff, make_person, file_case):
    person = make_person()
    for actor in (None, JOB):
        with pytest.raises(PermissionDenied):
            services.application_create(actor=actor, person=person, kind="determination", basis="illness_poverty",
                                        on=ON)
    app = file_case(staff["agent"], person, on=ON)
    calls = [
        lambda a: services.material_add(actor=a, application=app, material_type="other", upload=None),
        lambda a: services.application_verify(actor=a, application=app, note="x"),
        lambda a: services.application_return(actor=a, application=app, missing=[{"type": "income"}]),
        lambda a: services.application_approve(actor=a, application=app, on=ON),
        lambda a: services.application_reject(actor=a, application=app, reason="x"),
        lambda a: services.payout_create(actor=a, application=app),
        lambda a: services.holiday_save(actor=a, day=date(2024, 10, 1), name="国庆节"),
    ]
    events = ApplicationEvent.objects.count()
    for call in calls:
        for actor in (None, JOB):
            with pytest.raises(PermissionDenied):
                call(actor)
    inactive = staff["reviewer"]
    inactive.is_active = False
    with pytest.raises(PermissionDenied):
        services.application_approve(actor=inactive, application=app, on=ON)
    assert ApplicationEvent.objects.count() == events and not Holiday.objects.exists()
    assert Application.objects.get(pk=app.pk).status == "submitted"


def test_the_overdue_job_runs_as_its_system_actor_and_refuses_nobody(staff, make_person, file_case):
    file_case(staff["agent"], make_person(), on=ON)  # deadline 2024-04-05
    with pytest.raises(PermissionDenied):
        services.applications_flag_overdue(actor=None, on=date(2024, 4, 6))
    with pytest.raises(PermissionDenied):  # a reviewer is not the job (nor a supervisor)
        services.applications_flag_overdue(actor=staff["reviewer"], on=date(2024, 4, 6))
    assert tasks.flag_overdue("2024-04-06")["flagged"] == 1
    app = Application.objects.get()
    record = app.history.order_by("-history_date").first()
    assert record.history_user is None and record.overdue is True
    assert services.applications_flag_overdue(actor=staff["supervisor"], on=date(2024, 4, 6))["flagged"] == 0


def test_nobody_approves_what_they_filed_even_a_reviewer_who_filed_it(shiyan, staff, make_person):
    """The role rule passes (a superuser) and the "not your own filing" rule still refuses."""
    from yibao_site.services import staff_save

    boss = staff_save(username="boss", role="window_clerk")
    boss.is_superuser = True
    boss.save(update_fields=["is_superuser"])
    app = services.application_create(actor=boss, person=make_person(), kind="determination",
                                      basis="illness_poverty", on=ON)
    with pytest.raises(PermissionDenied):
        services.application_reject(actor=boss, application=app, reason="自己的申请")
