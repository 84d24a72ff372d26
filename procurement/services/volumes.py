"""Agreed yearly volumes (约定采购量) of a hospital per selected product."""
from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from yibao_site.actors import require_actor
from yibao_site.audit import audited_save

from ..models import AgreedVolume, Hospital, Product
from ._common import FINANCE_ROLES, _positive_int


@transaction.atomic
def agreed_volume_save(*, hospital: Hospital, product: Product, year: int, quantity, actor=None) -> AgreedVolume:
    """Set the agreed yearly volume of ``hospital`` for ``product`` (约定采购量)."""
    require_actor(actor, FINANCE_ROLES)
    qty = _positive_int(quantity, "quantity")
    if not 2000 <= int(year) <= 2100:
        raise ValidationError({"year": [_("年度不正确。")]})
    vol = (AgreedVolume.objects.select_for_update().filter(hospital=hospital, product=product, year=year).first()
           or AgreedVolume(hospital=hospital, product=product, year=year))
    if vol.pk and vol.quantity == qty:
        return vol
    vol.quantity = qty
    audited_save(vol, actor=actor, reason=_("保存约定采购量"))
    return vol
