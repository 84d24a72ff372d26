"""Employees' personal accounts (职工医保个人账户): opening, the holder's own spending, the
monthly credit run (按月划入) and the pay-out on death or emigration."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.utils.translation import gettext as _

from yibao_site.actors import require_actor
from yibao_site.audit import (
    audited_save, bulk_create_audited, bulk_update_audited, history_from_rows, insert_rows_audited,
)
from yibao_site.dates import add_months
from yibao_site.models import Region
from yibao_site.money import ZERO, to_fen
from yibao_site.policy import PolicyCache, snapshot_version

from .. import rules
from ..models import AccountEntry, EmployeeStatus, Enrollment, EntryKind, PersonalAccount, Person, Scheme
from .common import CLERKS, CREDIT_RUNNERS, error


def account_ensure(person: Person, on: date, actor) -> PersonalAccount:
    """The person's account, opened on ``on`` if there is none (an employee enrolment opens it)."""
    account = PersonalAccount.objects.filter(person=person).first()
    if account is None:
        account = PersonalAccount(person=person, opened_on=on)
        audited_save(account, actor=actor, reason=_("开设个人账户"))
    return account


def post(account: PersonalAccount, *, kind: str, amount: Decimal, on: date, actor, memo: str = "",
          relative: Person | None = None, enrollment: Enrollment | None = None, month: date | None = None,
          policy_version: str = "") -> AccountEntry:
    """Move money on a locked account; refuse anything that would make the balance negative."""
    new_balance = account.balance + amount
    if new_balance < 0:
        raise error("amount", _("个人账户余额不足:余额 %(balance)s 元,需支付 %(amount)s 元。")
                     % {"balance": account.balance, "amount": -amount})
    account.balance = new_balance
    audited_save(account, actor=actor, reason=memo or kind, update_fields=["balance"])
    entry = AccountEntry(account=account, kind=kind, amount=amount, balance_after=new_balance, on=on, memo=memo,
                         relative=relative, enrollment=enrollment, month=month, policy_version=policy_version)
    audited_save(entry, actor=actor, reason=memo or kind)
    return entry


def locked_account(person: Person) -> PersonalAccount:
    account = PersonalAccount.objects.select_for_update().filter(person=person).first()
    if account is None or account.closed_on is not None:
        raise error("person", _("该人员没有可用的职工医保个人账户。"))
    return account


@transaction.atomic
def account_spend(*, person: Person, amount: Decimal, on: date, memo: str = "", actor=None) -> AccountEntry:
    """Pay the holder's own policy-scope self-pay from the personal account."""
    require_actor(actor, CLERKS)
    if amount is None or amount <= 0:
        raise error("amount", _("支付金额应大于0。"))
    account = locked_account(person)
    return post(account, kind=EntryKind.SPEND, amount=-to_fen(amount), on=on, actor=actor,
                 memo=memo or _("本人医疗费用自付"))


@transaction.atomic
def account_close_payout(*, person: Person, on: date, reason: str, actor=None) -> AccountEntry:
    """Pay out and close a personal account on death (to the heirs or named beneficiary) or on
    settling abroad (to the holder) — 004 第十五条.  ``reason`` is ``death`` or ``emigration``.
    The whole balance is debited in one audited entry and the account closed; nothing is left."""
    require_actor(actor, CLERKS)
    labels = {"death": _("参保职工死亡,个人账户一次性支付给法定继承人或指定受益人"),
              "emigration": _("出国、出境定居,个人账户余额支付给本人")}
    if reason not in labels:
        raise error("reason", _("支付原因应为 death(死亡)或 emigration(出国、出境定居)。"))
    account = locked_account(person)
    balance = account.balance
    entry = post(account, kind=EntryKind.PAYOUT, amount=-balance, on=on, actor=actor, memo=str(labels[reason]))
    account.closed_on = on
    audited_save(account, actor=actor, reason=labels[reason], update_fields=["closed_on"])
    return entry


@dataclass
class CreditRunReport:
    month: date
    credited: int = 0
    amount: Decimal = ZERO
    already: int = 0
    accounts_opened: int = 0


