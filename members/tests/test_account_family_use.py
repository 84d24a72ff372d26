"""Issue 12 item 4: personal accounts pay close relatives' self-pay at designated hospitals and
pharmacies (relations per pack), pay nothing to 单建统筹 workers, pay out on death or emigration."""
from datetime import date
from decimal import Decimal as D

import pytest
from django.core.exceptions import ValidationError

from members import services
from members.models import AccountEntry, Enrollment, PersonalAccount

from .factories import register
from members.testing import clerk, finance


def employee(j, *, status="in_service", base="6000", year=2024, **kw):
    p = register(j, **kw)
    services.enrollment_create(actor=clerk(), person=p, year=year, scheme="employee", employee_status=status,
                               paid_on=date(year, 1, 10), contribution_base=D(base))
    services.account_credit_month(actor=finance(), month=date(year, 2, 1))  # 6 000 × 2 % = 120.00
    return p


def resident(j, year=2024, **kw):
    p = register(j, **kw)
    services.enrollment_create(actor=clerk(), person=p, year=year, scheme="resident", paid_on=date(year - 1, 10, 1))
    return p


def test_pays_a_parents_pharmacy_self_pay_atomically(shiyan):
    """Shiyan (004 第十三条(二)): a parent's 85.50 at a designated pharmacy ⇒ balance 120 − 85.50
    = 34.50; a second 40.00 exceeds it and writes nothing."""
    payer, mother = employee(shiyan), resident(shiyan, birth=date(1950, 1, 1))
    services.relative_add(actor=clerk(), person=payer, relative=mother, relation="parent")
    entry = services.account_pay_relative_expense(actor=clerk(), payer=payer, relative=mother, amount=D("85.50"),
                                                  on=date(2024, 3, 1), institution="十堰市人民医院")
    assert entry.kind == "relative_expense" and entry.amount == D("-85.50") and entry.relative == mother
    assert PersonalAccount.objects.get(person=payer).balance == D("34.50")
    with pytest.raises(ValidationError, match="余额不足"):
        services.account_pay_relative_expense(actor=clerk(), payer=payer, relative=mother, amount=D("40.00"),
                                              on=date(2024, 3, 2), institution="定点药店")
    assert AccountEntry.objects.filter(kind="relative_expense").count() == 1
    assert PersonalAccount.history.filter(person=payer).count() >= 2


def test_relations_follow_the_pack(shiyan, yicheng):
    """A sibling: refused in Shiyan (spouse, parents, children), allowed in Yicheng (000 两个放宽)."""
    payer, brother = employee(shiyan), resident(shiyan)
    services.relative_add(actor=clerk(), person=payer, relative=brother, relation="sibling")
    with pytest.raises(ValidationError, match="配偶"):
        services.account_pay_relative_expense(actor=clerk(), payer=payer, relative=brother, amount=D("10"), on=date(2024, 3, 1),
                                              institution="医院")
    payer2, brother2 = employee(yicheng), resident(yicheng)
    services.relative_add(actor=clerk(), person=payer2, relative=brother2, relation="sibling")
    services.account_pay_relative_expense(actor=clerk(), payer=payer2, relative=brother2, amount=D("10"), on=date(2024, 3, 1),
                                          institution="峄城区人民医院")
    assert PersonalAccount.objects.get(person=payer2).balance == D("110.00")


def test_relative_must_be_enrolled_and_rules_dated(shiyan):
    """An unenrolled child is refused; Shiyan's family use starts 2022-12-31 (004 第二十九条)."""
    payer, child = employee(shiyan), register(shiyan, birth=date(2005, 1, 1))
    services.relative_add(actor=clerk(), person=payer, relative=child, relation="child")
    with pytest.raises(ValidationError, match="未参保"):
        services.account_pay_relative_expense(actor=clerk(), payer=payer, relative=child, amount=D("10"), on=date(2024, 3, 1),
                                              institution="医院")
    old = employee(shiyan, year=2022)
    spouse = resident(shiyan, year=2022)
    services.relative_add(actor=clerk(), person=old, relative=spouse, relation="spouse")
    with pytest.raises(ValidationError, match="2022-12-31"):
        services.account_pay_relative_expense(actor=clerk(), payer=old, relative=spouse, amount=D("10"), on=date(2022, 6, 1),
                                              institution="医院")


def test_pooling_only_flexible_worker_gets_no_account(shiyan):
    """单建统筹 (004 第十一条(二)): no account is opened and the monthly run credits nothing."""
    p = register(shiyan)
    e = services.enrollment_create(actor=clerk(), person=p, year=2024, scheme="employee", employee_status="flexible",
                                   paid_on=date(2024, 1, 10), contribution_base=D("4000"), pooling_only=True)
    assert e.pooling_only and not PersonalAccount.objects.filter(person=p).exists()
    assert services.account_credit_month(actor=finance(), month=date(2024, 2, 1)).credited == 0
    q = register(shiyan)
    with pytest.raises(ValidationError):
        services.enrollment_create(actor=clerk(), person=q, year=2024, scheme="employee", employee_status="in_service",
                                   paid_on=date(2024, 1, 10), contribution_base=D("4000"), pooling_only=True)
    assert not Enrollment.objects.filter(person=q).exists()


@pytest.mark.parametrize("reason", ["death", "emigration"])
def test_balance_is_paid_out_and_the_account_closed(shiyan, reason):
    """004 第十五条: the whole 120.00 is paid in one audited entry; the account is closed."""
    p = employee(shiyan)
    entry = services.account_close_payout(actor=clerk(), person=p, on=date(2024, 5, 1), reason=reason)
    account = PersonalAccount.objects.get(person=p)
    assert entry.kind == "payout" and entry.amount == D("-120.00") and entry.balance_after == 0
    assert account.balance == 0 and account.closed_on == date(2024, 5, 1)
    with pytest.raises(ValidationError):
        services.account_spend(actor=clerk(), person=p, amount=D("1"), on=date(2024, 5, 2))
    with pytest.raises(ValidationError):
        services.account_close_payout(actor=clerk(), person=p, on=date(2024, 5, 2), reason="other")
