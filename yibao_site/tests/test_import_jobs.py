"""Background imports (import_jobs.py): the job's lifecycle, the admin pages with eager
Celery, who may see a job, a worker killed mid-run, and the same file submitted twice."""
from __future__ import annotations

import json
from datetime import date, timedelta
from io import BytesIO

import pytest
from django.db import connection
from django.utils import timezone
from openpyxl import load_workbook

from members.importers import PersonImporter
from members.models import Person
from yibao_site import import_jobs
from yibao_site.import_jobs import ImportJob, JobState
from yibao_site.testing import make_id_number

pytestmark = pytest.mark.django_db


def _csv(shiyan, *rows) -> bytes:
    lines = ["公民身份号码,姓名,村(社区)"] + [",".join(r) for r in rows]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _good(shiyan, seq: int, name: str) -> tuple[str, str, str]:
    return make_id_number(shiyan.county.code, date(1970, 5, 6), seq), name, shiyan.village().code


@pytest.fixture
def eager():
    from config.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield app
    app.conf.task_always_eager = previous


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


# ── lifecycle ──────────────────────────────────────────────────────────────────────────────

def test_a_job_is_stored_enqueued_on_commit_and_runs_to_done(shiyan, staff, media, django_capture_on_commit_callbacks,
                                                            monkeypatch):
    queued = []
    monkeypatch.setattr(import_jobs, "enqueue", queued.append)
    data = _csv(shiyan, _good(shiyan, 1, "张三"), _good(shiyan, 2, "李四"))
    with django_capture_on_commit_callbacks(execute=True):
        job, created = import_jobs.job_submit(importer=PersonImporter, data=data, filename="人员.csv",
                                              actor=staff["clerk"])
    assert created and queued == [job.pk]
    assert job.state == JobState.QUEUED and job.kind == "persons" and job.title == "参保人员"
    stored = media / job.file.name
    assert stored.read_bytes() == data and job.percent == 0

    job = import_jobs.job_run(job.pk)
    assert job.state == JobState.DONE and (job.rows_total, job.created, job.updated, job.unchanged) == (2, 2, 0, 0)
    assert (job.rows_validated, job.rows_written, job.percent) == (2, 2, 100)
    assert job.started_at <= job.finished_at and job.attempts == 1
    assert set(Person.objects.values_list("name", flat=True)) == {"张三", "李四"}
    assert not stored.exists() and job.file.name == ""  # the ID numbers do not linger on disk
    # A second delivery of the same message changes nothing.
    again = import_jobs.job_run(job.pk)
    assert again.state == JobState.DONE and again.attempts == 1 and Person.objects.count() == 2


def test_a_bad_row_rejects_the_whole_file_with_row_numbers(shiyan, staff, media):
    data = _csv(shiyan, _good(shiyan, 1, "张三"), ("420302197005060099", "李四", shiyan.village().code),
                _good(shiyan, 3, "王五"))
    job, _ = import_jobs.job_submit(importer=PersonImporter, data=data, filename="人员.csv", actor=staff["clerk"])
    job = import_jobs.job_run(job.pk)
    assert job.state == JobState.REJECTED and Person.objects.count() == 0
    assert job.created == 0 and job.error_count == 1 and job.rows_total == 3
    [err] = job.errors
    assert err["row"] == 3 and err["column"] == "公民身份号码" and err["value"] == "420302197005060099"
    assert "未写入任何数据" in job.summary
    assert (job.rows_validated, job.rows_written, job.percent) == (3, 0, 100)  # ran to its end, wrote nothing


def test_an_unreadable_file_fails_the_job_with_a_file_level_error(shiyan, staff, media):
    job, _ = import_jobs.job_submit(importer=PersonImporter, data=b"\xff\xfe\x00garbage" * 3, filename="x.csv",
                                    actor=staff["clerk"])
    job = import_jobs.job_run(job.pk)
    assert job.state == JobState.REJECTED and job.errors[0]["row"] == 0 and "编码" in job.errors[0]["message"]


