"""XLSX exports of procurement reports: the supplier statement (对账单) and volume completion."""
from __future__ import annotations

from io import BytesIO

from django.utils.translation import gettext as _
from openpyxl import Workbook

from yibao_site.inputs import excel_safe_row
from openpyxl.styles import PatternFill

from .models import DeliveryStatus

LAGGARD_FILL = PatternFill("solid", fgColor="FDE68A")


def _money(value) -> str:
    return "" if value is None else f"{value:.2f}"


def _day(value) -> str:
    return value.isoformat() if value else ""


def supplier_statement_xlsx(statement: dict) -> bytes:
    """One sheet of deliveries, one of payment orders, one summary."""
    wb = Workbook()
    summary = wb.active
    summary.title = _("汇总")
    labels = dict(DeliveryStatus.choices)
    summary.append(excel_safe_row([_("供应企业"), f"{statement['supplier_name']}({statement['supplier']})"]))
    summary.append(excel_safe_row([_("期间"), f"{_day(statement['date_from'])} ~ {_day(statement['date_to'])}"]))
    summary.append(excel_safe_row([_("配送发票金额合计"), _money(statement["delivered_amount"])]))
    summary.append(excel_safe_row([_("期间已支付笔数"), statement["paid_count"]]))
    summary.append(excel_safe_row([_("期间已支付金额"), _money(statement["paid_amount"])]))
    summary.append(excel_safe_row([_("待支付笔数"), statement["outstanding_count"]]))
    summary.append(excel_safe_row([_("待支付金额"), _money(statement["outstanding_amount"])]))
    summary.append(excel_safe_row([_("其中对账挂起金额"), _money(statement["held_amount"])]))
    summary.append(excel_safe_row([_("逾期笔数"), statement["overdue_count"]]))
    sheet = wb.create_sheet(_("配送明细"))
    sheet.append(excel_safe_row([_("配送编号"), _("医疗机构"), _("产品"), _("配送日期"), _("配送数量"), _("发票号"), _("发票金额"),
                  _("状态"), _("验收日期"), _("验收数量"), _("验收金额"), _("付款期限"), _("支付日期"), _("付款单号")]))
    for d in statement["deliveries"]:
        sheet.append(excel_safe_row([d["id"], d["hospital"], d["product"], _day(d["delivered_on"]), d["quantity"], d["invoice_number"],
                      _money(d["amount"]), str(labels[d["status"]]), _day(d["accepted_on"]), d["accepted_quantity"],
                      _money(d["accepted_amount"]), _day(d["due_on"]), _day(d["paid_on"]), d["payment_order"] or ""]))
    orders = wb.create_sheet(_("付款单"))
    orders.append(excel_safe_row([_("付款单号"), _("结算日期"), _("笔数"), _("金额")]))
    for o in statement["payment_orders"]:
        orders.append(excel_safe_row([o["number"], _day(o["as_of"]), o["count"], _money(o["amount"])]))
    out = BytesIO()
    wb.save(out)
    return out.getvalue()


def volume_completion_xlsx(rows) -> bytes:
    """Completion per hospital and product; laggards highlighted."""
    wb = Workbook()
    sheet = wb.active
    sheet.title = _("约定采购量完成情况")
    sheet.append(excel_safe_row([_("医疗机构编码"), _("医疗机构"), _("乡镇(街道)"), _("产品编码"), _("产品"), _("年度"), _("约定采购量"),
                  _("已验收数量"), _("完成率"), _("进度要求"), _("是否滞后")]))
    for r in rows:
        sheet.append(excel_safe_row([r.hospital, r.hospital_name, r.township, r.product, r.product_name, r.year, r.agreed, r.done,
                      f"{r.completion:.4f}", f"{r.expected:.4f}", _("滞后") if r.laggard else ""]))
        if r.laggard:
            for cell in sheet[sheet.max_row]:
                cell.fill = LAGGARD_FILL
    out = BytesIO()
    wb.save(out)
    return out.getvalue()
