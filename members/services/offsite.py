"""Off-site treatment registration (异地就医备案): relocation or referral, over a period."""
from __future__ import annotations

from datetime import date, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from yibao_site.actors import require_actor
from yibao_site.audit import audited_save

from ..models import OffsiteKind, OffsiteRegistration, Person
from .common import CLERKS, error


@transaction.atomic
def offsite_register(*, person: Person, kind: str, destination: str, valid_from: date, valid_to: date,
                     in_province: bool = True, hospital: str = "", actor=None) -> OffsiteRegistration:
    """Register off-site treatment (异地就医备案): relocation or referral, over a period."""
    require_actor(actor, CLERKS)
    errors = {}
    if kind not in OffsiteKind.values:
        errors["kind"] = [_("备案类型应为 relocation 或 referral。")]
    if not (destination or "").strip():
        errors["destination"] = [_("请填写就医地。")]
    if valid_to < valid_from:
        errors["valid_to"] = [_("有效期止不能早于有效期起。")]
    if kind == OffsiteKind.REFERRAL and not (hospital or "").strip():
        errors["hospital"] = [_("转诊转院须填写转入医院。")]
    if errors:
        raise ValidationError(errors)
    Person.objects.select_for_update().filter(pk=person.pk).first()
    overlap = OffsiteRegistration.objects.filter(person=person, kind=kind, revoked_on__isnull=True,
                                                 valid_from__lte=valid_to, valid_to__gte=valid_from)
    if overlap.exists():
        raise error("valid_from", _("与该人员已有的同类备案期间重叠。"))
    reg = OffsiteRegistration(person=person, kind=kind, destination=destination.strip(), in_province=in_province,
                              hospital=(hospital or "").strip(), valid_from=valid_from, valid_to=valid_to)
    audited_save(reg, actor=actor, reason=_("异地就医备案"))
    return reg


@transaction.atomic
def offsite_revoke(*, registration: OffsiteRegistration, on: date, actor=None) -> OffsiteRegistration:
    """Revoke a registration from ``on`` (the period ends the day before)."""
    require_actor(actor, CLERKS)
    reg = OffsiteRegistration.objects.select_for_update().get(pk=registration.pk)
    if reg.revoked_on is not None:
        raise error("detail", _("该备案已撤销。"))
    if on <= reg.valid_from:
        raise error("on", _("撤销日期应晚于备案有效期起。"))
    reg.revoked_on = on
    reg.valid_to = min(reg.valid_to, on - timedelta(days=1))
    audited_save(reg, actor=actor, reason=_("撤销异地就医备案"), update_fields=["revoked_on", "valid_to"])
    return reg
