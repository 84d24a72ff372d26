"""Issue 15: the staff's screens as a Chinese-reading clerk sees them — one test per reported
item (numbers as in the issue), plus the kernel pieces they rest on (money format, charts,
XLSX).  The browser run (tests/browser/test_every_page.py) looks at every page as well."""
from __future__ import annotations

import json
import re
from datetime import date
from decimal import Decimal
from io import BytesIO
from types import SimpleNamespace

import pytest
from django.template.loader import render_to_string
from openpyxl import load_workbook

from yibao_site.charts import chart
from yibao_site.formatting import format_money, format_percent
from members.testing import clerk

LONG_DECIMAL = re.compile(r"\d\.\d{3,}")


# ── kernel ──────────────────────────────────────────────────────────────────────────────

def test_money_is_thousands_separated_fen_half_up():
    assert format_money(Decimal("1659025.5100000000")) == "1,659,025.51"
    assert format_money(Decimal("-127616.585")) == "-127,616.59"  # half-up, away from zero
    assert format_money(Decimal("0.005")) == "0.01"
    assert format_money(Decimal("-0.001")) == "0.00"  # never "-0.00"
    assert format_money(30) == "30.00"
    assert format_money(None) == "—"


def test_rates_read_as_percentages():
    assert format_percent(Decimal("1.0000")) == "100%"
    assert format_percent(Decimal("0.7364")) == "73.64%"
    assert format_percent(Decimal("0.80")) == "80%"


def test_chart_config_rounds_money_to_fen_and_travels_as_json_script():
    c = chart("bar", ["2026-01", "2026-02"], [("基本医保", [Decimal("1.005"), Decimal("2.5100000000")])], title="支出")
    config = c.config()
    assert config["data"]["datasets"][0]["data"] == [1.01, 2.51]
    html = render_to_string("yibao/chart.html", {"chart": c})
    assert f'id="{c.element_id}-data"' in html and 'type="application/json"' in html
    assert "/static/yibao/vendor/chartjs/chart.umd.min.js" in html
    with pytest.raises(ValueError):
        chart("bar", ["a"], [("x", [1, 2])])


# ── 1. 手工报销: visible input boxes, the page's own breadcrumb; the person form's ID box ──

@pytest.mark.django_db
def test_1_manual_settlement_inputs_are_styled_and_breadcrumb_names_the_page(client, staff):
    client.force_login(staff["clerk"])
    page = client.get("/admin/claims/claim/manual/").content.decode()
    for name in ("person", "bills-0-number", "bills-0-total_cost", "bills-2-policy_scope_cost"):
        tag = re.search(rf'<input[^>]*name="{name}"[^>]*>', page).group(0)
        assert "border" in tag and "rounded-default" in tag, tag
    assert re.search(r'data-testid="page-crumb">手工报销<', page)
    add = client.get("/admin/members/person/add/").content.decode()
    tag = re.search(r'<input[^>]*name="id_number"[^>]*>', add).group(0)
    assert "border" in tag and "max-w-2xl" in tag, tag


# ── 2. 一次性告知书: the number shows, the requirement once, the issuer is not a login ──

def test_2_notice_lists_each_item_once_with_the_requirement_once_and_shows_the_number():
    from assistance.models import SupplementNotice

    notice = SupplementNotice(number="GZ-2026-0007", missing=[
        {"type": "income", "note": "近12个月"}, {"type": "property", "note": "近12个月"},
        {"type": "other", "note": "村委会证明"}])
    items, common = notice.notice_lines()
    assert common == "近12个月"
    assert [(i["label"], i["note"]) for i in items] == [("家庭收入证明", ""), ("家庭财产状况核查材料", ""),
                                                        ("其他材料", "村委会证明")]
    issuer = SimpleNamespace(get_full_name="", username="demo_reviewer", get_role_display="审核")
    app = SimpleNamespace(pk=4321, get_kind_display="对象认定", filed_at=date(2026, 3, 2),
                          person=SimpleNamespace(name="刘大山", masked_id="420302********1234"),
                          township=SimpleNamespace(name="茅箭镇"))
    html = render_to_string("assistance/notice.html", {
        "notice": SimpleNamespace(number="GZ-2026-0007", reason="", issued_by=issuer, issued_at=None),
        "app": app, "items": items, "common_note": common})
    assert "申请编号 4321)" in html
    assert html.count("近12个月") == 1
    assert "demo_reviewer" not in html and "告知人:审核" in html


# ── 4. 基金运行报表: money 1,659,025.51, a chart, XLSX; the dashboard card is a link ──

