"""Pushes to partner departments: HMAC-signed JSON POSTs to a real local HTTP server that
fails and then recovers; retries with backoff; nothing lost, nothing sent twice."""
import json
from datetime import date, timedelta

import pytest
from django.utils import timezone

from assistance.early_warning import rules, services
from assistance.early_warning.models import DeliveryStatus, WarningDelivery
from assistance.early_warning.tasks import push_delivery, sweep_deliveries
from config.celery import app

from .helpers import Receiver, identity, ledger, person, resident

SECRET = "shared-secret-of-civil-affairs"
MARCH = date(2024, 3, 1)


@pytest.fixture
def eager():
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield app
    app.conf.task_always_eager = previous


@pytest.fixture
def warned_people(shiyan):
    """Two persons on March's list: A monitored 8 500.00 > 8 000.00; B resident 16 500.00 > 16 000.00."""
    a, b = person(shiyan, name="甲"), person(shiyan, township=1, name="乙")
    identity(a, "monitored", source="rural_revitalization")
    resident(b, 2024)
    ledger(a, 2024, m01="8500.00")
    ledger(b, 2024, m02="16500.00")
    return a, b


def configure(shiyan, url, department="civil_affairs"):
    return services.endpoint_save(region=shiyan.city, department=department, url=url, secret=SECRET)


def run_and_push(shiyan, capture):
    with capture(execute=True):
        run, _created = services.warning_run(region=shiyan.city, month=MARCH)
    return run


def test_a_failing_endpoint_is_retried_until_it_recovers_and_nothing_is_sent_twice(
        shiyan, warned_people, eager, django_capture_on_commit_callbacks):
    """500, then 503, then 200: three attempts with the same key and the same signed body;
    the delivery is delivered once; pushing, sweeping or running the month again sends nothing."""
    a, b = warned_people
    with Receiver(script=[500, 503]) as receiver:
        configure(shiyan, receiver.url)
        run = run_and_push(shiyan, django_capture_on_commit_callbacks)
        delivery = run.deliveries.get(department="civil_affairs")
        assert (delivery.status, delivery.attempts) == (DeliveryStatus.DELIVERED, 3)
        assert list(delivery.attempt_log.values_list("number", "status_code")) == [(1, 500), (2, 503), (3, 200)]
        assert len(receiver.requests) == 3
        bodies = {r["body"] for r in receiver.requests}
        keys = {r["headers"]["Idempotency-Key"] for r in receiver.requests}
        assert len(bodies) == 1 and keys == {str(delivery.key)}
        for request in receiver.requests:
            headers = request["headers"]
            assert rules.verify(SECRET, headers["X-Yibao-Timestamp"], request["body"], headers["X-Yibao-Signature"])
            assert not rules.verify("wrong-secret-wrong-secret", headers["X-Yibao-Timestamp"], request["body"],
                                    headers["X-Yibao-Signature"])
        payload = json.loads(receiver.accepted[str(delivery.key)])
        assert payload["count"] == 2 and payload["run"]["month"] == "2024-03"
        assert {(w["person"], w["kind"], w["out_of_pocket"], w["threshold"], w["is_new"])
                for w in payload["warnings"]} == {
            (a.id_number, "return_to_poverty", "8500.00", "8000.00", True),
            (b.id_number, "into_poverty", "16500.00", "16000.00", True),
        }
        # Nothing twice: the task again, the sweeper, the month again.
        with django_capture_on_commit_callbacks(execute=True):
            push_delivery.delay(delivery.pk)
            sweep_deliveries.delay()
            services.warning_run(region=shiyan.city, month=MARCH)
        assert len(receiver.requests) == 3 and len(receiver.accepted) == 1
    other = run.deliveries.get(department="rural_revitalization")
    assert (other.channel, other.status, other.attempts) == ("download", DeliveryStatus.AWAITING_DOWNLOAD, 0)


def test_an_endpoint_down_for_every_attempt_fails_then_a_redelivery_recovers(
        shiyan, warned_people, eager, django_capture_on_commit_callbacks, monkeypatch):
    """With 3 attempts per round: 500 × 3 → failed (nothing lost: it waits for a redelivery);
    after the department recovers, a redelivery sends the same key once more → delivered."""
    monkeypatch.setattr(services, "MAX_ATTEMPTS", 3)
    with Receiver(script=[500, 500, 500]) as receiver:
        configure(shiyan, receiver.url)
        run = run_and_push(shiyan, django_capture_on_commit_callbacks)
        delivery = run.deliveries.get(department="civil_affairs")
        assert (delivery.status, delivery.attempts, delivery.last_status_code) == (DeliveryStatus.FAILED, 3, 500)
        with django_capture_on_commit_callbacks(execute=True):
            sweep_deliveries.delay()  # a failed delivery is not retried behind the supervisor's back
        assert len(receiver.requests) == 3
        with django_capture_on_commit_callbacks(execute=True):
            services.delivery_redeliver(delivery=delivery)
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts, delivery.round_attempts) == (DeliveryStatus.DELIVERED, 4, 1)
        assert {r["headers"]["Idempotency-Key"] for r in receiver.requests} == {str(delivery.key)}
        assert len(receiver.accepted) == 1


