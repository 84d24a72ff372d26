"""The warning list as an XLSX workbook, for departments without a push endpoint."""
from __future__ import annotations

import io

from django.utils.translation import gettext as _
from openpyxl import Workbook

from yibao_site.inputs import excel_safe_row

from .models import PersonWarning, WarningKind, WarningRun


def run_xlsx(run: WarningRun) -> bytes:
    """One sheet per warning kind: ID number, name, township, village, year-to-date, line, new."""
    book = Workbook(write_only=True)
    header = [_("公民身份号码"), _("姓名"), _("乡镇(街道)"), _("村(社区)"), _("预警类型"), _("预警月份"),
              _("当年累计自负(元)"), _("预警线(元)"), _("本月新增"), _("预警编号")]
    rows = (PersonWarning.objects.filter(run=run).order_by("kind", "township__code", "person__id_number")
            .values_list("kind", "person__id_number", "person__name", "township__name", "person__village__name",
                         "out_of_pocket", "threshold", "is_new", "id"))
    sheets = {}
    for kind in WarningKind:
        sheet = book.create_sheet(title=str(kind.label))
        sheet.append(header)
        sheets[kind.value] = sheet
    labels = dict(WarningKind.choices)
    for kind, id_number, name, township, village, oop, line, is_new, pk in rows.iterator(chunk_size=5000):
        # ID numbers as text: 18 digits would lose precision as numbers in Excel.
        sheets[kind].append(excel_safe_row([id_number, name, township, village, str(labels[kind]), f"{run.month:%Y-%m}",
                             oop, line, _("是") if is_new else _("否"), pk]))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def run_xlsx_filename(run: WarningRun, department_label: str = "") -> str:
    return f"warning-{run.region.code}-{run.month:%Y-%m}{'-' + department_label if department_label else ''}.xlsx"
