"""Enrolment and payment (年度参保缴费): validation in memory for one row or a batch, the
enrolment itself, a student's lump sum (趸缴), and the critical-illness caps kept in step with
the fund's payments (零报销激励)."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import NamedTuple

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils.translation import gettext as _

from yibao_site.actors import require_actor
from yibao_site.audit import audited_save, bulk_create_audited, bulk_update_audited, history_from_rows, update_with_history
from yibao_site.lookups import array_literal
from yibao_site.money import ZERO, to_fen
from yibao_site.policy import PolicyCache, PolicySnapshot

from .. import rules
from ..models import EmployeeStatus, Enrollment, EnrollmentVia, Person, Scheme, StudentLumpSum
from ..policy import EnrolmentPolicy, cap_params, enrolment_policy, enrolment_snapshot, resident_premium
from ..selectors import add_prior_year, confirmed_subsidies, enrollment_histories
from .accounts import account_ensure
from .common import CLAIMS_FOLLOWERS, CLERKS, SUPERVISORS, error

# Choice sets built once (``Choices.values`` builds a new list on every call; imports check
# every row against them).
SCHEMES = frozenset(Scheme.values)
EMPLOYEE_STATUSES = frozenset(EmployeeStatus.values)
_VIAS = frozenset(EnrollmentVia.values)


_RULE_MESSAGES = {
    "after_year": lambda: _("缴费日期晚于参保年度结束。"),
    "before_birth": lambda: _("缴费日期早于出生日期。"),
    "too_early": lambda: _("缴费日期过早:职工医保应在参保年度或上一年度内缴费。"),
    "before_collection": lambda: _("缴费日期早于该年度集中缴费期开始。"),
    "waiting_beyond_year": lambda: _("缴费过晚:等待期结束时参保年度已结束。"),
}


@dataclass
class EnrollmentDraft:
    """An enrolment validated in memory plus what saving it implies."""

    enrollment: Enrollment
    policy_version: str


def enrollment_build(*, person: Person, **kwargs) -> EnrollmentDraft:
    """Validate one enrolment in memory (``enrollment_fields``) and return it unsaved."""
    enrollment = Enrollment(**enrollment_fields(person=person, **kwargs))
    return EnrollmentDraft(enrollment, enrollment.policy_version)


def enrollment_fields(*, person, year: int, scheme: str, paid_on: date, employee_status: str = "",
                      amount: Decimal | None = None, contribution_base: Decimal | None = None,
                      via: str = EnrollmentVia.WINDOW, history: Mapping[int, rules.PriorYear],
                      snap: PolicySnapshot | None = None, subsidy: Decimal = ZERO, prepaid: bool = False,
                      lump_sum: StudentLumpSum | None = None, policy: EnrolmentPolicy | None = None) -> dict:
    """Validate one enrolment and compute its derived fields in memory (no queries); return the
    ``Enrollment`` field values (``person`` is what was passed: a batch may pass a light record
    with ``pk`` and ``birth_date``).

    ``history`` maps each earlier year the person was enrolled in (any scheme) to what the
    cap incentives need; ``subsidy`` is the state's share for a subsidised resident.  The
    policy is ``snap`` (read here) or ``policy``, ``enrolment_policy`` worked out once by a
    batch for every row of the same township, year, scheme and status.
    """
    errors: dict[str, list[str]] = {}
    if scheme not in SCHEMES:
        errors["scheme"] = [_("险种应为 employee 或 resident。")]
    if not isinstance(year, int) or not 1990 <= year <= 2100:
        errors["year"] = [_("参保年度无效。")]
    if via not in _VIAS:
        errors["via"] = [_("参保渠道无效。")]
    if scheme == Scheme.EMPLOYEE and employee_status not in EMPLOYEE_STATUSES:
        errors["employee_status"] = [_("职工医保须填写人员状态:in_service、retired 或 flexible。")]
    if scheme == Scheme.RESIDENT and employee_status:
        errors["employee_status"] = [_("居民医保不填写人员状态。")]
    if contribution_base is not None and contribution_base <= 0:
        errors["contribution_base"] = [_("缴费基数应大于0。")]
    if scheme == Scheme.RESIDENT and contribution_base is not None:
        errors["contribution_base"] = [_("居民医保没有缴费基数。")]
    if scheme == Scheme.EMPLOYEE and employee_status in (EmployeeStatus.IN_SERVICE, EmployeeStatus.FLEXIBLE) \
            and contribution_base is None:
        errors["contribution_base"] = [_("在职和灵活就业人员须填写月缴费基数(个人账户按其划入)。")]
    if amount is not None and amount < 0:
        errors["amount"] = [_("缴费金额不能为负数。")]
    if errors:
        raise ValidationError(errors)

    if policy is None:
        policy = enrolment_policy(snap, scheme, employee_status)
    try:
        terms = rules.enrolment_terms(
            year=year, scheme=scheme, paid_on=paid_on, birth_date=person.birth_date, prior_years=history.keys(),
            collection=rules.CollectionPeriod.for_year(year, policy.collection_start, policy.collection_end),
            waiting_months=policy.waiting_months, newborn_rule=policy.newborn_rule, prepaid=prepaid,
        )
    except rules.EnrolmentRuleError as exc:
        raise error(exc.field, _RULE_MESSAGES[exc.code]()) from None

    cap = None
    if scheme == Scheme.RESIDENT:
        premium = policy.premium
        due = max(ZERO, premium - subsidy)
        if lump_sum is not None:
            due = lump_sum.yearly_amount
        if amount is None:
            amount = due
        elif to_fen(amount) != due:
            raise error("amount", _("应缴 %(due)s 元(个人缴费标准 %(premium)s 元,资助 %(subsidy)s 元)。")
                         % {"due": due, "premium": premium, "subsidy": subsidy})
        normal = not terms.waiting_period and not terms.newborn
        params = policy.cap
        zero_years = rules.zero_claim_years(year, terms.continuous_years, history, normal, params.incentives_from)
        cap = rules.critical_illness_cap(params, continuous_years=terms.continuous_years,
                                         zero_claim_count=zero_years, break_years=terms.break_years, year=year)
    else:
        due = rules.employee_contribution(policy.employee_rate, contribution_base)
        if amount is None:
            amount = due
    return dict(
        person=person, year=year, scheme=scheme, employee_status=employee_status if scheme == Scheme.EMPLOYEE else "",
        paid_on=paid_on, amount=to_fen(amount), benefit_start=terms.benefit_start, benefit_end=terms.benefit_end,
        waiting_period=terms.waiting_period, continuous_years=terms.continuous_years, critical_illness_cap=cap,
        active=True, via=via, contribution_base=to_fen(contribution_base) if contribution_base is not None else None,
        subsidy_amount=subsidy if scheme == Scheme.RESIDENT else ZERO, newborn=terms.newborn,
        break_years=terms.break_years, lump_sum=lump_sum, policy_version=policy.version,
    )


def _switch_scheme(old: Enrollment, new: Enrollment, actor) -> None:
    """One active scheme at a time: moving schemes ends the other one's benefits the day before."""
    old.active = False
    fields = ["active"]
    if new.benefit_start > old.benefit_start and old.benefit_end >= new.benefit_start:
        old.benefit_end = new.benefit_start - timedelta(days=1)
        fields.append("benefit_end")
    audited_save(old, actor=actor, reason=_("转换险种"), update_fields=fields)


