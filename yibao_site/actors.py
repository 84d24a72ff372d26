"""Who is acting: a staff user, or an explicit system actor for scheduled jobs — and the one
guard every write service calls first.

Every service that writes takes ``actor`` and calls :func:`require_actor` before anything else.
It fails closed: no actor, an inactive user, a role outside ``roles`` or a system actor where
the service does not accept one are all refused with ``PermissionDenied`` (the API answers 403,
the admin shows the message). Scheduled jobs pass :func:`system_actor` explicitly, so a job is
never mistaken for "nobody checked". History rows written for a system actor have no user and
say which job wrote them.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext as _


@dataclass(frozen=True)
class SystemActor:
    """A scheduled job (Celery beat) or a management command acting without a person."""

    job: str
    role: str = "system"
    is_active: bool = True
    is_superuser: bool = False
    is_staff: bool = False
    # Not a login: audit helpers record no user for it (``history_user`` stays empty).
    is_authenticated: bool = False
    pk: None = None
    id: None = None

    @property
    def username(self) -> str:
        return f"system:{self.job}"

    def __str__(self) -> str:
        return self.username


def system_actor(job: str) -> SystemActor:
    """The actor of scheduled job ``job`` (e.g. ``"procurement.payment_run"``)."""
    return SystemActor(job=job)


def is_system(actor) -> bool:
    return isinstance(actor, SystemActor)


def require_actor(actor, roles: Iterable[str] = (), *, system: bool = False, message: str | None = None):
    """Refuse unless ``actor`` may call a service open to ``roles`` (and to jobs if ``system``).

    Superusers pass any role check; township scoping is the caller's next step, not this one.
    Returns the actor so a service can write ``actor = require_actor(actor, WRITERS)``.
    """
    if actor is None:
        raise PermissionDenied(_("缺少操作人:此操作必须由已登录的工作人员或系统任务执行。"))
    if isinstance(actor, SystemActor):
        if system:
            return actor
        raise PermissionDenied(message or _("系统任务不能执行此操作。"))
    if not getattr(actor, "is_active", False) or not getattr(actor, "is_authenticated", False):
        raise PermissionDenied(message or _("账号未登录或已停用。"))
    if getattr(actor, "is_superuser", False):
        return actor
    roles = frozenset(roles)
    if not roles or getattr(actor, "role", None) not in roles:
        raise PermissionDenied(message or _("您的角色无权执行此操作。"))
    return actor


def audit_reason(actor, reason: str) -> str:
    """The history reason: a system actor's job is named when the caller gave none."""
    if isinstance(actor, SystemActor) and not reason:
        return _("系统任务 %(job)s") % {"job": actor.job}
    return reason