def test_a_crash_in_the_importer_never_leaves_the_job_running(shiyan, staff, media, monkeypatch):
    data = _csv(shiyan, _good(shiyan, 1, "张三"))
    job, _ = import_jobs.job_submit(importer=PersonImporter, data=data, filename="a.csv", actor=staff["clerk"])

    def boom(self, cleaned, *, actor=None):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(PersonImporter, "write", boom)
    job = import_jobs.job_run(job.pk)
    assert job.state == JobState.FAILED and "disk on fire" in job.summary and Person.objects.count() == 0


def test_the_bounds_of_every_import_hold_before_anything_is_stored(shiyan, staff, media, settings):
    from django.core.exceptions import ValidationError

    settings.IMPORT_MAX_BYTES = 10
    with pytest.raises(ValidationError):
        import_jobs.job_submit(importer=PersonImporter, data=_csv(shiyan, _good(shiyan, 1, "张三")), filename="a.csv",
                               actor=staff["clerk"])
    assert ImportJob.objects.count() == 0 and not (media / "imports").exists()


def test_the_same_file_twice_while_the_first_runs_imports_once(shiyan, staff, media):
    data = _csv(shiyan, _good(shiyan, 1, "张三"))
    first, created = import_jobs.job_submit(importer=PersonImporter, data=data, filename="a.csv", actor=staff["clerk"])
    second, again = import_jobs.job_submit(importer=PersonImporter, data=data, filename="copy.csv", actor=staff["clerk"])
    assert created and not again and second.pk == first.pk and ImportJob.objects.count() == 1
    # Someone else's upload of the same file, or another file, is its own job.
    other, created = import_jobs.job_submit(importer=PersonImporter, data=data, filename="a.csv",
                                            actor=staff["supervisor"])
    assert created and other.pk != first.pk
    # The database refuses a second active job of one key even past the look-up (a race).
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        ImportJob.objects.create(kind="persons", title="x", actor=staff["clerk"], original_name="a.csv",
                                 file_sha256=first.file_sha256, key=first.key, state=JobState.RUNNING)
    import_jobs.job_run(first.pk)
    # Once finished, the file may be submitted again (it then changes nothing).
    third, created = import_jobs.job_submit(importer=PersonImporter, data=data, filename="a.csv", actor=staff["clerk"])
    assert created and import_jobs.job_run(third.pk).unchanged == 1 and Person.objects.count() == 1


# ── a worker killed mid-run ────────────────────────────────────────────────────────────────

def _left_running(job: ImportJob, minutes_ago: int) -> ImportJob:
    """What a worker killed mid-run leaves: ``running``, its lock gone with its connection."""
    when = timezone.now() - timedelta(minutes=minutes_ago)
    ImportJob.objects.filter(pk=job.pk).update(state=JobState.RUNNING, stage="validate", attempts=1,
                                               started_at=when, heartbeat_at=when, rows_total=1, rows_validated=0)
    job.refresh_from_db()
    return job


def test_a_job_left_running_by_a_dead_worker_is_failed_by_the_watchdog(shiyan, staff, media, settings):
    settings.JOBS_STALE_AFTER_SECONDS = 1800
    dead, _ = import_jobs.job_submit(importer=PersonImporter, data=_csv(shiyan, _good(shiyan, 1, "张三")),
                                     filename="a.csv", actor=staff["clerk"])
    _left_running(dead, minutes_ago=31)
    assert [j.pk for j in import_jobs.jobs_stale()] == [dead.pk]
    assert [j.pk for j in import_jobs.jobs_fail_stale()] == [dead.pk]
    dead.refresh_from_db()
    assert dead.state == JobState.FAILED and "未写入任何数据" in dead.summary and not dead.file
    assert import_jobs.jobs_stale() == []
    # The message redelivered afterwards finds it finished and does nothing.
    assert import_jobs.job_run(dead.pk).state == JobState.FAILED and Person.objects.count() == 0


def test_a_live_job_is_not_stale_off_postgres_until_its_heartbeat_is_old(shiyan, staff, media, settings):
    settings.JOBS_STALE_AFTER_SECONDS = 1800
    job, _ = import_jobs.job_submit(importer=PersonImporter, data=_csv(shiyan, _good(shiyan, 1, "张三")),
                                    filename="a.csv", actor=staff["clerk"])
    _left_running(job, minutes_ago=5)
    # On PostgreSQL no session holds the job's lock: that alone says the worker is gone.
    assert bool(import_jobs.jobs_stale()) == (connection.vendor == "postgresql")