def test_a_rejected_request_fails_at_once_without_retrying(shiyan, warned_people, eager,
                                                           django_capture_on_commit_callbacks):
    """401 (e.g. the department changed its key): retrying the same request cannot help."""
    with Receiver(script=[401]) as receiver:
        configure(shiyan, receiver.url)
        run = run_and_push(shiyan, django_capture_on_commit_callbacks)
        delivery = run.deliveries.get(department="civil_affairs")
        assert (delivery.status, delivery.attempts, len(receiver.requests)) == (DeliveryStatus.FAILED, 1, 1)


def test_an_unreachable_endpoint_records_the_connection_error_and_schedules_a_retry(shiyan, warned_people):
    """Without eager Celery: one attempt, the error recorded, the retry due after the backoff."""
    with Receiver() as receiver:
        url = receiver.url  # the port is closed once the server stops
    endpoint = configure(shiyan, url)
    run, _ = services.warning_run(region=shiyan.city, month=MARCH)
    delivery = run.deliveries.get(endpoint=endpoint)
    before = timezone.now()
    outcome = services.delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert outcome.retry_in == services.BACKOFF_BASE
    assert delivery.status == DeliveryStatus.PENDING and "ConnectionError" in delivery.last_error
    assert delivery.next_attempt_at >= before + timedelta(seconds=services.BACKOFF_BASE)
    assert delivery.attempt_log.get().error == delivery.last_error


def test_a_delivery_another_worker_is_sending_is_left_alone_until_its_lease_expires(
        shiyan, warned_people, eager, django_capture_on_commit_callbacks):
    with Receiver() as receiver:
        configure(shiyan, receiver.url)
        run, _ = services.warning_run(region=shiyan.city, month=MARCH)  # tasks not run: no callbacks
        delivery = run.deliveries.get(department="civil_affairs")
        WarningDelivery.objects.filter(pk=delivery.pk).update(
            status=DeliveryStatus.SENDING, lease_until=timezone.now() + timedelta(minutes=5))
        assert services.delivery_send(delivery_id=delivery.pk).status == DeliveryStatus.SENDING
        assert services.deliveries_sweep() == 0 and receiver.requests == []
        # The sender died: once the lease has expired the sweeper sends it, with the same key.
        WarningDelivery.objects.filter(pk=delivery.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
        with django_capture_on_commit_callbacks(execute=True):
            assert sweep_deliveries.delay().get() == 1
        delivery.refresh_from_db()
        assert delivery.status == DeliveryStatus.DELIVERED
        assert [r["headers"]["Idempotency-Key"] for r in receiver.requests] == [str(delivery.key)]


def test_a_pending_delivery_whose_queue_message_was_lost_is_swept(shiyan, warned_people, eager):
    with Receiver() as receiver:
        configure(shiyan, receiver.url)
        run, _ = services.warning_run(region=shiyan.city, month=MARCH)  # broker message "lost"
        assert services.deliveries_sweep() == 0  # not overdue yet
        later = timezone.now() + services.SWEEP_GRACE + timedelta(minutes=1)
        assert services.deliveries_sweep(now=later) == 1
        assert run.deliveries.get(department="civil_affairs").status == DeliveryStatus.DELIVERED
        assert len(receiver.requests) == 1


def test_the_county_endpoint_wins_over_the_city_endpoint_for_a_county_run(shiyan, warned_people):
    city = configure(shiyan, "http://127.0.0.1:9/city")
    county = services.endpoint_save(region=shiyan.county, department="civil_affairs",
                                    url="http://127.0.0.1:9/county", secret=SECRET)
    run, _ = services.warning_run(region=shiyan.county, month=MARCH)
    assert run.deliveries.get(department="civil_affairs").endpoint == county
    assert services._endpoint_for(shiyan.city, "civil_affairs") == city


def test_the_backoff_doubles_up_to_its_cap():
    assert [rules.backoff_seconds(n, 60, 600) for n in range(0, 6)] == [0, 60, 120, 240, 480, 600]
