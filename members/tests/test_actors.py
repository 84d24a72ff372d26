"""Every members write service checks its caller first and fails closed (issue 18)."""
from datetime import date

import pytest
from django.core.exceptions import PermissionDenied

from members import services
from members.models import Enrollment, SubsidyBatch
from members.testing import clerk, finance, reviewer, staff_actor, supervisor
from yibao_site.actors import system_actor
from yibao_site.models import Role

from .factories import register


def test_no_actor_is_refused_before_anything_is_written(shiyan):
    p = register(shiyan)
    with pytest.raises(PermissionDenied):
        services.enrollment_create(person=p, year=2024, scheme="resident", paid_on=date(2023, 10, 1))
    with pytest.raises(PermissionDenied):
        services.subsidy_batch_build(region=shiyan.city, year=2024, actor=None)
    assert not Enrollment.objects.exists() and not SubsidyBatch.objects.exists()


def test_roles_are_the_ones_the_api_and_admin_allow(shiyan):
    p = register(shiyan)
    agent = staff_actor(Role.TOWNSHIP_AGENT)
    with pytest.raises(PermissionDenied):  # window business is the clerks'
        services.identity_add(person=p, kind="orphan", valid_from=date(2024, 1, 1), source="civil_affairs",
                              actor=agent)
    with pytest.raises(PermissionDenied):  # the credit run: finance and supervisors (and the job)
        services.account_credit_month(month=date(2024, 1, 1), actor=clerk())
    with pytest.raises(PermissionDenied):  # entitlements: the reviewers approving applications
        services.entitlement_grant(person=p, kind="tilt", category=2, valid_from=date(2024, 1, 1),
                                   valid_to=date(2024, 12, 31), actor=clerk())
    with pytest.raises(PermissionDenied):  # a job only where the service says so
        services.person_register(id_number="x", name="x", village_code=shiyan.village().code,
                                 actor=system_actor("members.test"))
    assert services.account_credit_month(month=date(2024, 1, 1), actor=finance()).credited == 0
    assert services.account_credit_month(month=date(2024, 1, 1), actor=system_actor("members.job")).credited == 0
    grant = services.entitlement_grant(person=p, kind="tilt", category=2, valid_from=date(2024, 1, 1),
                                       valid_to=date(2024, 12, 31), actor=reviewer())
    assert grant.pk


def test_fund_payments_from_claims_go_through_the_audited_path(shiyan):
    """``enrollment_record_fund_payments`` (members.public, called by claims) leaves one history
    row per changed enrolment naming the actor and the reason; a claims job may call it."""
    p = register(shiyan)
    e = services.enrollment_create(person=p, year=2024, scheme="resident", paid_on=date(2023, 10, 1), actor=clerk())
    with pytest.raises(PermissionDenied):
        services.enrollment_record_fund_payments(person_ids=[p.pk], year=2024)
    actor = supervisor()
    assert services.enrollment_record_fund_payments(person_ids=[p.pk], year=2024, actor=actor) == 1
    latest = Enrollment.history.filter(id=e.pk).order_by("-history_id").first()
    assert (latest.had_fund_payment, latest.history_user_id, latest.history_change_reason) == (True, actor.pk, "基金报销标记")
    assert services.enrollment_record_fund_payments(person_ids=[p.pk], year=2024, paid=False,
                                                    actor=system_actor("claims.resettle")) == 1
    assert Enrollment.objects.get(pk=e.pk).had_fund_payment is False
    assert Enrollment.history.filter(id=e.pk).count() == 3
