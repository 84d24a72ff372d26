"""Fixtures shared by every test in the project.

- ``shiyan`` / ``yicheng``: a city, a county, two townships with two villages each, and the
  policy pack loaded onto the city.
- ``staff``: one account per role (``clerk``, ``agent`` of township 1, ``agent_b`` of
  township 2, ``reviewer``, ``reviewer2``, ``finance``, ``supervisor``).
- ``api``: ``api(user)`` returns a DRF APIClient authenticated as ``user``.
"""
import os

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API in browser tests


def pytest_collection_modifyitems(config, items):
    """Skip PostgreSQL-only tests on SQLite (CI runs the suite again on PostgreSQL)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        skip = pytest.mark.skip(reason="needs PostgreSQL (run with DATABASE_URL=postgres://…)")
        for item in items:
            if "postgres" in item.keywords:
                item.add_marker(skip)
    if not os.environ.get("CELERY_WORKER_TESTS"):
        skip = pytest.mark.skip(reason="needs a real broker and worker (set CELERY_WORKER_TESTS=1, see .ci/run)")
        for item in items:
            if "celery_worker" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(autouse=True)
def _chinese_by_default():
    """Every test starts in the staff's language: a request through the test client leaves the
    thread's language activated (LocaleMiddleware), which must not leak into the next test."""
    from django.conf import settings as django_settings
    from django.utils import translation

    translation.activate(django_settings.LANGUAGE_CODE)
    yield
    translation.activate(django_settings.LANGUAGE_CODE)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """PBKDF2's deliberate slowness protects production; tests need none of it."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_scope_cache():
    """Each test's database starts afresh (SQLite reuses ids): so does the scope cache."""
    from yibao_site import scoping

    scoping._REGIONS.clear()
    yield
    scoping._REGIONS.clear()


@pytest.fixture
def shiyan(db):
    from yibao_site.testing import build_jurisdiction

    return build_jurisdiction(pack="shiyan-2022")


@pytest.fixture
def yicheng(db):
    from yibao_site.testing import build_jurisdiction

    return build_jurisdiction(pack="yicheng-2024", city=("370400", "枣庄市"), county=("370404", "峄城区"))


@pytest.fixture
def staff(shiyan):
    from yibao_site.testing import build_staff

    return build_staff(shiyan)


@pytest.fixture
def api():
    from rest_framework.test import APIClient

    def make(user=None, language="zh-hans"):
        client = APIClient(HTTP_ACCEPT_LANGUAGE=language)
        if user is not None:
            client.force_authenticate(user)
        return client

    return make


@pytest.fixture
def real_worker(transactional_db):
    """Start a real ``celery worker`` process on the configured broker (Redis in CI) that
    talks to this test's PostgreSQL database; yield the Celery app; stop the worker.

    Use with ``@pytest.mark.celery_worker`` and ``@pytest.mark.postgres``: the worker is a
    separate process, so it needs a database it can reach (not SQLite's in-memory one) and
    committed data (``transactional_db``).
    """
    import subprocess
    import sys
    import tempfile
    import time
    import uuid

    from django.conf import settings
    from django.db import connection

    from config.celery import app

    broker = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
    db = connection.settings_dict
    database_url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    queue = f"test-{uuid.uuid4().hex[:8]}"
    env = dict(os.environ, DATABASE_URL=database_url, CELERY_BROKER_URL=broker, DB_CONN_MAX_AGE="0")
    log = tempfile.NamedTemporaryFile(prefix="celery-worker-", suffix=".log", delete=False)
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-P", "solo", "-c", "1", "-Q", queue,
         "--without-gossip", "--without-mingle", "-n", f"{queue}@%h", "-l", "INFO"],
        cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    app.conf.broker_url = broker
    app.conf.task_default_queue = queue
    app.conf.task_always_eager = False
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError("celery worker exited:\n" + open(log.name).read())
            if "ready." in open(log.name, encoding="utf-8", errors="replace").read():
                break
            time.sleep(0.3)
        else:
            raise RuntimeError("celery worker did not start:\n" + open(log.name).read())
        app.worker_log = log.name
        app.worker_process = proc
        yield app
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        app.conf.task_default_queue = "celery"
        app.conf.broker_url = settings.CELERY_BROKER_URL