def test_the_progress_page_fails_a_dead_job_at_once(client, shiyan, staff, media):
    job, _ = import_jobs.job_submit(importer=PersonImporter, data=_csv(shiyan, _good(shiyan, 1, "张三")),
                                    filename="a.csv", actor=staff["clerk"])
    _left_running(job, minutes_ago=120)
    client.force_login(staff["clerk"])
    status = client.get(f"/admin/members/person/import-jobs/{job.pk}/status/").json()
    assert status["state"] == "failed" and status["finished"] and status["state_label"] == "已中断"


def test_a_redelivered_message_resumes_a_stale_job_once_then_gives_up(shiyan, staff, media):
    job, _ = import_jobs.job_submit(importer=PersonImporter, data=_csv(shiyan, _good(shiyan, 1, "张三")),
                                    filename="a.csv", actor=staff["clerk"])
    _left_running(job, minutes_ago=120)
    resumed = import_jobs.job_run(job.pk)
    assert resumed.state == JobState.DONE and resumed.attempts == 2 and Person.objects.count() == 1
    job2, _ = import_jobs.job_submit(importer=PersonImporter, data=_csv(shiyan, _good(shiyan, 2, "李四")),
                                     filename="b.csv", actor=staff["clerk"])
    _left_running(job2, minutes_ago=120)
    ImportJob.objects.filter(pk=job2.pk).update(attempts=import_jobs.MAX_ATTEMPTS)
    assert import_jobs.job_run(job2.pk).state == JobState.FAILED and Person.objects.count() == 1


# ── the admin pages, eager Celery ──────────────────────────────────────────────────────────

