"""Funds in the admin: the fund report's charts and XLSX sheets, and the fund entries finance
records (基金收支登记)."""
from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from yibao_site.admin_base import STAFF_ROLES, ScopedAdmin
from yibao_site.charts import chart
from yibao_site.xlsx import Sheet

from .. import services
from ..services import FINANCE_ROLES
from ..models import FundEntry
from .forms import FundEntryForm


FUND_NAMES = {"employee": _("职工医保统筹基金(含生育)"), "resident": _("城乡居民医保基金"),
              "assistance": _("医疗救助基金")}


def fund_report_charts(report) -> dict:
    """The fund report's charts: monthly expense by tier (stacked) and balance by fund."""
    months = [m["month"] for m in report["months"]]
    tiers = [(_("基本医保"), "basic_paid"), (_("大病保险"), "critical_paid"), (_("医疗救助"), "assistance_paid"),
             (_("再救助/倾斜救助"), "second_round_paid")]
    monthly = chart("bar", months, [(label, [m[key] for m in report["months"]]) for label, key in tiers],
                    title=_("按月、按待遇段支出(元)"), stacked=True)
    funds = [FUND_NAMES.get(f["fund"], f["fund"]) for f in report["funds"]]
    balance = chart("bar", funds, [(_("本年收入"), [f["income_total"] for f in report["funds"]]),
                                   (_("本年支出"), [f["expense"] for f in report["funds"]]),
                                   (_("累计结余"), [f["accumulated_balance"] for f in report["funds"]])],
                    title=_("基金收支与结余(元)"))
    return {"monthly_chart": monthly, "balance_chart": balance}


def fund_report_sheets(report) -> list[Sheet]:
    funds = Sheet(_("基金收支"), [_("基金"), _("本年收入"), _("结算支出"), _("其他支出"), _("当期结余"), _("累计结余"),
                                _("月均支出"), _("可支付月数")], money_columns={1, 2, 3, 4, 5, 6})
    for f in report["funds"]:
        funds.rows.append([FUND_NAMES.get(f["fund"], f["fund"]), f["income_total"], f["claims_expense"],
                           f["other_expense"], f["current_balance"], f["accumulated_balance"],
                           f["average_monthly_expense"], f["months_of_capacity"]])
    months = Sheet(_("按月支出"), [_("月份"), _("基本医保"), _("大病保险"), _("医疗救助"), _("再救助/倾斜救助"),
                                _("职工基金"), _("居民基金"), _("救助基金")], money_columns={1, 2, 3, 4, 5, 6, 7})
    for m in report["months"]:
        months.rows.append([m["month"], m["basic_paid"], m["critical_paid"], m["assistance_paid"],
                            m["second_round_paid"], m["funds"]["employee"], m["funds"]["resident"],
                            m["funds"]["assistance"]])
    return [funds, months]


@admin.register(FundEntry)
class FundEntryAdmin(ScopedAdmin):
    form = FundEntryForm
    list_display = ["month", "fund", "region", "kind", "amount", "note", "created_by"]
    list_filter = ["fund", "kind"]
    date_hierarchy = "month"
    add_roles = FINANCE_ROLES
    view_roles = STAFF_ROLES
    autocomplete_fields = ["region"]

    def get_readonly_fields(self, request, obj=None):
        return ["fund", "region", "month", "kind", "amount", "note", "created_by", "created_at"] if obj else []

    def save_model(self, request, obj, form, change):
        if change:
            return
        saved = services.fund_entry_record(fund=obj.fund, region=obj.region, month=obj.month, kind=obj.kind,
                                           amount=obj.amount, note=obj.note, actor=request.user)
        obj.pk = saved.pk