@pytest.mark.django_db
def test_4_fund_report_money_chart_and_xlsx(client, staff, shiyan):
    from claims.models import FundEntry

    FundEntry.objects.create(region=shiyan.city, fund="resident", kind="premium", month=date(2026, 1, 1),
                             amount=Decimal("1659025.51"))
    client.force_login(staff["finance"])
    page = client.get("/admin/claims/claim/fund-report/?year=2026").content.decode()
    assert "1,659,025.51" in page
    report = page[page.index('data-testid="fund-report"'):]
    assert not LONG_DECIMAL.search(re.sub(r"<script.*?</script>", "", report, flags=re.S))
    assert 'data-testid="chart"' in page and "chart.umd.min.js" in page
    xlsx = client.get("/admin/claims/claim/fund-report/?year=2026&format=xlsx")
    assert xlsx["Content-Type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(BytesIO(xlsx.content))["基金收支"]
    assert [c.value for c in sheet[1]][:2] == ["基金", "本年收入"]
    resident = next(row for row in sheet.iter_rows(min_row=2) if row[0].value == "城乡居民医保基金")
    assert resident[1].value == 1659025.51 and resident[1].number_format == "#,##0.00"

    home = client.get("/admin/").content.decode()
    card = re.search(r'基金运行报表</div>\s*(.*?)</a>', home, re.S).group(1)
    assert "查看报表" in card and "2026" not in card


@pytest.mark.django_db
def test_4_procurement_report_card_is_a_link_not_zero(client, staff):
    client.force_login(staff["supervisor"])
    home = client.get("/admin/").content.decode()
    card = re.search(r'直接结算统计报表</div>\s*(.*?)</a>', home, re.S).group(1)
    assert "查看报表" in card and 'data-testid="todo-count"' not in card


# ── 5. import page: Chinese, no garbled import-export strings ─────────────────────────────

@pytest.mark.django_db
def test_5_import_page_speaks_chinese(client, staff):
    client.force_login(staff["clerk"])
    page = client.get("/admin/members/person/import/").content.decode()
    assert "Choose file to upload" not in page and "Select format" not in page
    from django.utils import translation

    with translation.override("zh-hans"):
        assert translation.gettext("Some rows failed to validate") == "部分行未通过校验"
        assert translation.gettext("Select format") == "选择文件格式"
    with translation.override("en"):
        assert translation.gettext("Select format") == "Select format"


# ── 6. 退出 lands on our own login page, in Chinese ──────────────────────────────────────

@pytest.mark.django_db
def test_6_logout_lands_on_the_chinese_login_page(client, staff):
    client.force_login(staff["agent"])
    response = client.post("/accounts/logout/", follow=True)
    page = response.content.decode()
    assert response.redirect_chain[-1][0].startswith("/accounts/login/")
    assert "您已安全退出" in page and "successfully logged out" not in page


# ── 7. 已超期: red words for the overdue, no green tick ──────────────────────────────────

def test_7_overdue_column_is_red_for_overdue_and_quiet_for_on_time():
    from django.contrib import admin

    from assistance.models import Application

    model_admin = admin.site._registry[Application]
    late = str(model_admin.overdue_display(SimpleNamespace(overdue=True)))
    on_time = str(model_admin.overdue_display(SimpleNamespace(overdue=False)))
    assert "#b91c1c" in late and "已超期" in late
    assert "#b91c1c" not in on_time and "未超期" in on_time
    assert "overdue" not in model_admin.list_display  # unfold's boolean icons (✓ for overdue) are gone


# ── 8. 计算明细 readable; procurement notes quote values, rates as % ─────────────────────

@pytest.mark.django_db
def test_8_calculation_reads_as_a_table_with_chinese_labels():
    from assistance.display import calculation_html

    html = calculation_html({"means_test": {
        "window": ["2025-03-01", "2026-02-28"], "out_of_pocket": "78000.00", "income_per_capita": "21000.00",
        "income_year": 2025, "ratio": "1.0000", "threshold": "21000.00", "passed": False, "policy": {}}})
    assert "家庭经济状况测算" in html and "78,000.00" in html and "100%" in html and "不符合" in html
    for raw in ("means_test", "income_per_capita", "passed", "false", "False", "1.0000"):
        assert raw not in html.replace('data-testid="calculation-means_test"', ""), raw


@pytest.mark.django_db
def test_8_procurement_report_notes_quote_the_days_and_the_ratio(client, staff, shiyan):
    client.force_login(staff["supervisor"])
    page = client.get("/admin/procurement/paymentrun/reports/").content.decode()
    assert "procurement.payment_days" not in page and "procurement.volume_laggard_ratio" not in page
    assert "30 天" in page  # shiyan-2022: procurement.payment_days = 30
    assert "80%" in page  # procurement.volume_laggard_ratio = 0.80
    assert not re.search(r">\s*\d\.\d{4}\s*<", page)


# ── 9. the admin frame in Chinese (and English for an English browser) ──────────────────

@pytest.mark.django_db
def test_9_admin_frame_strings_are_chinese(client, staff):
    client.force_login(staff["supervisor"])
    page = client.get("/admin/", HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9").content.decode()
    for english in ("Search apps and models", "All applications", "Type to search"):
        assert english not in page, english
    assert "全部功能" in page and "搜索功能和数据" in page
    en = client.get("/admin/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "All applications" in en


# ── 10. error pages in Chinese ───────────────────────────────────────────────────────────

@pytest.mark.django_db
def test_10_404_for_another_townships_resident_is_a_chinese_page(client, staff, shiyan):
    from members.services import person_register
    from yibao_site.testing import make_id_number

    other = person_register(actor=clerk(), id_number=make_id_number(shiyan.county.code, date(1970, 1, 1), 9), name="王五",
                            village_code=shiyan.village(1, 0).code)
    client.force_login(staff["agent"])  # township 1; 王五 lives in township 2
    response = client.get(f"/agent/persons/{other.id_number}/")
    assert response.status_code == 404
    page = response.content.decode()
    assert "没有找到" in page and "Not Found" not in page and "王五" not in page


@pytest.mark.parametrize("code,words", [("400", "请求有误"), ("403", "没有权限"), ("404", "没有找到"),
                                        ("500", "系统出错")])
def test_10_every_error_page_has_a_chinese_template(code, words):
    assert words in render_to_string(f"{code}.html", {})


# ── 11. same-named townships told apart by district ─────────────────────────────────────

def test_11_township_label_carries_the_district():
    from assistance.early_warning.selectors import TownshipBar

    assert TownshipBar("420302001", "城关镇", "茅箭区").label == "茅箭区 · 城关镇"
    assert TownshipBar("420303001", "城关镇", "张湾区").label == "张湾区 · 城关镇"


# ── 12. smaller: category names, favicon, visible warning colours ───────────────────────

def test_12_category_has_a_chinese_name():
    from assistance.display import category_label

    assert category_label(4) == "第四类(因病致贫重病患者等)"
    assert category_label(None) == "—"


@pytest.mark.django_db
def test_12_favicon_and_warning_card_colours(client, staff, monkeypatch):
    assert client.get("/favicon.ico")["Location"].endswith("/static/yibao/favicon.svg")
    from yibao_site import dashboard

    monkeypatch.setattr(dashboard, "_providers", [lambda request: [
        dashboard.Item("已超期", 3, "/x/", "danger", "医疗救助"), dashboard.Item("待确认", 2, "/y/", "warning", "参保")]])
    client.force_login(staff["supervisor"])
    html = client.get("/admin/").content.decode()
    # inline colours: the theme's stylesheet has no border-red-400 / border-amber-400 classes
    assert "border-left:6px solid #dc2626" in html and "border-left:6px solid #d97706" in html
    charts = dashboard.todo_charts([dashboard.Item("a", 3), dashboard.Item("b", None), dashboard.Item("c", 1)])
    assert json.loads(json.dumps(charts[0].config()))["data"]["labels"] == ["a", "c"]


@pytest.mark.django_db
def test_5_import_shows_chinese_columns_a_template_and_a_chinese_error_report(client, staff, shiyan):
    import tablib

    from members.importers import PersonImporter

    client.force_login(staff["clerk"])
    page = client.get("/admin/members/person/import/").content.decode()
    assert "公民身份号码, 姓名, 村(社区)" in page and "id_number, name, village" not in page
    assert "/admin/members/person/import-template/" in page
    template = client.get("/admin/members/person/import-template/")
    assert template.status_code == 200, (template.status_code, template.content[:300])
    book = load_workbook(BytesIO(template.content))
    assert [c.value for c in book["数据"][1]][:3] == ["公民身份号码", "姓名", "村(社区)"]
    assert book["数据"]["B2"].value == "张三"
    assert any(row[0].value == "公民身份号码" and row[1].value == "必填" for row in book["填写说明"].iter_rows())

    data = tablib.Dataset(headers=["公民身份号码", "姓名", "村(社区)"])
    data.append(["123", "李四", shiyan.village().code])
    result = PersonImporter(actor=staff["clerk"]).import_data(data, dry_run=True)
    assert result.diff_headers[:3] == ["公民身份号码", "姓名", "村(社区)"]
    bad = result.invalid_rows[0]
    assert bad.number == 2 and list(bad.values)[:3] == ["123", "李四", shiyan.village().code]
    assert "公民身份号码" in bad.field_specific_errors
