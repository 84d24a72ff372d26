"""Who may act on a case, and the steps every transition shares (lock, status guard, save
with history, event).

Every write service calls :func:`yibao_site.actors.require_actor` first with its roles
(fail-closed: no actor, an inactive user or a system actor where none is accepted is refused);
the township checks and "nobody decides on what they filed" follow here.
"""
from __future__ import annotations

from datetime import date

from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from members.models import Person
from yibao_site.actors import require_actor
from yibao_site.audit import audited_save
from yibao_site.models import Role
from yibao_site.policy import PolicySnapshot, policy_snapshot
from yibao_site.scoping import can_see_township

from ..models import AWAITING_VERIFICATION, OPEN_STATUSES, Application, ApplicationEvent, ApplicationStatus

Action = ApplicationEvent.Action
S = ApplicationStatus

#: Who may file, submit, supplement and resubmit (窗口受理 or the township).
FILERS = frozenset({Role.TOWNSHIP_AGENT, Role.WINDOW_CLERK})
#: Who may verify (乡镇核实): the township, or a reviewer of the bureau.
VERIFIERS = frozenset({Role.TOWNSHIP_AGENT, Role.REVIEWER})
#: Who may return a case for supplement (一次性告知).
RETURNERS = frozenset({Role.TOWNSHIP_AGENT, Role.WINDOW_CLERK, Role.REVIEWER})
#: Who may upload materials: whoever files or verifies.
UPLOADERS = FILERS | VERIFIERS
REVIEWERS = frozenset({Role.REVIEWER})
FINANCE = frozenset({Role.FINANCE})
SUPERVISORS = frozenset({Role.SUPERVISOR})


# ── guards ───────────────────────────────────────────────────────────────────────────────

def _role(actor, *roles: str) -> bool:
    """Whether ``actor`` passes the kernel's guard for ``roles`` (for the ``can_*`` answers)."""
    try:
        require_actor(actor, roles)
    except PermissionDenied:
        return False
    return True


def _see(actor, township) -> None:
    if not can_see_township(actor, township):
        raise PermissionDenied(_("该人员不属于您所在的乡镇(街道),无权办理。"))


def can_file(actor, township) -> bool:
    """A township agent of ``township`` or a window clerk who can see it (or a superuser)."""
    if not _role(actor, Role.TOWNSHIP_AGENT, Role.WINDOW_CLERK):
        return False
    if actor.role == Role.TOWNSHIP_AGENT and not actor.is_superuser:
        return actor.region_id == getattr(township, "pk", None)
    return can_see_township(actor, township)


def _require_file(actor, township) -> None:
    require_actor(actor, FILERS, message=_("只有乡镇经办或窗口经办可以填报、补正申请。"))
    _see(actor, township)
    if not can_file(actor, township):
        raise PermissionDenied(_("乡镇经办只能为本乡镇(街道)的居民办理。"))


def _not_own(actor, application: Application, what: str) -> None:
    if application.filed_by_id == actor.pk:
        raise PermissionDenied(_("不能%(what)s自己填报的申请。") % {"what": what})


def can_verify(actor, application: Application) -> bool:
    if application.filed_by_id == getattr(actor, "pk", None) or not can_see_township(actor, application.township):
        return False
    if _role(actor, Role.REVIEWER):
        return True
    return _role(actor, Role.TOWNSHIP_AGENT) and actor.region_id == application.township_id


def can_return(actor, application: Application) -> bool:
    if application.filed_by_id == getattr(actor, "pk", None) or not can_see_township(actor, application.township):
        return False
    if _role(actor, Role.REVIEWER):
        return application.status in OPEN_STATUSES
    if application.status not in AWAITING_VERIFICATION:
        return False
    if _role(actor, Role.WINDOW_CLERK):
        return True
    return _role(actor, Role.TOWNSHIP_AGENT) and actor.region_id == application.township_id


def can_decide(actor, application: Application) -> bool:
    return (_role(actor, Role.REVIEWER) and application.filed_by_id != actor.pk
            and can_see_township(actor, application.township))


def _status(application: Application, allowed: tuple[str, ...], doing: str) -> None:
    if application.status not in allowed:
        raise ValidationError({"detail": [
            _("申请当前状态为“%(status)s”,不能%(doing)s。") % {"status": application.get_status_display(), "doing": doing}]})


def _lock(application: Application) -> Application:
    return (Application.objects.select_for_update()
            .select_related("person", "person__village", "township").get(pk=application.pk))


def _event(application: Application, *, action: str, actor, from_status: str = "", reason: str = "",
           data: dict | None = None) -> ApplicationEvent:
    return ApplicationEvent.objects.create(
        application=application, action=action, from_status=from_status, to_status=application.status,
        actor=actor if getattr(actor, "is_authenticated", False) else None, reason=reason or "", data=data or {})


def _move(application: Application, *, to: str, action: str, actor, reason: str = "", fields: list[str],
          data: dict | None = None) -> Application:
    before = application.status
    application.status = to
    audited_save(application, actor=actor, reason=reason or str(Action(action).label),
                 update_fields=["status", *fields])
    _event(application, action=action, actor=actor, from_status=before, reason=reason, data=data)
    return application


def _snapshot(person: Person, on: date) -> PolicySnapshot:
    return policy_snapshot(person.village, on)


def _today(on: date | None) -> date:
    return on or timezone.localdate()
