"""The bank's return file (银行回盘文件) through the shared import engine: all-or-nothing,
row-numbered report, idempotent (the same file twice changes nothing)."""
from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from yibao_site.imports import BulkImporter, RowError, cell_date, cell_text, register
from yibao_site.inputs import parse_money
from yibao_site.money import FEN

from . import services
from .models import Instruction, ResultChannel, ResultOutcome

#: What an instruction's amount column holds (the bank echoes our amounts; no typing bound).
_AMOUNT = Instruction._meta.get_field("amount")
AMOUNT_MAX = Decimal(10) ** (_AMOUNT.max_digits - _AMOUNT.decimal_places) - FEN

OUTCOME_ALIASES = {"paid": ResultOutcome.PAID, "成功": ResultOutcome.PAID, "支付成功": ResultOutcome.PAID,
                   "success": ResultOutcome.PAID, "failed": ResultOutcome.FAILED, "失败": ResultOutcome.FAILED,
                   "支付失败": ResultOutcome.FAILED, "退回": ResultOutcome.FAILED, "fail": ResultOutcome.FAILED}


@register
class BankResultImporter(BulkImporter):
    name = "bank-results"
    verbose_name = gettext_lazy("银行回盘")
    columns = ["number", "account_number", "amount", "result", "bank_reference", "date", "reason"]
    required = {"number", "account_number", "amount", "result", "date"}
    header_aliases = {"指令编号": "number", "收款账号": "account_number", "金额": "amount", "交易金额": "amount",
                      "处理结果": "result", "结果": "result", "银行流水号": "bank_reference", "交易流水号": "bank_reference",
                      "处理日期": "date", "交易日期": "date", "失败原因": "reason"}

    def prepare(self, rows):
        self._found = services.instructions_for_results(cell_text(r, "number") for r in rows)
        self._today = timezone.localdate()

    def clean_row(self, row):
        errors: dict[str, list[str]] = {}
        number = cell_text(row, "number")
        if not number:
            errors["number"] = [_("必填。")]
        try:  # the kernel's money rule; the bound is the instruction column's
            amount = parse_money(cell_text(row, "amount"), allow_number=True, maximum=AMOUNT_MAX)
        except ValidationError as exc:
            errors["amount"] = exc.messages
            amount = None
        outcome = OUTCOME_ALIASES.get(cell_text(row, "result").lower(), cell_text(row, "result"))
        on = cell_date(row, "date", errors)
        if errors:
            raise ValidationError(errors)
        result = services.ResultRow(number=number, outcome=outcome, result_on=on, amount=amount,
                                    account_number=cell_text(row, "account_number"),
                                    bank_reference=cell_text(row, "bank_reference"), reason=cell_text(row, "reason"))
        problems = services.result_errors(result, self._found.get(number), today=self._today)
        if problems:
            raise ValidationError(problems)
        return result

    def check_file(self, rows, cleaned):
        seen, out = {}, []
        for number, r in cleaned:
            if r.number in seen:
                out.append(RowError(number, "number", _("与第 %(row)s 行重复。") % {"row": seen[r.number]}))
            seen.setdefault(r.number, number)
        return out

    def write(self, cleaned, *, actor=None):
        done = services.results_record(rows=cleaned, channel=ResultChannel.FILE, actor=actor)
        return done["created"], 0, done["unchanged"]
