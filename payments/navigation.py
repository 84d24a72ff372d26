"""Payments' section of the admin sidebar."""
from django.utils.translation import gettext_lazy as _

from yibao_site.navigation import item, section

section("payments", _("银行支付"), order=500, items=[
    item(_("支付指令批次"), "request_quote", "admin:payments_instructionbatch_changelist", "finance"),
    item(_("支付指令"), "receipt", "admin:payments_instruction_changelist", "finance"),
    item(_("银行回盘"), "move_to_inbox", "admin:payments_bankresult_changelist", "finance"),
    item(_("收款信息更正"), "edit", "admin:payments_payeecorrection_changelist", "finance"),
    item(_("支付对账"), "balance", "admin:payments_reconciliation", "finance"),
])
