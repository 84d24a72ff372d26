"""Payment runs a dead worker left ``running``: detected, resumed, nothing paid twice.

The real-worker tests SIGKILL a Celery worker mid-run on Redis, start another one, and show
the run completing by itself: by the broker redelivering the unacknowledged task (visibility
timeout) and by the watchdog tick (``procurement.resume_stale_runs``).
"""
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from procurement import services
from procurement.models import PaymentLine, PaymentRun, RunStatus
from procurement.schedule import PAYMENT_RUN_TASK, RESUME_STALE_TASK

from .test_payment_run_postgres import _assert_each_paid_exactly_once, _wait_for, _world_with


@pytest.mark.django_db
def test_on_sqlite_a_run_running_for_too_long_is_stale_and_resumed(settings):
    settings.JOBS_STALE_AFTER_SECONDS = 60
    _world, ids = _world_with(7, date(2024, 3, 2))
    fresh = PaymentRun.objects.create(as_of=date(2024, 3, 10), trigger="schedule")
    assert services.payment_runs_stale() == [] or connection.vendor == "postgresql"
    PaymentRun.objects.filter(pk=fresh.pk).update(started_at=timezone.now() - timedelta(minutes=5))
    if connection.vendor != "postgresql":
        assert [r.pk for r in services.payment_runs_stale()] == [fresh.pk]
    [resumed] = services.payment_runs_resume_stale()
    assert resumed.pk == fresh.pk and resumed.status == RunStatus.COMPLETED and resumed.count == 7
    _assert_each_paid_exactly_once(ids)
    assert services.payment_runs_resume_stale() == []  # completed: nothing left to resume


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_on_postgresql_a_running_run_holding_its_lock_is_not_stale():
    from django.db import connections

    _world, _ids = _world_with(3, date(2024, 3, 2))
    PaymentRun.objects.create(as_of=date(2024, 3, 10), trigger="schedule")
    other = connections.create_connection("default")
    try:
        with other.cursor() as c:  # a live worker: its session holds the run lock
            c.execute("SELECT pg_advisory_lock(%s)", [services.PAYMENT_RUN_LOCK_KEY])
        assert services.payment_runs_stale() == []
    finally:
        other.close()  # the worker dies: PostgreSQL drops its lock
    assert [r.as_of for r in _wait_for(services.payment_runs_stale, timeout=10)] == [date(2024, 3, 10)]


# ── a real worker, killed ────────────────────────────────────────────────────────────────────

def _start_worker(queue: str, env: dict) -> tuple[subprocess.Popen, str]:
    log = tempfile.NamedTemporaryFile(prefix="celery-worker2-", suffix=".log", delete=False)
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-P", "solo", "-c", "1", "-Q", queue,
         "--without-gossip", "--without-mingle", "-n", f"{queue}-2@%h", "-l", "INFO"],
        cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None or "ready." in open(log.name, encoding="utf-8", errors="replace").read():
            break
        time.sleep(0.3)
    return proc, log.name


def _stop(proc):
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture
def short_visibility(monkeypatch):
    """One delivery per chunk (a long run) and a 3-second visibility timeout, set before the
    worker starts: its environment is copied at start."""
    monkeypatch.setenv("PROCUREMENT_PAYMENT_CHUNK_SIZE", "1")
    monkeypatch.setenv("CELERY_VISIBILITY_TIMEOUT", "3")


@pytest.fixture
def hour_visibility(monkeypatch):
    """As above, with Redis's default hour: only the watchdog can bring the run back."""
    monkeypatch.setenv("PROCUREMENT_PAYMENT_CHUNK_SIZE", "1")
    monkeypatch.setenv("CELERY_VISIBILITY_TIMEOUT", "3600")


def _kill_mid_run(worker, n):
    today = timezone.localdate()
    _world, ids = _world_with(n, today - timedelta(days=2))
    worker.send_task(PAYMENT_RUN_TASK, args=[today.isoformat()])
    _wait_for(lambda: PaymentLine.objects.count() >= 20)
    os.kill(worker.worker_process.pid, signal.SIGKILL)
    worker.worker_process.wait(timeout=10)
    partial = PaymentLine.objects.count()
    assert 20 <= partial < n, "the run should have been killed in the middle"
    run = PaymentRun.objects.get(as_of=today)
    assert run.status == RunStatus.RUNNING
    return today, ids, run


def _second_worker(worker):
    env = dict(os.environ, DATABASE_URL=_database_url(), CELERY_BROKER_URL=worker.conf.broker_url,
               DB_CONN_MAX_AGE="0", PROCUREMENT_PAYMENT_CHUNK_SIZE="200")
    return _start_worker(worker.conf.task_default_queue, env)


def _database_url():
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.mark.postgres
@pytest.mark.celery_worker
def test_a_killed_worker_s_run_is_redelivered_within_the_visibility_timeout(short_visibility, real_worker):
    killable_worker = real_worker
    n = 1500
    today, ids, run = _kill_mid_run(killable_worker, n)
    proc, log = _second_worker(killable_worker)
    try:
        # Nobody calls anything: the broker hands the unacknowledged task to the new worker.
        done = _wait_for(lambda: PaymentRun.objects.filter(pk=run.pk, status=RunStatus.COMPLETED).first(),
                         timeout=120, step=0.5)
    finally:
        _stop(proc)
    assert done.count == n and done.attempts == 2, open(log).read()[-3000:]
    _assert_each_paid_exactly_once(ids)


@pytest.mark.postgres
@pytest.mark.celery_worker
def test_a_killed_worker_s_run_is_resumed_by_the_next_watchdog_tick(hour_visibility, real_worker):
    killable_worker = real_worker
    n = 1500
    today, ids, run = _kill_mid_run(killable_worker, n)
    proc, log = _second_worker(killable_worker)
    try:
        # The broker would wait an hour; beat's five-minute tick sends the watchdog.
        killable_worker.send_task(RESUME_STALE_TASK)
        done = _wait_for(lambda: PaymentRun.objects.filter(pk=run.pk, status=RunStatus.COMPLETED).first(),
                         timeout=120, step=0.5)
    finally:
        _stop(proc)
    assert done.count == n and done.attempts == 2, open(log).read()[-3000:]
    _assert_each_paid_exactly_once(ids)
    assert "resume_stale_runs" in settings.CELERY_BEAT_SCHEDULE.get("procurement.resume_stale_runs", {}).get("task", "")
