"""Finance's home-page items: batches to prepare, approve or send, unconfirmed and returned
instructions, corrections to review."""
from __future__ import annotations

from django.db.models import Count, Q
from django.urls import reverse
from django.utils.translation import gettext as _

from yibao_site import dashboard
from yibao_site.models import Role

from .models import BatchStatus, CorrectionStatus, Instruction, InstructionBatch, InstructionStatus, PayeeCorrection


@dashboard.register
def payments_items(request) -> list[dashboard.Item]:
    user = request.user
    if not user.is_authenticated or not (user.is_superuser or user.role in (Role.FINANCE, Role.SUPERVISOR)):
        return []
    group = _("银行支付")
    batches = InstructionBatch.objects.aggregate(
        created=Count("id", filter=Q(status=BatchStatus.CREATED)),
        approval=Count("id", filter=Q(status=BatchStatus.AWAITING_APPROVAL)),
        ready=Count("id", filter=Q(status=BatchStatus.READY)))
    ins = Instruction.objects.aggregate(
        escalated=Count("id", filter=Q(status=InstructionStatus.PENDING, escalated_on__isnull=False)),
        failed=Count("id", filter=Q(status=InstructionStatus.FAILED, released_at__isnull=True)))
    corrections = PayeeCorrection.objects.filter(status=CorrectionStatus.SUBMITTED).count()
    b_url = reverse("admin:payments_instructionbatch_changelist")
    i_url = reverse("admin:payments_instruction_changelist")
    level = lambda n, bad="warning": bad if n else "info"  # noqa: E731
    return [
        dashboard.Item(_("待制单支付批次"), batches["created"], f"{b_url}?status__exact=created", level(batches["created"]), group),
        dashboard.Item(_("待主管审批支付批次"), batches["approval"], f"{b_url}?status__exact=awaiting_approval",
                       level(batches["approval"]), group),
        dashboard.Item(_("待生成或发送银行文件"), batches["ready"], f"{b_url}?status__exact=ready", level(batches["ready"]), group),
        dashboard.Item(_("超期未确认支付指令"), ins["escalated"], f"{i_url}?escalated=1", level(ins["escalated"], "danger"), group),
        dashboard.Item(_("银行退回待更正"), ins["failed"], f"{i_url}?status__exact=failed", level(ins["failed"]), group),
        dashboard.Item(_("待复核收款信息更正"), corrections, reverse("admin:payments_payeecorrection_changelist"),
                       level(corrections), group),
        dashboard.Item(_("支付对账"), 0, reverse("admin:payments_reconciliation"), "info", group),
    ]
