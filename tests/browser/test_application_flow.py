"""The whole review in a real browser (Playwright driving Debian's Chromium).

A township agent on a phone-sized screen files an application with materials; a reviewer
returns it in the admin with the missing list (一次性告知); the agent reads the notice,
supplements and resubmits; a colleague of the same township verifies (with the property
check); another reviewer approves.  Everybody signs in through the login form (django-axes
is on).  Skipped when /usr/bin/chromium is absent, unless REQUIRE_BROWSER=1.
"""
from __future__ import annotations

import os
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from members.testing import clerk

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "Yb-test-pass-2026"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
# Staff browsers send zh-CN; the pages then speak Chinese (English is the translation).
DESK = {"locale": "zh-CN"}
PHONE = {**DESK, "viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

if not Path(CHROMIUM).exists():
    if os.environ.get("REQUIRE_BROWSER") == "1":
        raise RuntimeError(f"REQUIRE_BROWSER=1 but {CHROMIUM} is missing: apt-get install chromium")
    pytestmark.append(pytest.mark.skip(reason=f"{CHROMIUM} is not installed (apt-get install chromium); "
                                              "set REQUIRE_BROWSER=1 to make this a failure"))


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        yield chromium
        chromium.close()


@pytest.fixture
def world(settings, tmp_path):
    from claims.models import Claim
    from members.services import person_register
    from yibao_site.models import Role
    from yibao_site.services import staff_save
    from yibao_site.testing import build_jurisdiction, build_staff, make_id_number

    settings.MEDIA_ROOT = tmp_path / "media"
    j = build_jurisdiction(pack="shiyan-2022")
    staff = build_staff(j, password=PASSWORD)
    staff["agent2"] = staff_save(username="agent2", role=Role.TOWNSHIP_AGENT, township_code=j.townships[0].code,
                                 password=PASSWORD)
    person = person_register(actor=clerk(), id_number=make_id_number(j.county.code, date(1968, 4, 9), 5), name="刘大山",
                             village_code=j.village(0, 1).code)
    # out-of-pocket well above last year's per-capita income in the 12 months before today
    Claim.objects.create(person=person, year=(date.today() - timedelta(days=40)).year, scheme="resident",
                         visit_type="inpatient", hospital_level=3, service_date=date.today() - timedelta(days=40),
                         total_cost=Decimal("150000"), policy_scope_cost=Decimal("120000"),
                         basic_paid=Decimal("72000"), out_of_pocket=Decimal("78000"))
    return {"staff": staff, "person": person}


def login(page, base, username, next_url=""):
    page.goto(f"{base}/accounts/login/" + (f"?next={next_url}" if next_url else ""))
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert "/accounts/login/" not in page.url, f"login failed for {username}"


def upload(page, material_type: str, name: str = "材料.pdf"):
    page.select_option("#id_material_type", material_type)
    page.set_input_files("#id_file", files=[{"name": name, "mimeType": "application/pdf", "buffer": PDF}])
    page.click("[data-testid=upload-form] button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert "已上传" in page.inner_text(".messages"), page.inner_text("main")


def test_agent_files_reviewer_returns_agent_resubmits_colleague_verifies_reviewer_approves(live_server, browser, world):
    from assistance.models import Application
    from members.models import AssistanceEntitlement

    base, person = live_server.url, world["person"]

    # 1. the agent, on a phone: find the person, file, upload, submit
    agent = browser.new_context(**PHONE).new_page()
    login(agent, base, "agent")
    assert agent.url.endswith("/agent/")
    agent.fill("#q", "刘大")
    agent.press("#q", "Enter")
    agent.click("[data-testid=results] a:has-text('刘大山')")
    agent.select_option("#id_kind", "determination")
    agent.select_option("#id_basis", "illness_poverty")
    agent.fill("#id_note", "长期住院治疗,家庭困难")
    agent.click("[data-testid=file-form] button[type=submit]")
    agent.wait_for_load_state("networkidle")
    app = Application.objects.get(person=person)
    for material_type in ("application_form", "id_card", "medical_bills", "diagnosis"):
        upload(agent, material_type)
    width = agent.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the case page scrolls sideways on a phone ({width}px)"
    agent.click("[data-testid=submit]")
    agent.wait_for_load_state("networkidle")
    assert agent.inner_text("[data-testid=status]") == "已受理"

    # 2. a reviewer returns it in the admin, listing the missing material once
    reviewer = browser.new_context(**DESK).new_page()
    login(reviewer, base, "reviewer", "/admin/")
    reviewer.goto(f"{base}/admin/assistance/application/?queue=to_review")
    assert "刘大山" in reviewer.content()
    reviewer.goto(f"{base}/admin/assistance/application/{app.pk}/change/")
    reviewer.click("a[data-action=return]")
    reviewer.check("input[name=missing][value=income]")
    reviewer.fill("#id_detail", "近12个月家庭收入证明")
    reviewer.fill("#id_reason", "缺少家庭收入证明")
    reviewer.click("[data-testid=confirm]")
    reviewer.wait_for_load_state("networkidle")
    app.refresh_from_db()
    assert app.status == "returned"
    notice = app.notices.get()

    # 3. the agent reads the notice, supplements and resubmits
    agent.goto(f"{base}/agent/")
    agent.click(f"[data-testid=returned] a[href='/agent/cases/{app.pk}/']")
    assert "家庭收入证明" in agent.inner_text("[data-testid=notice-box]")
    printable = agent.context.new_page()
    printable.goto(f"{base}/agent/notices/{notice.number}/")
    text = printable.inner_text("[data-testid=notice]")
    assert "一次性告知书" in text and "近12个月家庭收入证明" in text
    printable.close()
    upload(agent, "income", "收入证明.pdf")
    # the notice also listed the household-property check (pre-ticked: verification needs it)
    assert "家庭财产状况核查材料" in text
    upload(agent, "property", "财产核查材料.pdf")
    agent.fill("#id_note", "已补齐收入证明")
    agent.click("[data-testid=resubmit]")
    agent.wait_for_load_state("networkidle")
    assert agent.inner_text("[data-testid=status]") == "补正后重新提交"

    # 4. a colleague of the same township verifies, with the household-property check
    colleague = browser.new_context(**PHONE).new_page()
    login(colleague, base, "agent2")
    colleague.click(f"[data-testid=to-verify] a[href='/agent/cases/{app.pk}/']")
    upload(colleague, "property", "财产核查.pdf")
    colleague.fill("#id_note", "入户核实属实")
    colleague.select_option("#id_property_check_passed", "yes")
    colleague.select_option("#id_property_evidence", index=1)
    colleague.fill("#id_property_note", "经民政部门核查,家庭财产符合规定")
    colleague.click("[data-testid=verify]")
    colleague.wait_for_load_state("networkidle")
    assert colleague.inner_text("[data-testid=status]") == "乡镇已核实"

    # 5. another reviewer approves
    second = browser.new_context(**DESK).new_page()
    login(second, base, "reviewer2", "/admin/")
    second.goto(f"{base}/admin/assistance/application/{app.pk}/change/")
    second.click("a[data-action=approve]")
    second.fill("#id_reason", "符合因病致贫重病患者认定条件")
    second.click("[data-testid=confirm]")
    second.wait_for_load_state("networkidle")
    app.refresh_from_db()
    assert app.status == "approved" and app.decided_by.username == "reviewer2"
    assert AssistanceEntitlement.objects.filter(application_id=app.pk, category=4).exists()
    assert "已批准" in second.inner_text("[data-testid=case-status]")