def _upload(client, data: bytes, name: str = "人员.csv"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return client.post("/admin/members/person/import/", {
        "resource": "0", "format": "0", "import_file": SimpleUploadedFile(name, data, content_type="text/csv")})


def test_a_two_row_import_finishes_in_the_background(client, shiyan, staff, media, settings, eager,
                                                     django_capture_on_commit_callbacks):
    settings.IMPORT_BACKGROUND_ROWS = 1
    client.force_login(staff["clerk"])
    with django_capture_on_commit_callbacks(execute=True):
        response = _upload(client, _csv(shiyan, _good(shiyan, 1, "张三"), _good(shiyan, 2, "李四")))
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/admin/members/person/import-jobs/{job.pk}/"
    assert job.state == JobState.DONE and Person.objects.count() == 2 and job.actor == staff["clerk"]
    status = client.get(f"/admin/members/person/import-jobs/{job.pk}/status/").json()
    assert status == {**status, "state": "done", "percent": 100, "rows_total": 2, "rows_done": 2, "finished": True}
    page = client.get(response["Location"]).content.decode()
    assert "后台导入:参保人员" in page and "已导入 共 2 行:新增 2,更新 0,未变 0" in page.replace("参保人员:", "")
    assert 'data-testid="import-counts"' in page and "import_job.js" not in page  # finished: no polling
    # The import page lists it among this clerk's recent background imports.
    assert f"/admin/members/person/import-jobs/{job.pk}/" in client.get("/admin/members/person/import/").content.decode()


def test_a_bad_row_in_the_background_yields_the_report_and_writes_nothing(client, shiyan, staff, media, settings,
                                                                         eager, django_capture_on_commit_callbacks):
    settings.IMPORT_BACKGROUND_ROWS = 1
    client.force_login(staff["clerk"])
    with django_capture_on_commit_callbacks(execute=True):
        response = _upload(client, _csv(shiyan, _good(shiyan, 1, "张三"), ("123", "李四", shiyan.village().code)))
    job = ImportJob.objects.get()
    assert job.state == JobState.REJECTED and Person.objects.count() == 0
    page = client.get(response["Location"]).content.decode()
    assert 'data-testid="import-errors"' in page and "有错误,未写入" in page
    row = page[page.index('data-testid="import-errors"'):]
    assert "<td class=\"border-t border-base-200 px-3 py-2\">3</td>" in row and "公民身份号码" in row and ">123<" in row
    report = client.get(f"/admin/members/person/import-jobs/{job.pk}/report/")
    sheet = load_workbook(BytesIO(report.content))["错误报告"]
    assert [c.value for c in sheet[1]] == ["行号", "列", "填写的值", "错误"]
    assert [c.value for c in sheet[2]][:3] == [3, "公民身份号码", "123"]


def test_a_small_file_keeps_the_synchronous_preview(client, shiyan, staff, media, settings):
    settings.IMPORT_BACKGROUND_ROWS = 1000
    client.force_login(staff["clerk"])
    response = _upload(client, _csv(shiyan, _good(shiyan, 1, "张三")))
    assert response.status_code == 200 and ImportJob.objects.count() == 0
    assert "/admin/members/person/process_import/" in response.content.decode() and Person.objects.count() == 0


def test_the_same_upload_twice_while_queued_is_not_imported_twice(client, shiyan, staff, media, settings,
                                                                  monkeypatch, django_capture_on_commit_callbacks):
    settings.IMPORT_BACKGROUND_ROWS = 0
    queued = []
    monkeypatch.setattr(import_jobs, "enqueue", queued.append)
    client.force_login(staff["clerk"])
    data = _csv(shiyan, _good(shiyan, 1, "张三"))
    with django_capture_on_commit_callbacks(execute=True):
        first = _upload(client, data)
        second = _upload(client, data)
    assert first["Location"] == second["Location"] and len(queued) == 1 and ImportJob.objects.count() == 1
    page = client.get(second["Location"]).content.decode()
    assert "同一文件正在导入中" in page and "import_job.js" in page and "等待后台处理" in page
    status = client.get(second["Location"] + "status/").json()
    assert status["state"] == "queued" and status["stage_label"] == "等待后台处理" and status["percent"] == 0


def test_the_progress_page_speaks_english_to_an_english_browser(client, shiyan, staff, media):
    job, _ = import_jobs.job_submit(importer=PersonImporter, data=_csv(shiyan, _good(shiyan, 1, "张三")),
                                    filename="a.csv", actor=staff["clerk"])
    client.force_login(staff["clerk"])
    page = client.get(f"/admin/members/person/import-jobs/{job.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    status = client.get(f"/admin/members/person/import-jobs/{job.pk}/status/", HTTP_ACCEPT_LANGUAGE="en").json()
    assert "Waiting for a background worker" in page and status["state_label"] == "Queued"
    assert "导入进度" not in page and "Import progress" in page


# ── who sees a job ─────────────────────────────────────────────────────────────────────────

def test_only_the_uploader_and_supervisors_see_a_job(client, shiyan, staff, media):
    from yibao_site.models import Role
    from yibao_site.services import staff_save

    job, _ = import_jobs.job_submit(importer=PersonImporter, data=_csv(shiyan, _good(shiyan, 1, "张三")),
                                    filename="a.csv", actor=staff["clerk"])
    other_clerk = staff_save(username="clerk2", role=Role.WINDOW_CLERK, password="x-Yb-2026-pass")
    urls = [f"/admin/members/person/import-jobs/{job.pk}/{s}" for s in ("", "status/", "report/")]
    for user, expected in ((staff["clerk"], 200), (staff["supervisor"], 200), (other_clerk, 404),
                           (staff["reviewer"], 404)):
        client.force_login(user)
        assert [client.get(u).status_code for u in urls] == [expected] * 3, user.username
    # A job is looked up under its own import only.
    client.force_login(staff["clerk"])
    assert client.get(f"/admin/members/enrollment/import-jobs/{job.pk}/status/").status_code == 404
    # Township agents never reach the admin (they are sent to sign in).
    client.force_login(staff["agent"])
    assert client.get(urls[1]).status_code == 302


def test_an_agent_sees_no_job_of_another_township_and_a_bound_supervisor_only_their_region(shiyan, staff, media):
    from yibao_site.models import Role
    from yibao_site.services import staff_save

    job, _ = import_jobs.job_submit(importer=PersonImporter, data=_csv(shiyan, _good(shiyan, 1, "张三")),
                                    filename="a.csv", actor=staff["agent"])
    assert job.region == shiyan.townships[0]
    assert list(import_jobs.visible_jobs(staff["agent"])) == [job]
    assert list(import_jobs.visible_jobs(staff["agent_b"])) == []
    assert list(import_jobs.visible_jobs(staff["supervisor"])) == [job]
    here = staff_save(username="sup_t1", role=Role.SUPERVISOR, password="x-Yb-2026-pass")
    there = staff_save(username="sup_t2", role=Role.SUPERVISOR, password="x-Yb-2026-pass")
    type(here).objects.filter(pk=here.pk).update(region=shiyan.townships[0])
    type(there).objects.filter(pk=there.pk).update(region=shiyan.townships[1])
    here.refresh_from_db(), there.refresh_from_db()
    assert list(import_jobs.visible_jobs(here)) == [job] and list(import_jobs.visible_jobs(there)) == []


# ── small pieces ───────────────────────────────────────────────────────────────────────────

def test_rows_are_estimated_without_parsing(shiyan):
    from yibao_site.imports import estimate_rows
    from yibao_site.xlsx import Sheet, workbook_bytes

    assert estimate_rows(b"a,b\n1,2\n3,4\n") == 2 and estimate_rows(b"a,b\n1,2\n3,4") == 2
    assert estimate_rows(b"a,b\n") == 0
    book = workbook_bytes([Sheet("s", ["a", "b"], [[1, 2], [3, 4], [5, 6]])])
    assert estimate_rows(book, "x.xlsx") == 3


def test_the_bar_is_half_validation_half_writing():
    job = ImportJob(rows_total=200, rows_validated=100, rows_written=0, state=JobState.RUNNING)
    assert job.percent == 25
    job.rows_validated, job.rows_written = 200, 100
    assert job.percent == 75
    job.dry_run, job.rows_validated = True, 100
    assert job.percent == 50
    assert json.dumps(import_jobs.job_payload(ImportJob(rows_total=0, state=JobState.QUEUED)))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_on_postgresql_rows_written_show_while_the_write_transaction_is_open(shiyan, staff, media, monkeypatch):
    from django.db import connections

    monkeypatch.setattr(PersonImporter, "batch_size", 1)
    seen = []
    record = import_jobs._progress

    def watched(job_id, stage, done):
        record(job_id, stage, done)
        if stage == "write":  # what the page's own connection reads now, mid-transaction
            other = connections.create_connection("default")
            try:
                with other.cursor() as c:
                    c.execute(f"SELECT rows_written, stage FROM {ImportJob._meta.db_table} WHERE id = %s", [job_id])
                    seen.append(c.fetchone())
                    c.execute("SELECT count(*) FROM members_person")
                    seen.append(c.fetchone()[0])
            finally:
                other.close()

    monkeypatch.setattr(import_jobs, "_progress", watched)
    job, _ = import_jobs.job_submit(importer=PersonImporter, data=_csv(
        shiyan, _good(shiyan, 1, "张三"), _good(shiyan, 2, "李四"), _good(shiyan, 3, "王五")), filename="a.csv",
        actor=staff["clerk"])
    job = import_jobs.job_run(job.pk)
    # The count moves row by row while no person is visible yet: all or nothing.
    assert seen == [(1, "write"), 0, (2, "write"), 0, (3, "write"), 0]
    assert job.state == JobState.DONE and Person.objects.count() == 3


def test_every_row_checked_reads_as_writing_until_the_transaction_commits():
    job = ImportJob(rows_total=10, rows_validated=10, state=JobState.RUNNING, stage="validate")
    payload = import_jobs.job_payload(job)
    assert payload["stage_label"] == "正在写入(全部成功才生效)" and payload["percent"] == 50
    job.rows_validated = 5
    assert import_jobs.job_payload(job)["stage_label"] == "正在逐行校验"


def test_a_job_is_submitted_by_a_signed_in_member_of_staff_only(shiyan, staff, media):
    from django.core.exceptions import PermissionDenied

    from yibao_site.actors import system_actor

    data = _csv(shiyan, _good(shiyan, 1, "张三"))
    for actor in (None, system_actor("nightly")):
        with pytest.raises(PermissionDenied):
            import_jobs.job_submit(importer=PersonImporter, data=data, filename="a.csv", actor=actor)
    assert ImportJob.objects.count() == 0
