"""Assistance entitlements (救助资格): granted when a reviewer approves an application in
assistance, revoked from a date."""
from __future__ import annotations

from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from yibao_site.actors import require_actor
from yibao_site.audit import audited_save

from ..models import AssistanceEntitlement, EntitlementKind, Person
from .common import ENTITLEMENT_WRITERS, error


@transaction.atomic
def entitlement_grant(*, person: Person, kind: str, category: int | None, valid_from: date, valid_to: date,
                      application_id: int | None = None, actor=None) -> AssistanceEntitlement:
    """Grant an assistance entitlement when a reviewer approves an application (救助资格).

    Granting again for the same ``application_id`` with the same terms returns the existing
    entitlement (a retried approval changes nothing); different terms are refused.
    """
    require_actor(actor, ENTITLEMENT_WRITERS)
    errors = {}
    if kind not in EntitlementKind.values:
        errors["kind"] = [_("类型应为 determination 或 tilt。")]
    if kind == EntitlementKind.DETERMINATION and category not in (1, 2, 3, 4):
        errors["category"] = [_("救助对象认定须指定救助类别(1-4)。")]
    if category is not None and category not in (1, 2, 3, 4):
        errors["category"] = [_("救助类别应为1至4。")]
    if valid_to < valid_from:
        errors["valid_to"] = [_("有效期止不能早于有效期起。")]
    if errors:
        raise ValidationError(errors)
    if application_id is not None:
        existing = AssistanceEntitlement.objects.select_for_update().filter(application_id=application_id).first()
        if existing is not None:
            same = (existing.person_id, existing.kind, existing.category, existing.valid_from, existing.valid_to) == \
                (person.pk, kind, category, valid_from, valid_to)
            if same:
                return existing
            raise error("application_id", _("该申请已授予过不同内容的救助资格。"))
    ent = AssistanceEntitlement(person=person, kind=kind, category=category, valid_from=valid_from,
                                valid_to=valid_to, application_id=application_id)
    audited_save(ent, actor=actor, reason=_("授予救助资格"))
    return ent


@transaction.atomic
def entitlement_revoke(*, entitlement: AssistanceEntitlement, on: date, actor=None) -> AssistanceEntitlement:
    """Revoke an entitlement from ``on``."""
    require_actor(actor, ENTITLEMENT_WRITERS)
    ent = AssistanceEntitlement.objects.select_for_update().get(pk=entitlement.pk)
    if ent.revoked_on is not None:
        raise error("detail", _("该救助资格已撤销。"))
    ent.revoked_on = on
    audited_save(ent, actor=actor, reason=_("撤销救助资格"), update_fields=["revoked_on"])
    return ent
