"""Fast fixtures for this app's tests.

Loading a policy pack and hashing seven passwords costs seconds; here the jurisdiction and
the staff are built once per module inside an outer transaction, and each test runs in a
savepoint inside it (pytest-django's ``db``), rolled back after the test — the same state
the project's ``shiyan``/``staff`` fixtures give, without rebuilding it for every test.
Tests that need committed data (``transactional_db``, the real worker) live in
``test_worker.py``, which builds its own jurisdiction.
"""
import pytest
from django.db import transaction
from django.test import override_settings

FAST_HASHER = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="module")
def _module_world(django_db_setup, django_db_blocker):
    from yibao_site.testing import build_jurisdiction, build_staff

    with django_db_blocker.unblock(), override_settings(PASSWORD_HASHERS=FAST_HASHER):
        with transaction.atomic():
            j = build_jurisdiction(pack="shiyan-2022")
            yield j, build_staff(j)
            transaction.set_rollback(True)


@pytest.fixture
def shiyan(_module_world, db):
    # Module-scoped fixtures are set up before function-scoped ones, so ``db``'s savepoint
    # opens inside the module's transaction.
    return _module_world[0]


@pytest.fixture
def staff(shiyan, _module_world):
    return _module_world[1]
