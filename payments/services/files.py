"""Bank files: the configurable layout, the file of a batch, and sending it to the bank."""
from __future__ import annotations

import csv
import hashlib
import io
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from yibao_site.actors import require_actor
from yibao_site.audit import audited_save
from yibao_site.inputs import excel_safe
from yibao_site.xlsx import Sheet, workbook_bytes

from .. import rules
from ..models import BankFile, BankFileLayout, BatchStatus, FileFormat, InstructionBatch, Purpose
from ._common import FINANCE, _lock_batch


def default_layout() -> BankFileLayout:
    """The default layout; the shipped standard one when none is marked default."""
    layout = BankFileLayout.objects.filter(is_default=True).first()
    if layout is None:
        layout, _created = BankFileLayout.objects.get_or_create(code=rules.STANDARD_LAYOUT["code"],
                                                                defaults={**rules.STANDARD_LAYOUT, "is_default": True})
    return layout


def layout_errors(columns) -> list[str]:
    """Problems of a layout's column list (used by the admin form and the file producer)."""
    if not isinstance(columns, list) or not columns:
        return [_("列定义应为非空列表。")]
    errors = []
    for c in columns:
        if not isinstance(c, dict) or not str(c.get("header", "")).strip() or c.get("field") not in rules.FILE_FIELDS:
            errors.append(_("每列应有 header 和 field,field 取值:%(fields)s") % {"fields": ", ".join(rules.FILE_FIELDS)})
            break
    if "number" not in [c.get("field") for c in columns if isinstance(c, dict)]:
        errors.append(_("银行文件必须包含指令编号列(number),银行据此防止重复支付。"))
    return errors


def render_file(batch: InstructionBatch, layout: BankFileLayout) -> bytes:
    """The batch's instruction file in ``layout`` (CSV: the same instructions always give the
    same bytes; XLSX: the same cells).  Text cells never start a spreadsheet formula."""
    errors = layout_errors(layout.columns)
    if errors:
        raise ValidationError({"layout": errors})
    purpose = str(Purpose(batch.purpose).label)
    rows = []
    for ins in batch.instructions.order_by("number"):
        data = {"number": ins.number, "payee_name": ins.payee_name, "account_name": ins.account_name,
                "account_number": ins.account_number, "bank_name": ins.bank_name, "amount": ins.amount,
                "purpose": purpose, "memo": ins.memo, "payee_code": ins.payee_code, "batch": batch.source_ref}
        rows.append([rules.column_value(c["field"], data) for c in layout.columns])
    header = [str(c["header"]) for c in layout.columns]
    amount_cols = {i for i, c in enumerate(layout.columns) if c["field"] == "amount"}
    if layout.file_format == FileFormat.XLSX:
        return workbook_bytes([Sheet("instructions", header, [[Decimal(v) if i in amount_cols else v
                                                                for i, v in enumerate(row)] for row in rows],
                                     money_columns=amount_cols)])
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([[v if i in amount_cols else excel_safe(v) for i, v in enumerate(row)] for row in rows])
    return buf.getvalue().encode(layout.encoding)


@transaction.atomic
def bank_file_produce(*, batch_id: int, actor, layout: BankFileLayout | None = None) -> BankFile:
    """Produce the batch's bank file (finance), once it is ready (signed off where required).

    Producing it again (a lost file, another layout) yields the same instructions and numbers.
    """
    require_actor(actor, FINANCE, message=_("只有财务人员可以生成银行文件。"))
    batch = _lock_batch(batch_id)
    if batch.status == BatchStatus.CREATED:
        raise ValidationError({"detail": [_("批次尚未制单,不能生成银行文件。")]})
    if batch.status == BatchStatus.AWAITING_APPROVAL:
        raise ValidationError({"detail": [_("批次金额 %(total)s 元超过分级审批金额 %(limit)s 元,须主管审批后才能生成银行文件。")
                                          % {"total": batch.total_amount, "limit": batch.signoff_threshold}]})
    layout = layout or default_layout()
    content = render_file(batch, layout)
    n = batch.files.count() + 1
    bank_file = BankFile(batch=batch, layout=layout, filename=f"{batch.source_ref.replace(':', '-')}-{n}.{layout.file_format}",
                         content=content, sha256=hashlib.sha256(content).hexdigest(), count=batch.count,
                         total_amount=batch.total_amount, produced_by=actor)
    audited_save(bank_file, actor=actor, reason=_("生成银行文件"))
    return bank_file


@transaction.atomic
def bank_file_mark_sent(*, file_id: int, actor) -> BankFile:
    """Record that finance sent the file to the bank (who, when); the batch is then sent."""
    require_actor(actor, FINANCE, message=_("只有财务人员可以登记发送银行。"))
    bank_file = BankFile.objects.select_for_update().filter(pk=file_id).first()
    if bank_file is None:
        raise ValidationError({"detail": [_("银行文件不存在。")]})
    if bank_file.sent_at is not None:
        raise ValidationError({"detail": [_("该文件已于 %(at)s 登记发送。") % {"at": f"{timezone.localtime(bank_file.sent_at):%Y-%m-%d %H:%M}"}]})
    batch = _lock_batch(bank_file.batch_id)
    now = timezone.now()
    bank_file.sent_by, bank_file.sent_at = actor, now
    audited_save(bank_file, actor=actor, reason=_("发送银行"), update_fields=["sent_by", "sent_at"])
    if batch.status != BatchStatus.SENT:
        batch.status, batch.sent_by, batch.sent_at = BatchStatus.SENT, actor, now
        audited_save(batch, actor=actor, reason=_("发送银行"), update_fields=["status", "sent_by", "sent_at"])
    return bank_file