@transaction.atomic
def enrollment_create(*, person: Person, year: int, scheme: str, paid_on: date, employee_status: str = "",
                      amount: Decimal | None = None, contribution_base: Decimal | None = None,
                      via: str = "window", actor=None, pooling_only: bool = False) -> Enrollment:
    """Enrol a person in a scheme for a coverage year, taking the payment (年度参保缴费).

    Computes the benefit period, waiting period, continuity and (residents) the
    critical-illness cap from the policy in force on 1 Jan of ``year``; ``amount`` defaults to
    what is due (resident: the standard less any confirmed state subsidy; employee: base ×
    rate × 12).  An active enrolment of the other scheme in the same year is ended.
    """
    require_actor(actor, CLERKS)
    person = Person.objects.select_for_update().select_related("township").get(pk=person.pk)
    enrollment_years_before_lock({(person.pk, year - 1)})  # before the history is read: see there
    if Enrollment.objects.filter(person=person, year=year, scheme=scheme).exists():
        raise error("year", _("该人员本年度已参加此险种。"))
    draft = enrollment_build(
        person=person, year=year, scheme=scheme, paid_on=paid_on, employee_status=employee_status or "",
        amount=amount, contribution_base=contribution_base, via=via,
        history=enrollment_histories([person.pk], before_year=year).get(person.pk, {}),
        snap=enrolment_snapshot(person, year),
        subsidy=confirmed_subsidies([person.pk], year).get(person.pk, ZERO) if scheme == Scheme.RESIDENT else ZERO,
    )
    new = draft.enrollment
    if pooling_only:
        if scheme != Scheme.EMPLOYEE or employee_status != EmployeeStatus.FLEXIBLE:
            raise error("pooling_only", _("只有灵活就业人员可按单建统筹方式参保。"))
        new.pooling_only = True
    other = Enrollment.objects.select_for_update().filter(person=person, year=year, active=True).first()
    if other is not None:
        _switch_scheme(other, new, actor)
    audited_save(new, actor=actor, reason=_("年度参保缴费"))
    if scheme == Scheme.EMPLOYEE and not new.pooling_only:  # 单建统筹: no personal account
        account_ensure(person, paid_on, actor)
    return new


