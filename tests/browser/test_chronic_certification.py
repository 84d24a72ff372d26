"""An agent files a chronic-disease certification on a phone (Playwright, Debian's Chromium).

The township agent signs in on a phone-sized screen, finds the person, files a certification
for 恶性肿瘤门诊治疗 with the diagnosis, uploads the three required materials, submits; a clerk
returns it in the admin listing the missing record (一次性告知); the agent reads and prints the
notice, supplements and resubmits; the clerk records the city hospital's opinion and a reviewer
approves.  Skipped when /usr/bin/chromium is absent, unless REQUIRE_BROWSER=1.
"""
from __future__ import annotations

from datetime import date

import pytest

from tests.browser.test_application_flow import DESK, PASSWORD, PHONE, browser, login, upload  # noqa: F401
from tests.browser.test_application_flow import pytestmark  # noqa: F401  (browser mark, skip without Chromium)
from members.testing import clerk


@pytest.fixture
def chronic_world(settings, tmp_path):
    from members.services import enrollment_create, person_register
    from yibao_site.testing import build_jurisdiction, build_staff, make_id_number

    settings.MEDIA_ROOT = tmp_path / "media"
    j = build_jurisdiction(pack="shiyan-2022")
    staff = build_staff(j, password=PASSWORD)
    person = person_register(actor=clerk(), id_number=make_id_number(j.county.code, date(1961, 8, 2), 7), name="王秀英",
                             village_code=j.village(0, 0).code)
    year = date.today().year
    enrollment_create(actor=clerk(), person=person, year=year, scheme="resident", paid_on=date(year - 1, 10, 8))
    return {"staff": staff, "person": person}


def test_agent_files_a_certification_on_a_phone(live_server, browser, chronic_world):  # noqa: F811
    from chronic.models import Certification

    base, person = live_server.url, chronic_world["person"]
    agent = browser.new_context(**PHONE).new_page()
    login(agent, base, "agent")
    agent.click("[data-testid=chronic-link]")
    agent.wait_for_load_state("networkidle")
    agent.fill("#q", "王秀英")
    agent.press("#q", "Enter")
    agent.wait_for_load_state("networkidle")
    agent.click("[data-testid=chronic-persons] a:has-text('王秀英')")
    agent.select_option("#id_disease", "M00501")
    agent.fill("#id_diagnosis", "c34.9")
    agent.fill("#id_note", "肺癌术后门诊化疗")
    agent.click("[data-testid=chronic-file-form] button[type=submit]")
    agent.wait_for_load_state("networkidle")
    cert = Certification.objects.get(person=person)
    assert cert.diagnosis == "C34.9" and cert.channel == "township"
    for material_type in ("application_form", "id_card", "diagnosis"):
        upload(agent, material_type)
    width = agent.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the certification page scrolls sideways on a phone ({width}px)"
    agent.click("[data-testid=submit]")
    agent.wait_for_load_state("networkidle")
    assert agent.inner_text("[data-testid=status]") == "已受理"

    # the clerk returns it in the admin, listing the missing record
    clerk = browser.new_context(**DESK).new_page()
    login(clerk, base, "clerk", "/admin/")
    clerk.goto(f"{base}/admin/chronic/certification/{cert.pk}/act/")
    clerk.select_option("#id_action", "return")
    clerk.check("input[name=missing][value=medical_record]")
    clerk.fill("#id_text", "缺少近期病历")
    clerk.click("[data-testid=chronic-act] form button[type=submit]")
    clerk.wait_for_load_state("networkidle")
    cert.refresh_from_db()
    assert cert.status == "returned"
    notice = cert.notices.get()

    # the agent tracks it, prints the notice, supplements and resubmits
    agent.goto(f"{base}/agent/chronic/")
    agent.click(f"[data-testid=chronic-returned] a[href='/agent/chronic/cases/{cert.pk}/']")
    assert "病历或出院小结" in agent.inner_text("[data-testid=notice-box]")
    printable = agent.context.new_page()
    printable.goto(f"{base}/agent/chronic/notices/{notice.number}/")
    assert "门诊慢特病认定补正材料一次性告知书" in printable.inner_text("[data-testid=notice]")
    printable.close()
    upload(agent, "medical_record", "病历.pdf")
    agent.click("[data-testid=resubmit]")
    agent.wait_for_load_state("networkidle")
    assert agent.inner_text("[data-testid=status]") == "补正后重新提交"

    # the hospital's opinion, then a reviewer certifies
    clerk.goto(f"{base}/admin/chronic/certification/{cert.pk}/act/")
    clerk.select_option("#id_action", "opinion")
    clerk.select_option("#id_hospital", "H42030001")
    clerk.select_option("#id_supports", "yes")
    clerk.fill("#id_text", "符合恶性肿瘤门诊治疗认定标准")
    clerk.click("[data-testid=chronic-act] form button[type=submit]")
    clerk.wait_for_load_state("networkidle")
    reviewer = browser.new_context(**DESK).new_page()
    login(reviewer, base, "reviewer", "/admin/")
    reviewer.goto(f"{base}/admin/chronic/certification/{cert.pk}/act/")
    reviewer.select_option("#id_action", "approve")
    reviewer.click("[data-testid=chronic-act] form button[type=submit]")
    reviewer.wait_for_load_state("networkidle")
    cert.refresh_from_db()
    assert cert.status == "approved" and cert.valid_from == date.today()
    agent.reload()
    assert agent.inner_text("[data-testid=status]") == "已认定"
    assert agent.inner_text("[data-testid=validity]").startswith(date.today().isoformat())
