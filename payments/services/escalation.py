"""Instructions still unconfirmed past the policy's days: escalated once (每日提醒)."""
from __future__ import annotations

import logging
from datetime import date

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from yibao_site.actors import require_actor
from yibao_site.audit import bulk_update_audited
from yibao_site.policy import PolicyCache

from .. import rules
from ..models import BatchStatus, Instruction, InstructionStatus
from ._common import FINANCE


log = logging.getLogger("payments.services")


@transaction.atomic
def instructions_escalate(*, on: date | None = None, actor=None) -> dict:
    """Escalate instructions still unconfirmed more than ``payments.pending_escalation_days``
    after their file was sent (每日提醒); each is escalated once, the first day it is late.
    Idempotent for a day: the same date twice escalates nothing new.  Finance on demand, or
    the daily reminder job with its system actor."""
    require_actor(actor, FINANCE, system=True)
    on = on or timezone.localdate()
    pending = (Instruction.objects.select_for_update(of=("self",)).select_related("batch__region")
               .filter(status=InstructionStatus.PENDING, batch__status=BatchStatus.SENT).order_by("pk"))
    cache, late, still = PolicyCache(), [], 0
    for ins in pending:
        days = cache.get(ins.batch.region, on).integer("payments.pending_escalation_days")
        if rules.pending_overdue(timezone.localtime(ins.batch.sent_at).date(), on, days):
            still += 1
            if ins.escalated_on is None:
                ins.escalated_on = on
                late.append(ins)
    bulk_update_audited(late, Instruction, ["escalated_on"], actor=actor, reason=_("超期未确认,已升级"))
    if still:
        log.warning("payments: %s instructions unconfirmed past the escalation period (%s new)", still, len(late))
    return {"as_of": on.isoformat(), "overdue": still, "escalated": len(late)}
