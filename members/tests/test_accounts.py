"""Personal accounts (004 第十一至十三条): in-service 2 % of the monthly base, retirees
2 800 × 2.5 % = 70.00 a month; relatives' premiums Shiyan: spouse, parents, children."""
from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from members import services
from members.models import AccountEntry, Enrollment, PersonalAccount

from .factories import register
from members.testing import clerk, finance


def employee(j, base="6000", status="in_service", year=2024, **kw):
    p = register(j, **kw)
    services.enrollment_create(actor=clerk(), person=p, year=year, scheme="employee", employee_status=status, paid_on=date(year, 1, 10),
                               contribution_base=Decimal(base) if status != "retired" else None)
    return p


def test_monthly_credit_in_service_and_retired_and_idempotent(shiyan):
    """In-service base 6 000 ⇒ 6 000 × 0.02 = 120.00; retired ⇒ 2 800 × 0.025 = 70.00."""
    worker = employee(shiyan)
    retiree = employee(shiyan, status="retired", birth=date(1955, 1, 1))
    report = services.account_credit_month(actor=finance(), month=date(2024, 3, 1))
    assert (report.credited, report.amount) == (2, Decimal("190.00"))
    assert PersonalAccount.objects.get(person=worker).balance == Decimal("120.00")
    assert PersonalAccount.objects.get(person=retiree).balance == Decimal("70.00")
    again = services.account_credit_month(actor=finance(), month=date(2024, 3, 15))
    assert (again.credited, again.already) == (0, 2)
    assert AccountEntry.objects.count() == 2
    services.account_credit_month(actor=finance(), month=date(2024, 4, 1))
    assert PersonalAccount.objects.get(person=worker).balance == Decimal("240.00")


def test_no_credit_before_the_benefit_period_or_for_residents(shiyan):
    p = register(shiyan)
    services.enrollment_create(actor=clerk(), person=p, year=2024, scheme="resident", paid_on=date(2023, 10, 1))
    late = register(shiyan)
    services.enrollment_create(actor=clerk(), person=late, year=2024, scheme="employee", employee_status="flexible",
                               paid_on=date(2024, 5, 20), contribution_base=Decimal("4000"))
    assert services.account_credit_month(actor=finance(), month=date(2024, 4, 1)).credited == 0
    assert services.account_credit_month(actor=finance(), month=date(2024, 5, 1)).amount == Decimal("80.00")  # 4 000 × 2 %


def test_paying_a_childs_premium_moves_both_sides(shiyan, staff):
    """Balance 3 × 120 = 360 is short of the 2024 premium 380 ⇒ refused, nothing written;
    after a 4th credit (480) ⇒ paid: balance 480 − 380 = 100, child enrolled via account."""
    parent = employee(shiyan, birth=date(1975, 1, 1))
    child = register(shiyan, birth=date(2005, 1, 1))
    services.relative_add(actor=clerk(), person=parent, relative=child, relation="child")
    for m in (1, 2, 3):
        services.account_credit_month(actor=finance(), month=date(2024, m, 1))
    with pytest.raises(ValidationError) as exc:
        services.account_pay_relative_premium(actor=clerk(), payer=parent, relative=child, year=2024, paid_on=date(2024, 3, 10))
    assert "余额不足" in exc.value.message_dict["amount"][0]
    assert not Enrollment.objects.filter(person=child).exists()
    services.account_credit_month(actor=finance(), month=date(2024, 4, 1))
    enrollment, entry = services.account_pay_relative_premium(payer=parent, relative=child, year=2024,
                                                              paid_on=date(2024, 4, 10), actor=staff["clerk"])
    assert (enrollment.via, enrollment.amount) == ("account", Decimal("380.00"))
    assert (entry.amount, entry.balance_after) == (Decimal("-380.00"), Decimal("100.00"))
    assert PersonalAccount.objects.get(person=parent).balance == Decimal("100.00")


def test_relation_recorded_from_the_other_side_counts(shiyan):
    parent = employee(shiyan, birth=date(1975, 1, 1))
    child = register(shiyan, birth=date(2005, 1, 1))
    services.relative_add(actor=clerk(), person=child, relative=parent, relation="parent")
    for m in range(1, 5):
        services.account_credit_month(actor=finance(), month=date(2024, m, 1))
    enrollment, _ = services.account_pay_relative_premium(actor=clerk(), payer=parent, relative=child, year=2024, paid_on=date(2024, 5, 1))
    assert enrollment.person == child


def test_sibling_refused_in_shiyan_and_non_relative_refused(shiyan):
    payer = employee(shiyan, birth=date(1975, 1, 1))
    sister = register(shiyan, birth=date(1978, 1, 1))
    stranger = register(shiyan, birth=date(1978, 1, 1))
    services.relative_add(actor=clerk(), person=payer, relative=sister, relation="sibling")
    for m in range(1, 5):
        services.account_credit_month(actor=finance(), month=date(2024, m, 1))
    for other in (sister, stranger):
        with pytest.raises(ValidationError) as exc:
            services.account_pay_relative_premium(actor=clerk(), payer=payer, relative=other, year=2024, paid_on=date(2024, 5, 1))
        assert "近亲属" in exc.value.message_dict["relative"][0]
    assert Enrollment.objects.filter(scheme="resident").count() == 0


def test_sibling_allowed_in_yicheng(yicheng):
    payer = employee(yicheng, birth=date(1975, 1, 1), base="10000")
    sister = register(yicheng, birth=date(1978, 1, 1))
    services.relative_add(actor=clerk(), person=payer, relative=sister, relation="sibling")
    for m in (1, 2):
        services.account_credit_month(actor=finance(), month=date(2024, m, 1))  # 2 × 200 = 400
    enrollment, entry = services.account_pay_relative_premium(actor=clerk(), payer=payer, relative=sister, year=2024,
                                                              paid_on=date(2024, 3, 1))
    assert entry.balance_after == Decimal("20.00")


def test_spending_never_makes_the_balance_negative(shiyan):
    p = employee(shiyan)
    services.account_credit_month(actor=finance(), month=date(2024, 1, 1))
    services.account_spend(actor=clerk(), person=p, amount=Decimal("100.50"), on=date(2024, 1, 20))
    with pytest.raises(ValidationError):
        services.account_spend(actor=clerk(), person=p, amount=Decimal("19.51"), on=date(2024, 1, 21))
    assert PersonalAccount.objects.get(person=p).balance == Decimal("19.50")


def test_offsite_registration_period_and_overlap(shiyan):
    p = register(shiyan)
    reg = services.offsite_register(actor=clerk(), person=p, kind="referral", destination="武汉市", hospital="同济医院",
                                    valid_from=date(2025, 1, 1), valid_to=date(2025, 6, 30))
    with pytest.raises(ValidationError):
        services.offsite_register(actor=clerk(), person=p, kind="referral", destination="武汉市", hospital="协和医院",
                                  valid_from=date(2025, 6, 1), valid_to=date(2025, 8, 30))
    with pytest.raises(ValidationError) as exc:
        services.offsite_register(actor=clerk(), person=p, kind="referral", destination="武汉市",
                                  valid_from=date(2025, 7, 1), valid_to=date(2025, 8, 30))
    assert "hospital" in exc.value.message_dict
    services.offsite_revoke(actor=clerk(), registration=reg, on=date(2025, 3, 1))
    reg.refresh_from_db()
    assert reg.valid_to == date(2025, 2, 28)
    from members.selectors import offsite_registration_on
    assert offsite_registration_on(p.pk, date(2025, 2, 28)) == reg
    assert offsite_registration_on(p.pk, date(2025, 3, 1)) is None
