"""What the bank-payment services share: who may do what, and the batch row lock."""
from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from yibao_site.models import Role

from ..models import InstructionBatch

FINANCE = frozenset({Role.FINANCE})
APPROVERS = frozenset({Role.SUPERVISOR})
REVIEWERS = frozenset({Role.FINANCE, Role.SUPERVISOR})


def _lock_batch(batch_id: int) -> InstructionBatch:
    batch = InstructionBatch.objects.select_for_update().filter(pk=batch_id).first()
    if batch is None:
        raise ValidationError({"detail": [_("支付指令批次不存在。")]})
    return batch