@transaction.atomic
def student_lump_sum_create(*, person: Person, school: str, first_year: int, years: int, paid_on: date,
                            actor=None) -> StudentLumpSum:
    """A university or technical student pays the whole programme at once (趸缴) through the school.

    Every year is charged at the first year's standard; with ``members.student.lump_sum_no_topup``
    in force no top-up is due when the standard later rises.  One enrolment per year is
    created (via ``school``); later years are prepaid, so benefits run 1 Jan – 31 Dec.
    """
    require_actor(actor, CLERKS)
    person = Person.objects.select_for_update().select_related("township").get(pk=person.pk)
    errors = {}
    if not (school or "").strip():
        errors["school"] = [_("请填写学校。")]
    if not isinstance(years, int) or not 1 <= years <= 8:
        errors["years"] = [_("学制年数应在1至8年之间。")]
    if errors:
        raise ValidationError(errors)
    cache = PolicyCache()
    first_snap = cache.get(person.township, date(first_year, 1, 1))
    if not first_snap.value("members.student.lump_sum_no_topup"):
        raise error("years", _("本地政策不允许学生趸缴。"))
    wanted = list(range(first_year, first_year + years))
    taken = set(Enrollment.objects.filter(person=person, year__in=wanted).values_list("year", flat=True))
    if taken:
        raise error("first_year", _("以下年度已参保:%(years)s") % {"years": ", ".join(map(str, sorted(taken)))})
    enrollment_years_before_lock({(person.pk, first_year - 1)})
    yearly = resident_premium(first_snap)
    lump = StudentLumpSum(person=person, school=school.strip(), first_year=first_year, years=years,
                          paid_on=paid_on, yearly_amount=yearly, total_amount=to_fen(yearly * years))
    audited_save(lump, actor=actor, reason=_("学生趸缴"))
    history = dict(enrollment_histories([person.pk], before_year=first_year).get(person.pk, {}))
    drafts = []
    for i, year in enumerate(wanted):
        draft = enrollment_build(person=person, year=year, scheme=Scheme.RESIDENT, paid_on=paid_on,
                                 via=EnrollmentVia.SCHOOL, history=history, snap=cache.get(person.township, date(year, 1, 1)),
                                 prepaid=i > 0, lump_sum=lump)
        drafts.append(draft.enrollment)
        history[year] = rules.PriorYear(year, draft.enrollment.waiting_period, False)
    bulk_create_audited(drafts, Enrollment, actor=actor, reason=_("学生趸缴"))
    return lump


