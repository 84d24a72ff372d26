"""The figures of the reports page: the parameters its notes quote, its charts, its XLSX
sheet and its form."""
from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from yibao_site.charts import chart
from yibao_site.forms import AdminStyledFormMixin
from yibao_site.formatting import format_percent
from yibao_site.xlsx import Sheet
from yibao_site.models import Region, RegionLevel
from yibao_site.policy import PolicyMissing, policy_snapshot


def report_terms(user, on):
    """The parameter values the report's notes quote (the user's own region's, else the
    city's), so the note reads "30 天" and "80%" rather than a parameter key."""
    region = user.region if getattr(user, "region_id", None) else (
        Region.objects.filter(level=RegionLevel.CITY).order_by("code").first())
    if region is None:
        return {}
    try:
        snap = policy_snapshot(region, on=on)
        return {"payment_days": snap.integer("procurement.payment_days"),
                "laggard_ratio": snap.decimal("procurement.volume_laggard_ratio")}
    except PolicyMissing:
        return {}


def report_charts(settlement, completion) -> dict:
    charts = {}
    if settlement and settlement["rows"]:
        rows = settlement["rows"]
        charts["settlement_chart"] = chart("bar", [r["period"] for r in rows],
                                           [(_("直接结算金额(元)"), [r["amount"] for r in rows])],
                                           title=_("直接结算金额(元)"))
        share = chart("line", [r["period"] for r in rows],
                      [(_("按期支付率(%)"), [r["on_time_share"] * 100 for r in rows])],
                      title=_("按期支付率(%)"), money=False)
        charts["on_time_chart"] = share
    if completion:
        top = sorted(completion, key=lambda r: r.completion)[:20]
        charts["completion_chart"] = chart(
            "bar", [f"{r.hospital_name} · {r.product_name}" for r in top],
            [(_("完成率(%)"), [r.completion * 100 for r in top]), (_("进度要求(%)"), [r.expected * 100 for r in top])],
            title=_("约定采购量完成率最低的 20 项(%)"), money=False)
    return charts


def settlement_sheet(settlement) -> Sheet:
    sheet = Sheet(_("直接结算统计"), [_("期间"), _("笔数"), _("直接结算金额(元)"), _("验收至支付平均天数"), _("最长天数"),
                                   _("按期支付笔数"), _("按期支付率")], money_columns={2})
    for r in [*settlement["rows"], {**settlement["total"], "period": _("合计")}]:
        sheet.rows.append([r["period"], r["count"], r["amount"], r["average_days"], r["max_days"], r["on_time_count"],
                           format_percent(r["on_time_share"])])
    return sheet


class ReportForm(AdminStyledFormMixin, forms.Form):
    period = forms.ChoiceField(label=_("统计周期"), choices=[("month", _("月")), ("quarter", _("季度")),
                                                           ("year", _("年"))])
    date_from = forms.DateField(label=_("支付日期起"), required=False)
    date_to = forms.DateField(label=_("支付日期止"), required=False)
    year = forms.IntegerField(label=_("约定采购年度"), min_value=2000, max_value=2100)
    as_of = forms.DateField(label=_("完成情况截至"), required=False)
    laggards_only = forms.BooleanField(label=_("只看滞后"), required=False)
