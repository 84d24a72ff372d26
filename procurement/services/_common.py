"""What the procurement services share: who may write, and how a number typed by finance or
read from a file is checked (the kernel's money rule, field-keyed errors)."""
from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from yibao_site.inputs import parse_money
from yibao_site.models import Role

from ..models import DeliveryStatus

FINANCE_ROLES = frozenset({Role.FINANCE})
#: Who may approve a supplier's corrected bank details (payments' reviewers of a payee correction).
CORRECTION_REVIEWERS = frozenset({Role.FINANCE, Role.SUPERVISOR})
#: Accepted but no money received yet: the 30-day clock is still running.
UNPAID = [DeliveryStatus.ACCEPTED, DeliveryStatus.HELD, DeliveryStatus.INSTRUCTED, DeliveryStatus.RETURNED]


def _money(value, field: str) -> Decimal:
    try:
        return parse_money(value, allow_number=True)  # the kernel's one money rule and bound
    except ValidationError as exc:
        raise ValidationError({field: exc.messages}) from None


def _positive_int(value, field: str, *, allow_zero: bool = False) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValidationError({field: [_("请输入整数。")]}) from None
    if number < 0 or (number == 0 and not allow_zero) or number > 2_000_000_000 or str(number) != str(value).strip():
        raise ValidationError({field: [_("数量应为正整数。") if not allow_zero else _("数量应为不小于0的整数。")]})
    return number