def enrollment_years_before_lock(keys: Iterable[tuple[int, int]]) -> dict[tuple[int, int], rules.PriorYear]:
    """Lock the enrolments of each (person, year) — the year before one being enrolled —
    ``FOR NO KEY UPDATE`` in id order, in one statement, and return each year as the
    histories read it (``PriorYear``, schemes merged).  Call it inside the enrolment's
    transaction before the cap is worked out (DOMAIN.md §3, 零报销激励).

    Why: the next year's critical-illness cap depends on whether the fund paid anything this
    year; a settlement records that on this year's enrolment (``enrollment_record_fund_payments``,
    an ``UPDATE`` of that row, under its row lock) and then refreshes the next year's caps.  An
    enrolment that read the old flag while the settlement's refresh could not yet see the new
    enrolment kept the old cap.  Holding this year's row, the enrolment and the mark serialise:
    a mark already made is read here (the lock waits for its commit), and a mark made later
    waits for the enrolment to commit, so the settlement's refresh sees the new row.  The lock
    is the row the mark already takes: nothing more for the settlement's bulk path."""
    keys = set(keys)
    if not keys:
        return {}
    rows = (Enrollment.objects.select_for_update(no_key=True)
            .filter(person_id__any={p for p, _y in keys}, year__in={y for _p, y in keys}).order_by("pk")
            .values_list("person_id", "year", "waiting_period", "had_fund_payment"))
    out: dict[int, dict[int, rules.PriorYear]] = {}
    for pid, year, waiting, paid in rows:
        if (pid, year) in keys:
            add_prior_year(out.setdefault(pid, {}), year, waiting, paid)
    return {(pid, year): record for pid, years in out.items() for year, record in years.items()}


def enrollment_record_fund_payments(*, person_ids: Iterable[int], year: int, paid: bool = True, actor=None) -> int:
    """Record that the fund paid (or, after a reversal, no longer paid) anything for these
    persons in ``year`` (零报销激励); claims call this.  Returns the number of rows changed."""
    require_actor(actor, CLAIMS_FOLLOWERS, system=True)
    return _record_fund_payments(person_ids, year, paid, actor)


# Atomic without a savepoint: a settlement calls it inside its own transaction, which a
# database error here rolls back whole anyway (two SAVEPOINT round trips saved a claim); the
# actor is checked before, so a refused caller's transaction stays usable.
@transaction.atomic(savepoint=False)
def _record_fund_payments(person_ids: Iterable[int], year: int, paid: bool, actor) -> int:
    person_ids = sorted(set(person_ids))
    if not person_ids:
        return 0
    # Set-based: the rows that change are locked in id order and updated by key, their ``~``
    # history rows copied by the database from the rows as updated (no instance per row); on
    # PostgreSQL lock, update and history are one statement.
    if connection.vendor == "postgresql":
        table = connection.ops.quote_name(Enrollment._meta.db_table)
        ids = update_with_history(
            Enrollment,
            f"WITH l AS (SELECT id FROM {table} WHERE person_id = ANY(%s::bigint[]) AND year = %s "
            f"AND had_fund_payment <> %s ORDER BY id FOR UPDATE) "
            f"UPDATE {table} AS e SET had_fund_payment = %s FROM l WHERE e.id = l.id RETURNING e.*",
            [array_literal(person_ids) or person_ids, year, paid, paid],  # one text parameter
            actor=actor, reason=_("基金报销标记"))
        return len(ids)
    ids = list(Enrollment.objects.select_for_update().filter(person_id__in=person_ids, year=year)
               .exclude(had_fund_payment=paid).order_by("pk").values_list("pk", flat=True))
    if ids:
        Enrollment.objects.filter(pk__in=ids).update(had_fund_payment=paid)
    history_from_rows(Enrollment, ids, actor=actor, reason=_("基金报销标记"))
    return len(ids)


