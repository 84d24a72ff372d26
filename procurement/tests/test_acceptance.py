"""Acceptance (验收) and reconciliation of deliveries."""
from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from procurement import services
from procurement.models import Delivery, DeliveryStatus
from yibao_site.services import policy_parameter_save


def test_full_acceptance_that_matches_the_invoice_is_payable_and_due_thirty_days_later(world):
    """100 boxes × 12.34 = 1 234.00 invoiced and accepted in full on 2 Mar 2024:
    due 2 Mar + 30 days = 1 Apr 2024."""
    d = world.deliver_accepted(quantity=100, amount="1234.00", accepted_on=date(2024, 3, 2))
    assert d.status == DeliveryStatus.ACCEPTED
    assert d.accepted_amount == Decimal("1234.00")
    assert d.mismatch == Decimal("0.00")
    assert d.due_on == date(2024, 4, 1)
    assert "procurement.payment_days" in d.policy_used and d.policy_version.startswith("shiyan-2022#")


def test_partial_acceptance_holds_an_invoice_for_the_full_delivery_until_finance_corrects_it(world, staff):
    """Delivered 100, accepted 80: accepted value 80 × 12.34 = 987.20; the invoice of
    1 234.00 differs by 246.80 → held.  The supplier's corrected invoice of 987.20 releases it."""
    d = world.deliver(quantity=100, amount="1234.00")
    d = services.delivery_accept(delivery_id=d.pk, accepted_on=date(2024, 3, 5), quantity=80, actor=world.finance)
    assert d.status == DeliveryStatus.HELD
    assert (d.accepted_quantity, d.accepted_amount, d.mismatch) == (80, Decimal("987.20"), Decimal("246.80"))
    assert d.due_on == date(2024, 4, 4)

    with pytest.raises(ValidationError) as err:
        services.delivery_reconcile(delivery_id=d.pk, amount="987.21", actor=staff["finance"])
    assert "amount" in err.value.message_dict
    assert Delivery.objects.get(pk=d.pk).amount == Decimal("1234.00")

    d = services.delivery_reconcile(delivery_id=d.pk, amount="987.20", actor=staff["finance"])
    assert d.status == DeliveryStatus.ACCEPTED and d.mismatch == Decimal("0.00")
    assert d.history.first().history_user == staff["finance"]


def test_partial_acceptance_with_a_matching_invoice_is_payable_at_once(world):
    """Delivered 10 stents, 7 accepted and invoiced: 7 × 590.00 = 4 130.00."""
    d = world.deliver(product=world.stent, quantity=10, amount="4130.00")
    d = services.delivery_accept(delivery_id=d.pk, accepted_on=date(2024, 3, 1), quantity=7, actor=world.finance)
    assert d.status == DeliveryStatus.ACCEPTED and d.accepted_amount == Decimal("4130.00")


def test_a_mismatch_within_the_tolerance_reconciles(world, shiyan):
    """Tolerance 0.50 from 2024: invoice 1 234.40 against 1 234.00 differs by 0.40 ≤ 0.50."""
    policy_parameter_save(region=shiyan.city, key="procurement.reconcile_tolerance", value="0.50",
                          effective_from=date(2024, 1, 1))
    d = world.deliver_accepted(quantity=100, amount="1234.40")
    assert d.status == DeliveryStatus.ACCEPTED and d.mismatch == Decimal("0.40")
    d2 = world.deliver_accepted(quantity=100, amount="1234.51")
    assert d2.status == DeliveryStatus.HELD and d2.mismatch == Decimal("0.51")


def test_due_date_follows_the_payment_days_in_force_on_the_acceptance_date(world, shiyan):
    """A county override of 20 days from 1 Mar 2024: accepted 29 Feb → +30 = 30 Mar;
    accepted 1 Mar → +20 = 21 Mar."""
    policy_parameter_save(region=shiyan.county, key="procurement.payment_days", value=20,
                          effective_from=date(2024, 3, 1))
    before = world.deliver_accepted(delivered_on=date(2024, 2, 28), accepted_on=date(2024, 2, 29))
    after = world.deliver_accepted(delivered_on=date(2024, 2, 28), accepted_on=date(2024, 3, 1))
    assert before.due_on == date(2024, 3, 30)
    assert after.due_on == date(2024, 3, 21)


def test_accepting_nothing_rejects_the_delivery_and_it_is_never_paid(world):
    d = world.deliver_accepted(accept_quantity=0)
    assert d.status == DeliveryStatus.REJECTED and d.due_on is None


def test_bad_acceptance_is_refused_and_writes_nothing(world):
    d = world.deliver(quantity=100)
    for kwargs, field in [({"quantity": 101}, "quantity"), ({"quantity": -1}, "quantity"),
                          ({"quantity": "1.5"}, "quantity"), ({"accepted_on": date(2024, 2, 29)}, "accepted_on"),
                          ({"accepted_on": date(2999, 1, 1)}, "accepted_on")]:
        args = {"accepted_on": date(2024, 3, 2), "quantity": 100} | kwargs
        with pytest.raises(ValidationError) as err:
            services.delivery_accept(delivery_id=d.pk, **args, actor=world.finance)
        assert field in err.value.message_dict, kwargs
    d.refresh_from_db()
    assert d.status == DeliveryStatus.DELIVERED and d.accepted_on is None


def test_a_delivery_is_accepted_only_once(world):
    d = world.deliver_accepted()
    with pytest.raises(ValidationError):
        services.delivery_accept(delivery_id=d.pk, accepted_on=date(2024, 3, 3), quantity=1, actor=world.finance)


def test_delivery_of_a_product_by_another_supplier_than_the_selected_one_is_refused(world):
    with pytest.raises(ValidationError) as err:
        world.deliver(product=world.drug, supplier=world.s2)
    assert "supplier" in err.value.message_dict


def test_delivery_copies_the_selected_price_so_a_later_price_change_does_not_alter_it(world):
    d = world.deliver(quantity=10)
    services.product_save(code="P001", name="阿托伐他汀钙片", kind="drug", unit_price="9.99", supplier=world.s1,
                          actor=world.finance)
    d = services.delivery_accept(delivery_id=d.pk, accepted_on=date(2024, 3, 2), quantity=10, actor=world.finance)
    assert d.accepted_amount == Decimal("123.40") and d.status == DeliveryStatus.ACCEPTED


def test_only_finance_accepts_and_reconciles(world, staff):
    d = world.deliver()
    for who in ("clerk", "reviewer", "supervisor", "agent"):
        with pytest.raises(PermissionDenied):
            services.delivery_accept(delivery_id=d.pk, accepted_on=date(2024, 3, 2), quantity=1, actor=staff[who])
