"""Concurrency on PostgreSQL: two runs of one month at once build one list; two workers
holding one delivery send it once."""
import threading
from datetime import date

import pytest
from django.db import connection

from assistance.early_warning import services
from assistance.early_warning.services import outbox
from assistance.early_warning.models import DeliveryStatus, PersonWarning, WarningRun
from yibao_site.testing import build_jurisdiction

from .helpers import Receiver, SYSTEM, identity, ledger, person, supervisor


def in_threads(target, n=2):
    barrier, results, errors = threading.Barrier(n), [], []

    def work():
        try:
            barrier.wait()
            results.append(target())
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    return results


@pytest.mark.postgres
def test_two_simultaneous_runs_of_a_month_build_one_list(transactional_db):
    j = build_jurisdiction(pack="shiyan-2022")
    p = person(j)
    identity(p, "monitored")
    ledger(p, 2024, m01="9000.00")
    results = in_threads(lambda: services.warning_run(actor=SYSTEM, region=j.city, month=date(2024, 3, 1)))
    assert sorted(created for _run, created in results) == [False, True]
    assert len({run.pk for run, _ in results}) == 1
    assert (WarningRun.objects.count(), PersonWarning.objects.count()) == (1, 1)


@pytest.mark.postgres
def test_two_workers_with_the_same_delivery_send_it_once(transactional_db, monkeypatch):
    monkeypatch.setattr(outbox, "enqueue", lambda ids: None)  # the threads below are the workers
    j = build_jurisdiction(pack="shiyan-2022")
    p = person(j)
    identity(p, "monitored")
    ledger(p, 2024, m01="9000.00")
    with Receiver() as receiver:
        services.endpoint_save(actor=supervisor(), region=j.city, department="civil_affairs", url=receiver.url, secret="k" * 20)
        run, _ = services.warning_run(actor=SYSTEM, region=j.city, month=date(2024, 3, 1))
        delivery = run.deliveries.get(department="civil_affairs")
        outcomes = in_threads(lambda: services.delivery_send(actor=SYSTEM, delivery_id=delivery.pk), n=3)
        delivery.refresh_from_db()
        assert delivery.status == DeliveryStatus.DELIVERED and delivery.attempts == 1
        assert len(receiver.requests) == 1
        assert sorted(o.status for o in outcomes).count(DeliveryStatus.DELIVERED) >= 1