@transaction.atomic
def enrollment_caps_refresh(*, year: int, actor=None) -> int:
    """Recompute the critical-illness cap of every resident enrolment of ``year``.

    Enrolments for a year are paid in the previous autumn, before that year's zero-claim
    status is final; this runs once the year has begun (scheduled) and after late claims.
    Set-based: one query for the enrolments, one for the histories, bulk update of the
    changed rows.  Returns the number changed.
    """
    require_actor(actor, SUPERVISORS, system=True)
    return len(enrollment_caps_refresh_persons(year=year, person_ids=None, actor=actor))


def enrollment_caps_refresh_persons(*, year: int, person_ids: Iterable[int] | None, actor=None) -> list[int]:
    """Recompute the critical-illness cap of the resident enrolments of ``year`` (of
    ``person_ids``, or all) from the histories as they are now — a late claim for the year
    before can take away its zero-reimbursement bonus (DOMAIN.md §3).  Returns the persons
    whose cap changed; claims re-settle those person-years."""
    require_actor(actor, CLAIMS_FOLLOWERS, system=True)
    return _caps_refresh_persons(year, person_ids, actor)


class CapChanges(NamedTuple):
    """What :func:`enrollment_caps_changes` found: the persons whose cap would change, and all
    those of the persons asked about who have a resident enrolment that year."""
    changed: list[int]
    enrolled: list[int]


def enrollment_caps_changes(*, year: int, person_ids: Iterable[int]) -> CapChanges:
    """The persons of ``person_ids`` whose ``year`` resident cap :func:`enrollment_caps_refresh_persons`
    would change now — read only, nothing locked or written.  Claims asks first so that it
    can take those person-years' ledger rows before the enrolments (the settlement's lock
    order), then refreshes; ``enrolled`` tells it whose later years may count ``year``."""
    changed, enrolled = _cap_changes(year, person_ids, lock=False)
    return CapChanges([row.person_id for row in changed], enrolled)


def _cap_changes(year: int, person_ids: Iterable[int] | None, *, lock: bool) -> tuple[list, list[int]]:
    """The resident enrolments of ``year`` (of ``person_ids``, or all) whose cap the histories
    as they are now change — each with its new cap set, not saved — and the persons enrolled;
    ``lock``: the enrolments read ``FOR UPDATE`` (inside the caller's transaction)."""
    qs = Enrollment.objects.filter(year=year, scheme=Scheme.RESIDENT)
    if person_ids is not None:
        qs = qs.filter(person_id__any=sorted(set(person_ids)))  # one array parameter
        # Usually none of them is enrolled in ``year`` yet (a settlement refreshes the year
        # after its own): a one-table probe costs a fraction of planning the locked three-table
        # read below (≈ 0.7 ms on PostgreSQL, on every first fund-paid claim of a person-year).
        if not qs.exists():
            return [], []
    if lock:
        qs = qs.select_for_update()
    rows = list(qs.select_related("person__township").order_by("pk"))
    if not rows:
        return [], []
    histories = enrollment_histories({r.person_id for r in rows}, before_year=year)
    cache = PolicyCache()
    changed = []
    for row in rows:
        history = histories.get(row.person_id, {})
        normal = not row.waiting_period and not row.newborn
        snap = cache.get(row.person.township, date(year, 1, 1))
        params = cap_params(snap)
        zero = rules.zero_claim_years(year, row.continuous_years, history, normal, params.incentives_from)
        cap = rules.critical_illness_cap(params, continuous_years=row.continuous_years,
                                         zero_claim_count=zero, break_years=row.break_years, year=year)
        if cap != row.critical_illness_cap:
            row.critical_illness_cap = cap
            changed.append(row)
    return changed, sorted({row.person_id for row in rows})


@transaction.atomic(savepoint=False)  # as _record_fund_payments
def _caps_refresh_persons(year: int, person_ids: Iterable[int] | None, actor) -> list[int]:
    changed, _enrolled = _cap_changes(year, person_ids, lock=True)
    bulk_update_audited(changed, Enrollment, ["critical_illness_cap"], actor=actor, reason=_("大病封顶线重算"))
    return [row.person_id for row in changed]
