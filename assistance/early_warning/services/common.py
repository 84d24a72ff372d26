"""What every part of the early warning's services shares: the job's actor, the role guards
and the error shape."""
from __future__ import annotations

from django.core.exceptions import ValidationError

from yibao_site.actors import require_actor, system_actor
from yibao_site.models import Role

from ..models import PartnerAccount

#: The actor of the monthly job, the resumption of missed runs and the pushes.
SYSTEM = system_actor("assistance.early_warning")
SUPERVISOR = frozenset({Role.SUPERVISOR})


def error(field_name: str, message: str) -> ValidationError:
    return ValidationError({field_name: [message]})


def partner_of(user) -> PartnerAccount | None:
    """The active partner-department binding of ``user``, if any."""
    if not getattr(user, "is_authenticated", False):
        return None
    try:
        account = user.partner_account
    except PartnerAccount.DoesNotExist:
        return None
    return account if account.active else None


def require_partner_or(actor, roles) -> PartnerAccount | None:
    """A partner department acting for itself, or staff of ``roles`` (fails closed); return
    the partner binding (``None`` for staff)."""
    partner = partner_of(actor)
    if partner is not None and getattr(actor, "is_active", False):
        return partner
    require_actor(actor, roles)
    return None


def user_or_none(actor):
    """The user to record in a ``…_by`` column (a system actor records none)."""
    return actor if getattr(actor, "is_authenticated", False) else None
