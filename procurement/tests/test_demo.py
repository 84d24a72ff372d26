"""The demo data: realistic, and a second run changes nothing."""
import random
from datetime import date

from procurement.models import Delivery, DeliveryStatus, PaymentLine, PaymentRun


def test_demo_seed_builds_paid_held_and_unreviewed_runs_and_is_idempotent(db):
    from procurement import demo
    from yibao_site.demo import DemoContext, build_jurisdiction, build_staff
    from yibao_site.packs import pack_load

    j = build_jurisdiction()
    pack_load(name="shiyan-2022", region=j.city)
    staff = build_staff(j, "Demo-pass-2026")

    def ctx():
        return DemoContext(rng=random.Random(7), persons=300, jurisdiction=j, staff=staff, today=date(2025, 6, 30),
                           log=lambda m: None)

    demo.seed(ctx())
    statuses = set(Delivery.objects.values_list("status", flat=True))
    assert {DeliveryStatus.PAID, DeliveryStatus.HELD, DeliveryStatus.DELIVERED} <= statuses
    assert PaymentRun.objects.filter(reviewed_at__isnull=True).exists()
    counts = (Delivery.history.count(), PaymentLine.objects.count(), PaymentRun.history.count())
    demo.seed(ctx())
    assert (Delivery.history.count(), PaymentLine.objects.count(), PaymentRun.history.count()) == counts


def test_demo_deliveries_stop_growing_with_the_persons_at_the_cap(db, monkeypatch):
    """One delivery per 10 persons, at least 60, at most ``MAX_DELIVERIES`` (the hospitals do
    not grow with the persons): here a cap of 45 on a demo whose persons would give 60."""
    from procurement import demo
    from yibao_site.demo import DemoContext, build_jurisdiction, build_staff
    from yibao_site.packs import pack_load

    j = build_jurisdiction()
    pack_load(name="shiyan-2022", region=j.city)
    staff = build_staff(j, "Demo-pass-2026")
    monkeypatch.setattr(demo, "MAX_DELIVERIES", 45)
    demo.seed(DemoContext(rng=random.Random(7), persons=300, jurisdiction=j, staff=staff, today=date(2025, 6, 30),
                          log=lambda m: None))
    assert Delivery.objects.count() == 45
