"""Family use of a personal account (家庭共济, 004 第十三条): a close relative's resident
premium or self-pay at a designated institution, paid from an employee's account."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from yibao_site.actors import require_actor
from yibao_site.money import to_fen
from yibao_site.policy import PolicySnapshot, policy_snapshot, snapshot_version

from ..models import AccountEntry, Enrollment, EnrollmentVia, EntryKind, Person, Relation, Scheme
from ..selectors import allowed_relation
from .accounts import locked_account, post
from .common import CLERKS, error
from .enrolment import enrollment_create


@transaction.atomic
def account_pay_relative_premium(*, payer: Person, relative: Person, year: int, paid_on: date,
                                 actor=None) -> tuple[Enrollment, AccountEntry]:
    """Pay a close relative's resident premium from an employee's personal account (家庭共济).

    The relation must be one the payer's region allows (``account.relative_premium.relations``),
    the balance must cover the amount due; the enrolment and the debit are written together
    or not at all.
    """
    require_actor(actor, CLERKS)
    if payer.pk == relative.pk:
        raise error("relative", _("不能为本人代缴居民医保。"))
    account = locked_account(payer)
    payer = Person.objects.select_related("township").get(pk=payer.pk)
    relation = allowed_relation(payer, relative)
    snap = policy_snapshot(payer.township, paid_on)
    _family_use_in_force(snap, paid_on)
    allowed = snap.value("account.relative_premium.relations")
    if relation is None or relation not in allowed:
        names = "、".join(str(Relation(r).label) for r in allowed)
        raise error("relative", _("个人账户只能为以下近亲属代缴:%(names)s。") % {"names": names})
    enrollment = enrollment_create(person=relative, year=year, scheme=Scheme.RESIDENT, paid_on=paid_on,
                                   via=EnrollmentVia.ACCOUNT, actor=actor)
    entry = post(account, kind=EntryKind.RELATIVE_PREMIUM, amount=-enrollment.amount, on=paid_on, actor=actor,
                  relative=relative, enrollment=enrollment,
                  memo=_("代缴%(year)s年度居民医保") % {"year": year}, policy_version=enrollment.policy_version)
    return enrollment, entry


def _family_use_in_force(snap: PolicySnapshot, on: date) -> None:
    """Refuse a family use of the account dated before the rules allowing it (Shiyan: 004
    第二十九条, from 2022-12-31)."""
    raw = snap.value("account.in_force_from", None)
    if raw and on < date.fromisoformat(str(raw)):
        raise error("on", _("个人账户家庭共济自%(from)s起施行,此前不能为近亲属支付。") % {"from": raw})


@transaction.atomic
def account_pay_relative_expense(*, payer: Person, relative: Person, amount: Decimal, on: date, institution: str,
                                 actor=None) -> AccountEntry:
    """Pay an enrolled close relative's self-pay for care or medicines at a designated hospital
    or pharmacy (定点医药机构) from an employee's personal account (004 第十三条(二); 000 两个放宽).

    The relation must be one the payer's region allows (``account.relative_expense.relations``),
    the relative must be enrolled on ``on`` and the balance must cover the amount; the debit is
    written atomically and audited.
    """
    require_actor(actor, CLERKS)
    errors = {}
    if payer.pk == relative.pk:
        errors["relative"] = [_("本人费用请使用本人支付。")]
    if amount is None or amount <= 0:
        errors["amount"] = [_("支付金额应大于0。")]
    elif to_fen(amount) != amount:
        errors["amount"] = [_("金额最多保留两位小数。")]
    if not (institution or "").strip():
        errors["institution"] = [_("请填写定点医疗机构或定点零售药店。")]
    if errors:
        raise ValidationError(errors)
    account = locked_account(payer)
    payer = Person.objects.select_related("township").get(pk=payer.pk)
    snap = policy_snapshot(payer.township, on)
    _family_use_in_force(snap, on)
    allowed = snap.value("account.relative_expense.relations", None) or []
    relation = allowed_relation(payer, relative)
    if relation is None or relation not in allowed:
        names = "、".join(str(Relation(r).label) for r in allowed)
        raise error("relative", _("个人账户只能支付以下近亲属的医药费用:%(names)s。") % {"names": names or "—"})
    if not Enrollment.objects.filter(person=relative, year=on.year, active=True).exists():
        raise error("relative", _("该近亲属%(year)s年度未参保,不能用个人账户支付其医药费用。") % {"year": on.year})
    return post(account, kind=EntryKind.RELATIVE_EXPENSE, amount=-to_fen(amount), on=on, actor=actor,
                 relative=relative, memo=_("支付近亲属在%(place)s的个人负担医药费用") % {"place": institution.strip()[:80]},
                 policy_version=snapshot_version(snap))
