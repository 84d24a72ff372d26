"""How the review's stored facts read to a clerk: the assistance category by its Chinese
name, and an application's 计算明细 (a JSON record of every calculation) as a table with
Chinese labels, money as ``12,345.67`` and rates as percentages — never raw keys."""
from __future__ import annotations

from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

from yibao_site.formatting import format_money, format_percent
from yibao_site.models import PolicyParameter, Role

from .models import ApplicationStatus

CATEGORY_NAMES = {
    1: _("第一类(特困人员、孤儿)"),
    2: _("第二类(低保对象、返贫致贫人口)"),
    3: _("第三类(低保边缘家庭成员、防返贫监测对象)"),
    4: _("第四类(因病致贫重病患者等)"),
}

SECTIONS = {"means_test": _("家庭经济状况测算(因病致贫重病患者)"), "tilt": _("倾斜救助测算"),
            "retroactive": _("一次性追溯救助测算")}
MONEY = "money"
RATE = "rate"
LABELS = {
    "window": (_("统计期间"), None), "out_of_pocket": (_("期间个人自负医疗费用(元)"), MONEY),
    "income_per_capita": (_("上年当地居民人均可支配收入(元)"), MONEY), "income_year": (_("收入统计年度"), None),
    "ratio": (_("认定比例"), RATE), "threshold": (_("认定标准(元)"), MONEY), "passed": (_("测算结论"), None),
    "year": (_("年度"), None), "up_to": (_("截至日期"), None), "self_pay": (_("年度政策范围内个人自付(元)"), MONEY),
    "second_round_paid": (_("已获再救助/倾斜救助(元)"), MONEY), "rate": (_("救助比例"), RATE),
    "cap": (_("年度限额(元)"), MONEY), "amount": (_("应支付金额(元)"), MONEY), "category": (_("救助类别"), None),
    "claims": (_("追溯的结算单数"), None), "paid_before": (_("各年度已获救助(元)"), MONEY),
    "lines": (_("逐笔明细"), None),
}


def category_label(category) -> str:
    if category in (None, ""):
        return "—"
    return str(CATEGORY_NAMES.get(int(category), category))


def _value(key: str, value, kind):
    if key == "passed":
        return _("符合(达到认定标准)") if value else _("不符合(未达到认定标准)")
    if key == "category":
        return category_label(value)
    if key == "window" and isinstance(value, (list, tuple)) and len(value) == 2:
        return _("%(start)s 至 %(end)s") % {"start": value[0], "end": value[1]}
    if value is None:
        return _("不设限额") if key == "cap" else "—"
    if isinstance(value, dict):
        return mark_safe("<br>".join(format_html("{}:{}", k, format_money(v) if kind == MONEY else v)
                                     for k, v in value.items()))
    if isinstance(value, list):
        return mark_safe("<br>".join(format_html("{}", _line(v)) for v in value))
    if kind == MONEY:
        return format_money(value)
    if kind == RATE:
        return format_percent(value)
    return value


def _line(item) -> str:
    if isinstance(item, dict):
        return ",".join(f"{LABELS.get(k, (k,))[0]} {format_money(v) if LABELS.get(k, (None, None))[1] == MONEY else v}"
                        for k, v in item.items())
    return str(item)


def _policy_rows(policy: dict) -> str:
    notes = dict(PolicyParameter.objects.filter(pk__in=[p.get("id") for p in policy.values() if p.get("id")])
                 .values_list("pk", "note"))
    rows = []
    for key, used in policy.items():
        name = notes.get(used.get("id")) or key
        value = used.get("value") if used.get("value") is not None else "—"
        since = _("自 %(date)s 起") % {"date": used.get("effective_from", "")}
        rows.append((name, value, since))
    return format_html_join("", '<tr><td style="padding-left:1rem">{}</td><td>{}({})</td></tr>', rows)


def calculation_html(calculation: dict) -> str:
    if not calculation:
        return "—"
    parts = []
    for section, body in calculation.items():
        title = SECTIONS.get(section, _("计算"))
        rows = []
        if isinstance(body, dict):
            for key, value in body.items():
                if key == "policy":
                    continue
                label, kind = LABELS.get(key, (_("其他"), None))
                rows.append(format_html("<tr><th style='text-align:left;padding-right:1rem'>{}</th><td>{}</td></tr>",
                                        label, _value(key, value, kind)))
            if body.get("policy"):
                rows.append(format_html("<tr><th colspan='2' style='text-align:left'>{}</th></tr>", _("依据的政策参数")))
                rows.append(_policy_rows(body["policy"]))
        parts.append(format_html('<div data-testid="calculation-{}"><strong>{}</strong><table>{}</table></div>',
                                 section, title, mark_safe("".join(rows))))
    return mark_safe("".join(parts))


def status_label(app) -> str:
    """The status as the clerk should read it: a case verified by the county reviewer is not
    "乡镇已核实" (the status code is the same — verified — the verifier differs)."""
    verifier = getattr(app, "verified_by", None) if app.verified_by_id else None
    if app.status == ApplicationStatus.VERIFIED and verifier is not None and verifier.role != Role.TOWNSHIP_AGENT:
        return str(_("已核实(县级审核人员)"))
    return app.get_status_display()
