"""Employees' personal accounts (职工医保个人账户): opening, the holder's own spending, the
monthly credit run (按月划入) and the pay-out on death or emigration."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from yibao_site.actors import require_actor
from yibao_site.audit import (
    audited_save, bulk_update_audited, history_from_rows, history_insert_sql, insert_rows_audited,
)
from yibao_site.dates import add_months
from yibao_site.lookups import array_literal
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


_PYTHON_ONLY = False  # tests: the PostgreSQL path compared with the Python one


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
    if connection.vendor == "postgresql" and not _PYTHON_ONLY:
        done = _credit_months_pg([first], actor)
        if done is not None:
            return done[0]
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


# What ``_credit_months_pg`` writes, column by column: a model with any other column goes the
# Python way (only it knows that column's value).
_PG_ACCOUNT_FIELDS = {"id", "person_id", "balance", "opened_on", "closed_on"}
_PG_ENTRY_FIELDS = {"id", "account_id", "kind", "amount", "balance_after", "on", "month", "relative_id",
                    "enrollment_id", "memo", "policy_version", "created_at"}

@transaction.atomic
def account_credit_months(*, months: list[date], actor=None) -> list[CreditRunReport]:
    """``account_credit_month`` for each of ``months`` in turn (a catch-up of several months,
    the demo's year so far): the same accounts, entries, balances and history rows, and one
    report a month.  On PostgreSQL the months are credited together (``_credit_months_pg``):
    the eligible enrolments read once, each account's balance written once; elsewhere — or
    when the months are not distinct and in order — one run a month."""
    require_actor(actor, CREDIT_RUNNERS, system=True)
    firsts = [m.replace(day=1) for m in months]
    if connection.vendor == "postgresql" and not _PYTHON_ONLY and firsts and firsts == sorted(set(firsts)):
        done = _credit_months_pg(firsts, actor)
        if done is not None:
            return done
    return [account_credit_month(month=m, actor=actor) for m in firsts]


# The months' eligible enrolments (the Python path's query, as SQL, for each month): parameters the
# months' first and last days (two arrays).
_PG_ELIGIBLE_MONTHS = """
SELECT m.first AS month, e.person_id, e.employee_status, e.contribution_base, p.township_id
FROM unnest(%s::date[], %s::date[]) AS m (first, last)
JOIN members_enrollment AS e ON e.year = extract(year FROM m.first)::int AND e.scheme = 'employee' AND e.active
     AND e.benefit_start <= m.last AND e.benefit_end >= m.first AND NOT e.pooling_only
JOIN members_person AS p ON p.id = e.person_id
"""


def _credit_months_pg(firsts: list[date], actor) -> list[CreditRunReport] | None:
    """``account_credit_month`` inside PostgreSQL, for each month of ``firsts`` (distinct, in
    order; one month for the monthly run) as if run one after the other — the same accounts
    opened, entries, balances and history rows as the Python path — in three statements for
    all of them (``rules.monthly_credit`` as SQL: ``round(…, 2)`` is half-up on these positive
    amounts, as ``to_fen``): the accounts a month's run
    would open (on the first month a person is eligible; ids in month, then person order),
    the accounts locked in id order, then the credits — each (account, month) as there, the
    month's terms of the account's township from the policy in force that month, the entries
    (ids in month, then person order) with ``balance_after`` the balance before the run plus
    the account's credits up to that month, their history, one ``~`` history row per credited
    month with that balance (in month order) and each account's balance written once.  One
    timestamp for all the months' rows.  ``None`` when a model has a column this does not fill."""
    if {f.attname for f in PersonalAccount._meta.concrete_fields} != _PG_ACCOUNT_FIELDS or \
            {f.attname for f in AccountEntry._meta.concrete_fields} != _PG_ENTRY_FIELDS or \
            (Enrollment._meta.db_table, Person._meta.db_table) != ("members_enrollment", "members_person"):
        return None
    account_table, entry_table = PersonalAccount._meta.db_table, AccountEntry._meta.db_table
    lasts = [add_months(f, 1) - timedelta(days=1) for f in firsts]
    reports = {f: CreditRunReport(month=f) for f in firsts}
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL work_mem = '256MB'")  # (the months' sorts and window kept in memory)
        cursor.execute("DROP TABLE IF EXISTS credit_eligible_months")
        cursor.execute(f"CREATE TEMP TABLE credit_eligible_months ON COMMIT DROP AS {_PG_ELIGIBLE_MONTHS}",
                       [firsts, lasts])
        cursor.execute("ANALYZE credit_eligible_months")
        cursor.execute("SELECT DISTINCT township_id, month FROM credit_eligible_months ORDER BY month, township_id")
        pairs = cursor.fetchall()
        if not pairs:
            return list(reports.values())
        townships = Region.objects.in_bulk({t for t, _m in pairs})
        cache = PolicyCache()
        terms = []
        for township_id, month in pairs:  # (each month's terms from the policy in force that month)
            snap = cache.get(townships[township_id], month)
            terms.append((township_id, month, snap.decimal(f"account.credit_rate.{EmployeeStatus.IN_SERVICE}"),
                          snap.decimal(f"account.credit_rate.{EmployeeStatus.FLEXIBLE}"),
                          snap.decimal("account.retiree.pension_base"), snap.decimal("account.retiree.rate"),
                          snapshot_version(snap)))
        history, history_params = history_insert_sql(PersonalAccount, "ins", actor=actor, reason=_("开设个人账户"),
                                                     now=now, connection=connection)
        cursor.execute(
            f"WITH f AS (SELECT person_id, min(month) AS month FROM credit_eligible_months GROUP BY person_id), "
            f"ins AS (INSERT INTO {account_table} (person_id, opened_on, balance, closed_on) "
            f"SELECT f.person_id, f.month, 0, NULL FROM f "
            f"WHERE NOT EXISTS (SELECT 1 FROM {account_table} AS a WHERE a.person_id = f.person_id) "
            f"ORDER BY f.month, f.person_id RETURNING *), hist AS ({history}) "
            f"SELECT opened_on, count(*) FROM ins GROUP BY opened_on", history_params)
        for month, opened in cursor.fetchall():
            reports[month].accounts_opened = opened
        cursor.execute(f"SELECT a.id FROM {account_table} AS a WHERE a.closed_on IS NULL AND a.person_id IN "
                       f"(SELECT person_id FROM credit_eligible_months) ORDER BY a.id FOR UPDATE OF a")
        reason = _("个人账户按月划入")
        entry_history, entry_params = history_insert_sql(AccountEntry, "ins", actor=actor, reason=reason, now=now,
                                                         connection=connection)
        account_history, account_params = history_insert_sql(PersonalAccount, "snap", actor=actor, reason=reason,
                                                              now=now, history_type="~", connection=connection)
        columns = list(zip(*terms))
        memos = [_("%(month)s 个人账户划入") % {"month": f.strftime("%Y-%m")} for f in firsts]
        cursor.execute(
            f"""WITH t (township_id, month, rate_in, rate_flex, pension_base, retiree_rate, version) AS (
                    SELECT * FROM unnest(%s::bigint[], %s::date[], %s::numeric[], %s::numeric[], %s::numeric[],
                                         %s::numeric[], %s::text[])),
                m (month, memo) AS (SELECT * FROM unnest(%s::date[], %s::text[])),
                c AS MATERIALIZED (
                    SELECT e.month, e.person_id, a.id AS account_id, a.balance, t.version,
                           EXISTS (SELECT 1 FROM {entry_table} AS x WHERE x.account_id = a.id AND x.kind = %s
                                   AND x.month = e.month) AS done,
                           CASE WHEN e.employee_status = 'retired' THEN round(t.pension_base * t.retiree_rate, 2)
                                WHEN e.contribution_base IS NULL THEN 0
                                WHEN e.employee_status = %s THEN round(e.contribution_base * t.rate_in, 2)
                                WHEN e.employee_status = %s THEN round(e.contribution_base * t.rate_flex, 2)
                                ELSE 0 END AS amount
                    FROM credit_eligible_months AS e
                    JOIN {account_table} AS a ON a.person_id = e.person_id AND a.closed_on IS NULL
                    JOIN t ON t.township_id = e.township_id AND t.month = e.month),
                k AS MATERIALIZED (
                    SELECT c.*, NOT c.done AND c.amount > 0 AS credit,
                           c.balance + sum(CASE WHEN NOT c.done AND c.amount > 0 THEN c.amount ELSE 0 END)
                               OVER (PARTITION BY c.account_id ORDER BY c.month) AS balance_after
                    FROM c),
                ins AS (
                    INSERT INTO {entry_table} (account_id, kind, amount, balance_after, "on", month, memo,
                                               policy_version, relative_id, enrollment_id, created_at)
                    SELECT k.account_id, %s, k.amount, k.balance_after, k.month, k.month, m.memo, k.version, NULL,
                           NULL, %s
                    FROM k JOIN m ON m.month = k.month WHERE k.credit ORDER BY k.month, k.person_id RETURNING *),
                hist AS ({entry_history}),
                snap AS MATERIALIZED (
                    SELECT a.id, a.person_id, k.balance_after AS balance, a.opened_on, a.closed_on
                    FROM k JOIN {account_table} AS a ON a.id = k.account_id WHERE k.credit
                    ORDER BY k.month, a.id),
                hist2 AS ({account_history}),
                upd AS (
                    UPDATE {account_table} AS a SET balance = a.balance + s.total
                    FROM (SELECT account_id, sum(amount) AS total FROM k WHERE credit GROUP BY account_id) AS s
                    WHERE a.id = s.account_id)
            SELECT month, count(*) FILTER (WHERE done), count(*) FILTER (WHERE credit),
                   coalesce(sum(amount) FILTER (WHERE credit), 0)
            FROM k GROUP BY month""",
            [array_literal(list(columns[0])), list(columns[1]),
             *[array_literal([str(v) for v in col]) for col in columns[2:6]],
             array_literal(list(columns[6])), firsts, array_literal(memos), EntryKind.CREDIT,
             EmployeeStatus.IN_SERVICE, EmployeeStatus.FLEXIBLE, EntryKind.CREDIT, now,
             *entry_params, *account_params])
        for month, already, credited, amount in cursor.fetchall():
            report = reports[month]
            report.already, report.credited, report.amount = already, credited, amount
    return list(reports.values())


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
