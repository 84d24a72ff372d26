"""The subsidy batch workbook for the tax bureau (资助参保名单, 税务部门征收用)."""
from __future__ import annotations

from io import BytesIO

from django.utils.translation import gettext as _
from openpyxl import Workbook

from yibao_site.inputs import excel_safe_row
from yibao_site.xlsx import xlsx_bytes_response

from .models import IdentityKind, SubsidyBatch, SubsidyLine
from .selectors import subsidy_batch_totals


def subsidy_batch_xlsx(batch: SubsidyBatch) -> bytes:
    """Return the batch as an XLSX: one sheet of lines (whole IDs: the tax bureau collects by
    them), one of totals by identity, one of totals by township."""
    wb = Workbook(write_only=True)
    sheet = wb.create_sheet(_("资助名单"))
    sheet.append(excel_safe_row([_("公民身份号码"), _("姓名"), _("乡镇(街道)"), _("村(社区)"), _("身份类别"), _("资助比例"),
                  _("计算基数"), _("资助金额"), _("参保年度")]))
    lines = (SubsidyLine.objects.filter(batch=batch).order_by("township__code", "person__id_number")
             .values_list("person__id_number", "person__name", "township__name", "person__village__name", "kind",
                          "rate", "premium", "amount", "year"))
    labels = dict(IdentityKind.choices)
    for idn, name, town, village, kind, rate, premium, amount, year in lines.iterator(chunk_size=2000):
        sheet.append(excel_safe_row([idn, name, town, village, str(labels[kind]), f"{rate:.4f}" if rate is not None else "",
                      f"{premium:.2f}", f"{amount:.2f}", year]))
    totals = subsidy_batch_totals(batch)
    by_kind = wb.create_sheet(_("按身份汇总"))
    by_kind.append(excel_safe_row([_("身份类别"), _("人数"), _("资助金额")]))
    for row in totals["by_kind"]:
        by_kind.append(excel_safe_row([str(labels[row["kind"]]), row["count"], f"{row['amount']:.2f}"]))
    by_kind.append(excel_safe_row([_("合计"), batch.count, f"{batch.total_amount:.2f}"]))
    by_town = wb.create_sheet(_("按乡镇汇总"))
    by_town.append(excel_safe_row([_("区划代码"), _("乡镇(街道)"), _("人数"), _("资助金额")]))
    for row in totals["by_township"]:
        by_town.append(excel_safe_row([row["township__code"], row["township__name"], row["count"], f"{row['amount']:.2f}"]))
    out = BytesIO()
    wb.save(out)
    return out.getvalue()


def subsidy_batch_response(batch: SubsidyBatch):
    """The batch workbook as a download (admin action and API)."""
    return xlsx_bytes_response(f"subsidy-{batch.region.code}-{batch.year}.xlsx", subsidy_batch_xlsx(batch))