@transaction.atomic
def account_credit_month(*, month: date, actor=None) -> CreditRunReport:
    """Credit every employee's personal account for ``month`` (按月划入); idempotent.

    Eligible: the active employee enrolment of the month's year whose benefit period covers
    the month.  In-service and flexible: rate × monthly base; retirees: pension base × rate.
    Set-based: one query for the enrolments, one for existing accounts and credits; accounts
    are locked in id order; entries and balances are written in bulk.
    """
    require_actor(actor, CREDIT_RUNNERS, system=True)
    first = month.replace(day=1)
    last = add_months(first, 1) - timedelta(days=1)
    report = CreditRunReport(month=first)
    # Plain values, no instance per row; keys as one array parameter (``__any``).
    enrollments = list(Enrollment.objects.filter(
        scheme=Scheme.EMPLOYEE, year=first.year, active=True, benefit_start__lte=last, benefit_end__gte=first,
        pooling_only=False,  # 单建统筹: no personal account (004 第十一条(二))
    ).order_by("person_id").values_list("person_id", "employee_status", "contribution_base", "person__township_id"))
    if not enrollments:
        return report
    person_ids = [e[0] for e in enrollments]
    existing = set(PersonalAccount.objects.filter(person_id__any=person_ids).values_list("person_id", flat=True))
    missing = [(pid, first) for pid in person_ids if pid not in existing]
    if missing:
        insert_rows_audited(PersonalAccount, ("person_id", "opened_on", "balance", "closed_on"),
                            [(pid, on, ZERO, None) for pid, on in missing], actor=actor, reason=_("开设个人账户"))
        report.accounts_opened = len(missing)
    accounts = {pid: (pk, balance) for pk, pid, balance in PersonalAccount.objects.select_for_update()
                .filter(person_id__any=person_ids, closed_on__isnull=True).order_by("pk")
                .values_list("pk", "person_id", "balance")}
    done = set(AccountEntry.objects.filter(account_id__any=[a[0] for a in accounts.values()], kind=EntryKind.CREDIT,
                                           month=first).values_list("account_id", flat=True))
    townships = Region.objects.in_bulk({e[3] for e in enrollments})
    cache = PolicyCache()
    terms: dict[int, tuple] = {}  # per township: the month's rates and policy version, worked out once
    memo = _("%(month)s 个人账户划入") % {"month": first.strftime("%Y-%m")}
    entries, balances = [], {}
    for person_id, status, base, township_id in enrollments:
        account = accounts.get(person_id)
        if account is None:
            continue
        account_id, balance = account
        if account_id in done:
            report.already += 1
            continue
        term = terms.get(township_id)
        if term is None:
            snap = cache.get(townships[township_id], first)
            term = terms[township_id] = (
                {s: snap.decimal(f"account.credit_rate.{s}") for s in (EmployeeStatus.IN_SERVICE, EmployeeStatus.FLEXIBLE)},
                snap.decimal("account.retiree.pension_base"), snap.decimal("account.retiree.rate"),
                snapshot_version(snap))
        rates, pension_base, retiree_rate, version = term
        amount = rules.monthly_credit(status=status, contribution_base=base, rates=rates,
                                      retiree_pension_base=pension_base, retiree_rate=retiree_rate)
        if amount <= 0:
            continue
        balance += amount
        accounts[person_id] = (account_id, balance)
        balances[account_id] = balance
        entries.append((account_id, EntryKind.CREDIT, amount, balance, first, first, memo, version, None, None))
        report.credited += 1
        report.amount += amount
    insert_rows_audited(AccountEntry, ("account_id", "kind", "amount", "balance_after", "on", "month", "memo",
                                       "policy_version", "relative_id", "enrollment_id"), entries, actor=actor, reason=_("个人账户按月划入"))
    _set_balances(balances, actor=actor, reason=_("个人账户按月划入"))
    return report


def _set_balances(balances: dict[int, Decimal], *, actor, reason: str) -> None:
    """Write the accounts' new balances (account id → balance), each with its ``~`` history row:
    on PostgreSQL one ``UPDATE … FROM unnest`` and one ``INSERT … SELECT`` of the history;
    elsewhere ``bulk_update_audited`` of the (locked) instances."""
    if not balances:
        return
    ids = list(balances)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {PersonalAccount._meta.db_table} AS a SET balance = v.balance "
                "FROM unnest(%s::bigint[], %s::numeric[]) AS v(id, balance) WHERE a.id = v.id",
                [ids, [balances[i] for i in ids]])
        history_from_rows(PersonalAccount, ids, actor=actor, reason=reason)
        return
    accounts = list(PersonalAccount.objects.filter(pk__any=ids).order_by("pk"))
    for account in accounts:
        account.balance = balances[account.pk]
    bulk_update_audited(accounts, PersonalAccount, ["balance"], actor=actor, reason=reason)
