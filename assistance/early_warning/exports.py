"""The warning list as an XLSX workbook (the kernel's ``yibao_site.xlsx``), for departments
without a push endpoint."""
from __future__ import annotations

from django.http import HttpResponse
from django.utils.translation import gettext as _

from yibao_site.xlsx import Sheet, xlsx_response

from .models import PersonWarning, WarningKind, WarningRun

MONEY_COLUMNS = {6, 7}  # 当年累计自负, 预警线


def run_sheets(run: WarningRun) -> list[Sheet]:
    """One sheet per warning kind: ID number, name, township, village, year-to-date, line, new."""
    header = [_("公民身份号码"), _("姓名"), _("乡镇(街道)"), _("村(社区)"), _("预警类型"), _("预警月份"),
              _("当年累计自负(元)"), _("预警线(元)"), _("本月新增"), _("预警编号")]
    sheets = {kind.value: Sheet(title=str(kind.label), headers=header, money_columns=MONEY_COLUMNS)
              for kind in WarningKind}
    labels = dict(WarningKind.choices)
    rows = (PersonWarning.objects.filter(month=run.month, run=run).order_by("kind", "township__code", "person__id_number")
            .values_list("kind", "person__id_number", "person__name", "township__name", "person__village__name",
                         "out_of_pocket", "threshold", "is_new", "id"))
    for kind, id_number, name, township, village, oop, line, is_new, pk in rows.iterator(chunk_size=5000):
        # ID numbers stay text (18 digits would lose precision as numbers in Excel).
        sheets[kind].rows.append([id_number, name, township, village, str(labels[kind]), f"{run.month:%Y-%m}",
                                  oop, line, _("是") if is_new else _("否"), pk])
    return list(sheets.values())


def run_xlsx_filename(run: WarningRun, department_label: str = "") -> str:
    return f"warning-{run.region.code}-{run.month:%Y-%m}{'-' + department_label if department_label else ''}.xlsx"


def run_xlsx_response(run: WarningRun, department: str = "") -> HttpResponse:
    return xlsx_response(run_xlsx_filename(run, department), run_sheets(run))
