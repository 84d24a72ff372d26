"""XLSX exports of procurement reports: the supplier statement (对账单) and volume completion,
as the kernel's sheets (``yibao_site.xlsx``: money as numbers, formula-safe text)."""
from __future__ import annotations

from django.utils.translation import gettext as _

from yibao_site.money import decimal_text
from yibao_site.xlsx import Sheet

from .models import DeliveryStatus


def _day(value) -> str:
    return value.isoformat() if value else ""


def _amount(value) -> str:
    return "" if value is None else decimal_text(value)


def supplier_statement_sheets(statement: dict) -> list[Sheet]:
    """One sheet summary, one of deliveries, one of payment orders."""
    labels = dict(DeliveryStatus.choices)
    summary = Sheet(_("汇总"), [_("供应企业"), f"{statement['supplier_name']}({statement['supplier']})"], rows=[
        [_("期间"), f"{_day(statement['date_from'])} ~ {_day(statement['date_to'])}"],
        [_("配送发票金额合计"), _amount(statement["delivered_amount"])],
        [_("期间已支付笔数"), statement["paid_count"]],
        [_("期间已支付金额"), _amount(statement["paid_amount"])],
        [_("待支付笔数"), statement["outstanding_count"]],
        [_("待支付金额"), _amount(statement["outstanding_amount"])],
        [_("其中对账挂起金额"), _amount(statement["held_amount"])],
        [_("逾期笔数"), statement["overdue_count"]],
    ])
    deliveries = Sheet(_("配送明细"), [_("配送编号"), _("医疗机构"), _("产品"), _("配送日期"), _("配送数量"), _("发票号"),
                                   _("发票金额"), _("状态"), _("验收日期"), _("验收数量"), _("验收金额"), _("付款期限"),
                                   _("支付日期"), _("付款单号")], money_columns={6, 10})
    for d in statement["deliveries"]:
        deliveries.rows.append([d["id"], d["hospital"], d["product"], _day(d["delivered_on"]), d["quantity"],
                                d["invoice_number"], d["amount"], str(labels[d["status"]]), _day(d["accepted_on"]),
                                d["accepted_quantity"], d["accepted_amount"], _day(d["due_on"]), _day(d["paid_on"]),
                                d["payment_order"] or ""])
    orders = Sheet(_("付款单"), [_("付款单号"), _("结算日期"), _("笔数"), _("金额")], money_columns={3})
    for o in statement["payment_orders"]:
        orders.rows.append([o["number"], _day(o["as_of"]), o["count"], o["amount"]])
    return [summary, deliveries, orders]


def volume_completion_sheet(rows) -> Sheet:
    """Completion per hospital and product; laggards highlighted."""
    sheet = Sheet(_("约定采购量完成情况"), [_("医疗机构编码"), _("医疗机构"), _("乡镇(街道)"), _("产品编码"), _("产品"), _("年度"),
                                     _("约定采购量"), _("已验收数量"), _("完成率"), _("进度要求"), _("是否滞后")])
    for n, r in enumerate(rows):
        sheet.rows.append([r.hospital, r.hospital_name, r.township, r.product, r.product_name, r.year, r.agreed, r.done,
                           f"{r.completion:.4f}", f"{r.expected:.4f}", _("滞后") if r.laggard else ""])
        if r.laggard:
            sheet.highlight_rows.add(n)
    return sheet
