import pytest
from django.core.exceptions import PermissionDenied

from yibao_site.actors import audit_reason, require_actor, system_actor
from yibao_site.models import Role, User


@pytest.mark.django_db
def test_require_actor_fails_closed():
    finance = User.objects.create_user("f1", role=Role.FINANCE, is_staff=True)
    agent = User.objects.create_user("a1", role=Role.TOWNSHIP_AGENT)
    inactive = User.objects.create_user("f2", role=Role.FINANCE, is_active=False)
    job = system_actor("procurement.payment_run")
    assert require_actor(finance, {Role.FINANCE}) is finance
    for actor in (None, agent, inactive):
        with pytest.raises(PermissionDenied):
            require_actor(actor, {Role.FINANCE})
    with pytest.raises(PermissionDenied):
        require_actor(finance, ())  # no role named: nobody but superusers
    with pytest.raises(PermissionDenied):
        require_actor(job, {Role.FINANCE})  # a job only where the service says so
    assert require_actor(job, {Role.FINANCE}, system=True) is job


def test_system_actor_names_its_job_in_history():
    job = system_actor("claims.ledger_check")
    assert audit_reason(job, "") == "系统任务 claims.ledger_check"
    assert audit_reason(job, "夜间核对") == "夜间核对"
    assert not job.is_authenticated and job.username == "system:claims.ledger_check"
