"""README, 超出一台机器: Celery queues per job kind and reports read from a replica."""
from fnmatch import fnmatch

import pytest
from django.conf import settings
from django.db import connections, transaction
from django.test.utils import CaptureQueriesContext

from yibao_site import replica


def test_every_task_has_a_queue_of_its_kind():
    """With CELERY_QUEUES_BY_KIND=1 a task no route names would sit in the default queue that no
    ``-Q``-started worker serves: every task the project registers must match a route."""
    from config.celery import app

    app.loader.import_default_modules()
    names = sorted(n for n in app.tasks if not n.startswith("celery."))
    assert len(names) >= 15, names  # autodiscovery found the apps' tasks.py
    unrouted = [n for n in names if not any(fnmatch(n, pattern) for pattern in settings.TASK_QUEUES_BY_KIND)]
    assert unrouted == []
    queues = {route["queue"] for route in settings.TASK_QUEUES_BY_KIND.values()}
    assert {"claims", "warning", "members", "procurement", "payments", "imports"} <= queues


def test_without_a_replica_reports_read_the_primary(monkeypatch):
    monkeypatch.delitem(connections.settings, replica.REPLICA, raising=False)  # the default: one database
    assert not replica.replica_configured()
    with replica.reporting():
        assert replica.report_alias() == "default"
        assert replica.ReplicaRouter().db_for_read(None) is None


@pytest.fixture(scope="module")
def with_replica(django_db_setup):
    """A ``replica`` alias on the test database itself (what ``TEST: {"MIRROR": "default"}``
    does when DATABASE_REPLICA_URL is set).  Module-scoped so that it exists before the test
    case that lists it in its databases is set up."""
    connections.settings[replica.REPLICA] = {**connections["default"].settings_dict,
                                             "TEST": {"MIRROR": "default"}}
    try:
        yield
    finally:
        if replica.REPLICA in connections:
            connections[replica.REPLICA].close()
            del connections[replica.REPLICA]
        del connections.settings[replica.REPLICA]


# transaction=True: an ordinary test runs inside a transaction, which keeps reports on the primary
both = pytest.mark.django_db(transaction=True, databases=["default", replica.REPLICA])


@both
def test_report_reads_go_to_the_replica_and_nothing_else_does(with_replica):
    from claims import reports
    from claims.models import Claim
    from members.models import Person

    router = replica.ReplicaRouter()
    assert router.db_for_read(Person) is None  # outside a report: the primary
    assert router.db_for_write(Person) == "default"
    assert router.allow_migrate(replica.REPLICA, "members") is False
    with CaptureQueriesContext(connections[replica.REPLICA]) as on_replica, \
            CaptureQueriesContext(connections["default"]) as on_primary:
        data = reports.build("funds", year=2024, region=None)
        Claim.objects.count()  # an ordinary read after the report
    assert data["year"] == 2024 and data["funds"]
    assert len(on_replica) >= 1
    assert any("claims_claim" in q["sql"] for q in on_replica.captured_queries)
    assert all("claims_claim" not in q["sql"] for q in on_primary.captured_queries[:-1])
    assert "claims_claim" in on_primary.captured_queries[-1]["sql"]  # the ordinary read


@both
def test_inside_a_transaction_the_report_reads_the_primary(with_replica):
    """A service that writes and then reports in one transaction must see its own rows."""
    with transaction.atomic(), replica.reporting():
        assert replica.report_alias() == "default"
    with replica.reporting():
        assert replica.report_alias() == replica.REPLICA
