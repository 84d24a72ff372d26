"""Background imports on a real Celery worker (Redis, PostgreSQL; run by ``.ci/run``): a job
completes through the broker, and a worker SIGKILLed mid-run leaves a job that the watchdog
fails at once — PostgreSQL dropped the dead session's lock, and its write transaction with it."""
from __future__ import annotations

import os
import signal
import time
from datetime import date, timedelta

import pytest

from members.importers import PersonImporter
from members.models import Person
from yibao_site import import_jobs
from yibao_site.import_jobs import ImportJob, JobState
from yibao_site.testing import build_jurisdiction, build_staff, make_id_number

pytestmark = [pytest.mark.celery_worker, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _wait_for(check, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError("timed out")


@pytest.fixture
def shared_media(tmp_path, monkeypatch, settings):
    """The worker reads the stored file: both processes use one MEDIA_ROOT (set before the
    worker starts, which copies the environment)."""
    media = tmp_path / "media"
    monkeypatch.setenv("MEDIA_ROOT", str(media))
    monkeypatch.setenv("CELERY_VISIBILITY_TIMEOUT", "3600")  # no redelivery: only the watchdog acts
    settings.MEDIA_ROOT = media
    return media


def _persons_csv(j, n: int, *, quoted: bool = False) -> bytes:
    """``quoted``: the names in CSV quotes (read as the same names), which the persons import's
    server-side PostgreSQL door declines, so the file goes the Python path."""
    lines = ["公民身份号码,姓名,村(社区)"]
    q = '"' if quoted else ""
    for i in range(n):
        birth = date(1950, 1, 1) + timedelta(days=i // 400)
        lines.append(f"{make_id_number(j.county.code, birth, i % 400 + 1)},{q}人{i}{q},{j.village(i % 2, 0).code}")
    return ("\n".join(lines) + "\n").encode()


def test_a_real_worker_runs_a_job_to_done(shared_media, real_worker):
    j = build_jurisdiction(pack="shiyan-2022")
    clerk = build_staff(j)["clerk"]
    job, created = import_jobs.job_submit(importer=PersonImporter, data=_persons_csv(j, 50), filename="p.csv",
                                          actor=clerk)
    assert created
    done = _wait_for(lambda: ImportJob.objects.filter(pk=job.pk, state=JobState.DONE).first())
    assert (done.rows_total, done.created, done.percent) == (50, 50, 100) and Person.objects.count() == 50


def test_a_worker_killed_mid_run_leaves_no_job_running_and_nothing_written(shared_media, real_worker):
    j = build_jurisdiction(pack="shiyan-2022")
    clerk = build_staff(j)["clerk"]
    # The Python path, validating row by row, is the one slow enough to be killed in the middle of
    # (the server-side door takes such a file in one statement of one transaction, which
    # PostgreSQL rolls back with a killed session): a quoted file goes that path.
    job, _ = import_jobs.job_submit(importer=PersonImporter, data=_persons_csv(j, 120_000, quoted=True),
                                    filename="big.csv", actor=clerk)
    _wait_for(lambda: ImportJob.objects.filter(pk=job.pk, state=JobState.RUNNING, rows_validated__gt=0).exists())
    assert import_jobs.jobs_stale() == []  # alive: its session holds the job's lock
    os.kill(real_worker.worker_process.pid, signal.SIGKILL)
    real_worker.worker_process.wait(timeout=10)
    job.refresh_from_db()
    assert job.state == JobState.RUNNING and job.rows_validated < 120_000, "killed in the middle"
    assert [s.pk for s in _wait_for(import_jobs.jobs_stale, timeout=20)] == [job.pk]
    [failed] = import_jobs.jobs_fail_stale()
    failed.refresh_from_db()
    assert failed.state == JobState.FAILED and "未写入任何数据" in failed.summary
    assert Person.objects.count() == 0
