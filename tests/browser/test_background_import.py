"""A large import in a real browser: a clerk uploads a person file, the page shows the job
queued, a worker runs it, the bar moves to 100 % and the result appears without a reload by
hand; a file with a bad row ends on the row-numbered report and writes nothing.

The worker is played by the test (``import_jobs.job_run`` on the queued job) while the page's
status polls are held back, so that the page and the job never share SQLite's one in-memory
connection at the same moment.  Screenshots go to ``var/screenshots/import/``.
"""
from __future__ import annotations

from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pytest
from django.utils import timezone

from .test_application_flow import DESK, PASSWORD, login
from .test_application_flow import browser  # noqa: F401,F811  (the fixture)
from .test_application_flow import pytestmark as _flow_marks

pytestmark = list(_flow_marks)
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots" / "import"


@pytest.fixture
def import_world(settings, tmp_path, monkeypatch):
    from yibao_site import import_jobs
    from yibao_site.testing import build_jurisdiction, build_staff

    settings.MEDIA_ROOT = tmp_path / "media"
    settings.IMPORT_BACKGROUND_ROWS = 1
    j = build_jurisdiction(pack="shiyan-2022")
    staff = build_staff(j, password=PASSWORD)
    queued: list[int] = []
    monkeypatch.setattr(import_jobs, "enqueue", queued.append)  # the "broker": the test runs the job
    return {"j": j, "staff": staff, "queued": queued}


def _xlsx(rows) -> bytes:
    from yibao_site.xlsx import Sheet, workbook_bytes

    return workbook_bytes([Sheet("数据", ["公民身份号码", "姓名", "村(社区)"], [list(r) for r in rows])])


def _submit(page, base, data: bytes, name: str):
    page.goto(f"{base}/admin/members/person/import/")
    page.set_input_files("#id_import_file", files=[{
        "name": name, "buffer": data,
        "mimeType": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}])
    page.select_option("#id_format", label="xlsx")
    page.locator("form button[type=submit]").last.click()
    page.wait_for_selector('[data-testid="import-job"]')


@contextmanager
def _live_worker_lock(job_id: int):
    """On PostgreSQL a running job is alive only while a session holds its advisory lock."""
    from django.db import connection, connections

    from yibao_site.import_jobs import LOCK_NAMESPACE

    if connection.vendor != "postgresql":
        yield
        return
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s, %s)", [LOCK_NAMESPACE, job_id])
        yield
    finally:
        other.close()


def _run_while_polls_wait(page, queued):
    """Hold the page's status polls, run the queued job, then let the polls through."""
    from yibao_site import import_jobs

    page.route("**/status/", lambda route: route.abort())
    page.wait_for_timeout(700)
    job = import_jobs.job_run(queued.pop())
    page.unroute("**/status/")
    return job


def test_a_clerk_watches_a_background_import_reach_100_percent(live_server, browser, import_world):  # noqa: F811
    from members.models import Person
    from yibao_site.testing import make_id_number

    j, queued = import_world["j"], import_world["queued"]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    base = live_server.url
    page = browser.new_context(**DESK, viewport={"width": 1280, "height": 860}).new_page()
    script_errors = []
    page.on("pageerror", lambda exc: script_errors.append(str(exc)))
    login(page, base, "clerk", "/admin/")
    rows = [(make_id_number(j.county.code, date(1970, 5, 6), n), name, j.village(0, n % 2).code)
            for n, name in ((1, "张三"), (2, "李四"))]
    _submit(page, base, _xlsx(rows), "参保人员.xlsx")

    # Queued: the page says so in Chinese and the bar is empty.
    assert page.inner_text('[data-testid="import-stage"]') == "等待后台处理"
    assert page.inner_text('[data-testid="import-percent"]') == "0%"
    assert "文件已提交后台导入" in page.inner_text("body")
    page.screenshot(path=str(SCREENSHOTS / "1-queued.png"), full_page=True)
    assert len(queued) == 1

    # Half-way through the checks (as a live worker records it, holding the job's lock on
    # PostgreSQL): the page moves the bar by itself.
    from yibao_site.import_jobs import ImportJob

    with _live_worker_lock(queued[0]):
        page.route("**/status/", lambda route: route.abort())
        page.wait_for_timeout(700)
        ImportJob.objects.filter(pk=queued[0]).update(state="running", stage="validate", rows_total=2,
                                                      rows_validated=1, heartbeat_at=timezone.now())
        page.unroute("**/status/")
        page.wait_for_function("""() => document.querySelector('[data-testid="import-progress"]')
                                      .getAttribute('aria-valuenow') === '25'""", timeout=20_000)
        assert page.inner_text('[data-testid="import-stage"]') == "正在逐行校验"
        assert page.inner_text('[data-testid="import-count"]').startswith("1 / 2 行")
        page.screenshot(path=str(SCREENSHOTS / "1b-running.png"), full_page=True)
        page.route("**/status/", lambda route: route.abort())
        page.wait_for_timeout(700)
        ImportJob.objects.filter(pk=queued[0]).update(state="queued", stage="", rows_total=0, rows_validated=0)
    page.unroute("**/status/")

    job = _run_while_polls_wait(page, queued)
    assert job.state == "done"
    # The page notices by itself: the bar reaches 100 % and the result replaces it.
    page.wait_for_selector('[data-testid="import-result"]', timeout=20_000)
    assert page.get_attribute('[data-testid="import-progress"]', "aria-valuenow") == "100"
    assert page.inner_text('[data-testid="import-percent"]') == "100%"
    assert "width:100%" in page.get_attribute('[data-testid="import-bar"]', "style").replace(" ", "")
    result = page.inner_text('[data-testid="import-result"]')
    assert "已导入 共 2 行:新增 2,更新 0,未变 0" in result and "已完成" in page.inner_text('[data-testid="import-stage"]')
    page.screenshot(path=str(SCREENSHOTS / "2-done.png"), full_page=True)
    assert set(Person.objects.values_list("name", flat=True)) == {"张三", "李四"}

    # A bad row: nothing written, the report by the file's own row numbers.
    bad = [(make_id_number(j.county.code, date(1980, 1, 2), 7), "王五", j.village().code),
           ("420302198001020000", "赵六", j.village().code)]
    _submit(page, base, _xlsx(bad), "有错误的文件.xlsx")
    job = _run_while_polls_wait(page, queued)
    assert job.state == "rejected"
    page.wait_for_selector('[data-testid="import-errors"]', timeout=20_000)
    first = page.locator('[data-testid="import-errors"] tbody tr').first.inner_text()
    assert first.split("\t")[:3] == ["3", "公民身份号码", "420302198001020000"]
    assert "未写入任何数据" in page.inner_text('[data-testid="import-result"]')
    assert page.is_visible('[data-testid="import-report-download"]')
    assert "bg-red-600" in page.get_attribute('[data-testid="import-bar"]', "class")
    page.screenshot(path=str(SCREENSHOTS / "3-rejected.png"), full_page=True)
    assert not Person.objects.filter(name__in=["王五", "赵六"]).exists()

    # Back on the import page: the two jobs are listed, and the page says when a file goes to
    # the background.
    page.goto(f"{base}/admin/members/person/import/")
    recent = page.inner_text('[data-testid="recent-import-jobs"]')
    assert "参保人员.xlsx(已完成" in recent and "有错误的文件.xlsx(有错误,未写入" in recent
    assert "超过 1 行的文件在后台导入" in page.inner_text('[data-testid="import-template"]')
    page.screenshot(path=str(SCREENSHOTS / "4-import-page.png"), full_page=True)
    assert script_errors == []
    page.context.close()
