"""The payment run's chunk is set-based (issue 14): its statements do not grow with the number
of deliveries it pays, and the lines equal what the deliveries say."""
from datetime import date

from django.db import connection
from django.test.utils import CaptureQueriesContext

from procurement import services
from procurement.models import Delivery, DeliveryStatus, LineState, PaymentLine
from procurement.testing import RUN_JOB


def _counted(as_of):
    with CaptureQueriesContext(connection) as ctx:
        run = services.payment_run_start(as_of=as_of, actor=RUN_JOB)
    return run, len(ctx.captured_queries)


def test_a_chunk_s_statements_do_not_depend_on_how_many_deliveries_it_pays(world, settings):
    settings.PROCUREMENT_PAYMENT_CHUNK_SIZE = 1000
    world.deliver_accepted(quantity=3, accepted_on=date(2024, 3, 2))
    first, few = _counted(date(2024, 3, 10))
    for q in range(1, 9):
        world.deliver_accepted(quantity=q, accepted_on=date(2024, 3, 11))
    second, many = _counted(date(2024, 3, 12))
    assert (first.count, second.count) == (1, 8)
    assert few == many


def test_the_lines_copy_the_deliveries(world):
    paid = [world.deliver_accepted(quantity=q, accepted_on=date(2024, 3, 2)) for q in (1, 2, 5)]
    paid.append(world.deliver_accepted(product=world.stent, quantity=2, accepted_on=date(2024, 3, 3)))
    run = services.payment_run_start(as_of=date(2024, 3, 10), actor=RUN_JOB)
    lines = {line.delivery_id: line for line in PaymentLine.objects.filter(order__run=run).select_related("order")}
    assert set(lines) == {d.pk for d in paid}
    for d in Delivery.objects.filter(pk__in=lines):
        line = lines[d.pk]
        assert d.status == DeliveryStatus.INSTRUCTED
        assert (line.order.supplier_id, line.hospital_id, line.amount, line.accepted_on, line.due_on, line.state,
                line.paid_on, line.bank_reference, line.days_to_pay, line.on_time) == (
            d.supplier_id, d.hospital_id, d.amount, d.accepted_on, d.due_on, LineState.INSTRUCTED, None, "", None, None)
        assert d.history.first().history_type == "~" and d.history.first().status == DeliveryStatus.INSTRUCTED
