"""Paying an approved retroactive or tilt amount, exactly once (财务支付), and marking the
application's ledger entries as paid in cash."""
from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from claims.public import ledger_entries_settle_cash
from yibao_site.actors import require_actor
from yibao_site.audit import audited_save

from ..models import Application, ApplicationKind, Payout
from .guards import FINANCE, Action, S, _event, _lock, _see


@transaction.atomic
def payout_create(*, actor, application: Application, reference: str = "") -> Payout:
    """Pay an approved retroactive or tilt amount, exactly once (财务支付)."""
    require_actor(actor, FINANCE, message=_("只有财务人员可以支付救助金。"))
    app = _lock(application)  # the row lock serialises concurrent payment attempts
    _see(actor, app.township)
    if app.kind not in (ApplicationKind.RETROACTIVE, ApplicationKind.TILT):
        raise ValidationError({"application": [_("只有一次性追溯救助和倾斜救助需要支付。")]})
    if app.status != S.APPROVED:
        raise ValidationError({"application": [_("申请尚未批准,不能支付。")]})
    if Payout.objects.filter(application=app).exists():
        raise ValidationError({"application": [_("该申请已支付,不能重复支付。")]})
    if not app.amount or app.amount <= 0:
        raise ValidationError({"application": [_("核定金额为零,无需支付。")]})
    payout = Payout(application=app, amount=app.amount, reference=(reference or "").strip()[:60], paid_by=actor)
    try:
        with transaction.atomic():
            audited_save(payout, actor=actor, reason=_("支付救助金"))
    except IntegrityError:
        raise ValidationError({"application": [_("该申请已支付,不能重复支付。")]}) from None
    ledger_entries_settle_cash(application_id=app.pk, reference=payout.reference or f"PAYOUT-{payout.pk}",
                               actor=actor)
    _event(app, action=Action.PAYOUT, actor=actor, from_status=app.status,
           data={"amount": str(payout.amount), "reference": payout.reference})
    return payout
