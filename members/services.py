"""Writes of members state (DOMAIN.md §3–4): persons, relatives, enrolments, personal accounts,
off-site registration, poverty identities, assistance entitlements and subsidy batches.

Every public function is one use case: keyword-only arguments, ``@transaction.atomic``, rows
locked in a fixed order (accounts by id, then enrolments), audited in the same transaction.
Errors are ``ValidationError`` dicts keyed by the API field names.  The ``*_build`` helpers are
the in-memory validation the importers run on whole batches (no queries inside).
"""
from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import NamedTuple

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from yibao_site.audit import audited_save, bulk_create_audited, bulk_update_audited
from yibao_site.models import Region, RegionLevel, Role
from yibao_site.policy import PolicyCache, PolicySnapshot, policy_snapshot

from . import rules
from .models import (
    AccountEntry, AssistanceEntitlement, BatchStatus, EmployeeStatus, Enrollment, EnrollmentVia, EntitlementKind,
    EntryKind, Identity, IdentityImport, IdentityKind, IdentitySource, OffsiteKind, OffsiteRegistration,
    PersonalAccount, Person, Relation, Relative, Scheme, StudentLumpSum, SubsidyBatch, SubsidyLine,
)
from yibao_site.idnumbers import normalise_id_number, parse_id_number, validate_region_prefix

ZERO = rules.ZERO

# Choice sets built once (``Choices.values`` builds a new list on every call; imports check
# every row against them).
SCHEMES = frozenset(Scheme.values)
EMPLOYEE_STATUSES = frozenset(EmployeeStatus.values)
_VIAS = frozenset(EnrollmentVia.values)
_IDENTITY_KINDS = frozenset(IdentityKind.values)
_IDENTITY_SOURCES = frozenset(IdentitySource.values)


def _error(field_name: str, message: str) -> ValidationError:
    return ValidationError({field_name: [message]})


def _messages(exc: ValidationError) -> list[str]:
    return [str(m) for m in exc.messages]


# ── persons ─────────────────────────────────────────────────────────────────────────────────

class PersonValues(NamedTuple):
    """A validated person as plain values (an importer writes these without model instances)."""

    id_number: str
    name: str
    sex: str
    birth_date: date
    village_id: int
    township_id: int
    phone: str
    household_no: str
    id_outside_county: bool


def person_check(*, id_number: str, name: str, village: Region | None, phone: str = "",
                 household_no: str = "", county_code: str | None = None) -> PersonValues:
    """Validate one person in memory and return its values (no queries).

    The ID must pass GB 11643 (format, check character, a real birth date) and start with a
    real province code; birth date and sex are derived from it.  Its first six digits name
    where the ID was issued, not where the person lives, so a mismatch with the village's
    county is accepted and flagged (``id_outside_county``) rather than refused: people who
    moved in keep their IDs.  ``county_code`` is the village's county when the caller knows
    it already (an import works it out once per village).
    """
    errors: dict[str, list[str]] = {}
    id_number = normalise_id_number(id_number)
    birth = sex = None
    try:
        birth, sex = parse_id_number(id_number)
        validate_region_prefix(id_number)
    except ValidationError as exc:
        errors["id_number"] = _messages(exc)
    name = (name or "").strip()
    if not name:
        errors["name"] = [_("请填写姓名。")]
    elif len(name) > 50:
        errors["name"] = [_("姓名不能超过50个字符。")]
    phone = (phone or "").strip()
    if phone and (len(phone) > 20 or not phone.replace("-", "").isdigit()):
        errors["phone"] = [_("联系电话只能包含数字和连字符,最多20位。")]
    household_no = (household_no or "").strip()
    if len(household_no) > 30:
        errors["household_no"] = [_("户号不能超过30个字符。")]
    if village is None:
        errors["village"] = [_("村(社区)不存在。")]
    elif village.level != RegionLevel.VILLAGE or not village.parent_id:
        errors["village"] = [_("请选择村(社区)一级的区划。")]
    if errors:
        raise ValidationError(errors)
    if county_code is None:
        county_code = village.county_code() or ""
    return PersonValues(id_number, name, sex, birth, village.pk, village.parent_id, phone, household_no,
                        id_number[:6] != county_code[:6])


def person_build(*, id_number: str, name: str, village: Region | None, phone: str = "",
                 household_no: str = "") -> Person:
    """Validate one person in memory (``person_check``) and return an unsaved ``Person``."""
    v = person_check(id_number=id_number, name=name, village=village, phone=phone, household_no=household_no)
    return Person(id_number=v.id_number, name=v.name, sex=v.sex, birth_date=v.birth_date, village=village,
                  township_id=v.township_id, phone=v.phone, household_no=v.household_no,
                  id_outside_county=v.id_outside_county)


@transaction.atomic
def person_register(*, id_number: str, name: str, village_code: str, phone: str = "", household_no: str = "",
                    actor=None) -> Person:
    """Register a person (参保登记); the township comes from the village."""
    village = Region.objects.filter(code=(village_code or "").strip()).first()
    person = person_build(id_number=id_number, name=name, village=village, phone=phone, household_no=household_no)
    if Person.objects.filter(id_number=person.id_number).exists():
        raise _error("id_number", _("该公民身份号码已登记。"))
    audited_save(person, actor=actor, reason=_("参保登记"))
    return person


@transaction.atomic
def person_update(*, person: Person, name: str | None = None, village_code: str | None = None,
                  phone: str | None = None, household_no: str | None = None, actor=None) -> Person:
    """Change a person's name, village, phone or household; the ID (and what it encodes) never changes."""
    person = Person.objects.select_for_update().select_related("village").get(pk=person.pk)
    village = person.village
    if village_code is not None and village_code != village.code:
        village = Region.objects.filter(code=village_code.strip()).first()
    checked = person_build(
        id_number=person.id_number, name=person.name if name is None else name, village=village,
        phone=person.phone if phone is None else phone,
        household_no=person.household_no if household_no is None else household_no,
    )
    changed = [f for f in ("name", "phone", "household_no", "village_id", "township_id", "id_outside_county")
               if getattr(person, f) != getattr(checked, f)]
    if changed:
        for f in changed:
            setattr(person, f, getattr(checked, f))
        audited_save(person, actor=actor, reason=_("修改人员信息"), update_fields=changed)
    return person


_OLDER = {Relation.PARENT, Relation.GRANDPARENT}
_YOUNGER = {Relation.CHILD, Relation.GRANDCHILD}


@transaction.atomic
def relative_add(*, person: Person, relative: Person, relation: str, actor=None) -> Relative:
    """Record that ``relative`` is the ``relation`` of ``person`` (近亲属)."""
    if relation not in Relation.values:
        raise _error("relation", _("关系应为:%(choices)s") % {"choices": ", ".join(Relation.values)})
    if person.pk == relative.pk:
        raise _error("relative", _("不能把本人登记为自己的亲属。"))
    if relation in _OLDER and relative.birth_date >= person.birth_date:
        raise _error("relation", _("登记为父母或祖父母的亲属应比本人年长。"))
    if relation in _YOUNGER and relative.birth_date <= person.birth_date:
        raise _error("relation", _("登记为子女或孙子女的亲属应比本人年幼。"))
    if Relative.objects.filter(person=person, relative=relative).exists():
        raise _error("relative", _("该亲属关系已登记。"))
    reverse = Relative.objects.filter(person=relative, relative=person).first()
    if reverse is not None and rules.INVERSE_RELATION[reverse.relation] != relation:
        raise _error("relation", _("与已登记的反向关系(%(rel)s)矛盾。") % {"rel": reverse.get_relation_display()})
    link = Relative(person=person, relative=relative, relation=relation)
    audited_save(link, actor=actor, reason=_("登记近亲属"))
    return link


@transaction.atomic
def relative_remove(*, link: Relative, actor=None) -> None:
    """Remove a relative link (the history keeps it)."""
    if actor is not None and getattr(actor, "is_authenticated", False):
        link._history_user = actor
    link._change_reason = _("删除近亲属")
    link.delete()


# ── enrolment ───────────────────────────────────────────────────────────────────────────────

def enrolment_snapshot(person: Person, year: int, cache: PolicyCache | None = None) -> PolicySnapshot:
    """Policy in force for a person's enrolment in ``year`` (read on 1 Jan of the year)."""
    on = date(year, 1, 1)
    region = person.township
    return cache.get(region, on) if cache is not None else policy_snapshot(region, on)


def resident_premium(snap: PolicySnapshot) -> Decimal:
    return rules.money(snap.decimal("members.premium.resident"))


def employee_amount_due(snap: PolicySnapshot, status: str, contribution_base: Decimal | None) -> Decimal | None:
    """Yearly individual employee contribution = monthly base × rate × 12; ``None`` if it needs a base."""
    return _employee_due(snap.decimal(f"members.contribution.employee.{status}.rate"), contribution_base)


def cap_params(snap: PolicySnapshot) -> rules.CapParams:
    return rules.CapParams(
        base=snap.decimal("critical.resident.cap"),
        continuity_min_years=snap.integer("critical.cap.continuity_min_years"),
        continuity_bonus=snap.decimal("critical.cap.continuity_bonus"),
        zero_claim_bonus=snap.decimal("critical.cap.zero_claim_bonus"),
        bonus_ceiling_rate=snap.decimal("critical.cap.bonus_ceiling_rate"),
        break_penalty_per_year=snap.decimal("critical.cap.break_penalty_per_year"),
        incentives_from=(int(snap.value("critical.cap.incentives_from"))
                         if snap.value("critical.cap.incentives_from", None) is not None else None),
    )


_RULE_MESSAGES = {
    "after_year": lambda: _("缴费日期晚于参保年度结束。"),
    "before_birth": lambda: _("缴费日期早于出生日期。"),
    "too_early": lambda: _("缴费日期过早:职工医保应在参保年度或上一年度内缴费。"),
    "before_collection": lambda: _("缴费日期早于该年度集中缴费期开始。"),
    "waiting_beyond_year": lambda: _("缴费过晚:等待期结束时参保年度已结束。"),
}


_VERSIONS: dict[tuple, str] = {}


def _version(snap: PolicySnapshot) -> str:
    """``snap.version``, memoised on the parameter rows used (a batch computes it once per policy)."""
    key = tuple(sorted((k, p.parameter_id, p.region_code, p.effective_from, repr(p.value))
                       for k, p in snap.used.items()))
    found = _VERSIONS.get(key)
    if found is None:
        if len(_VERSIONS) > 1000:
            _VERSIONS.clear()
        found = _VERSIONS[key] = snap.version
    return found


@dataclass(frozen=True)
class EnrolmentPolicy:
    """What an enrolment reads from the policy, for one township, year, scheme and status."""

    collection_start: object
    collection_end: object
    waiting_months: int
    newborn_rule: bool
    premium: Decimal | None  # residents
    cap: rules.CapParams | None  # residents
    employee_rate: Decimal | None  # employees
    version: str  # of exactly the parameters read


def enrolment_policy(snap: PolicySnapshot, scheme: str, employee_status: str = "") -> EnrolmentPolicy:
    """Read the parameters an enrolment of ``scheme``/``employee_status`` uses (no queries)."""
    start_md = snap.value("members.collection_period.start")
    end_md = snap.value("members.collection_period.end")
    waiting = snap.integer("members.waiting_period.months")
    newborn = bool(snap.value("members.newborn.next_year_rule"))
    premium = cap = rate = None
    if scheme == Scheme.RESIDENT:
        premium, cap = resident_premium(snap), cap_params(snap)
    else:
        rate = snap.decimal(f"members.contribution.employee.{employee_status}.rate")
    return EnrolmentPolicy(start_md, end_md, waiting, newborn, premium, cap, rate, _version(snap))


def _employee_due(rate: Decimal, contribution_base: Decimal | None) -> Decimal | None:
    if rate == 0:
        return ZERO
    if contribution_base is None:
        return None
    return rules.money(contribution_base * rate * 12)


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
        raise _error(exc.field, _RULE_MESSAGES[exc.code]()) from None

    cap = None
    if scheme == Scheme.RESIDENT:
        premium = policy.premium
        due = max(ZERO, premium - subsidy)
        if lump_sum is not None:
            due = lump_sum.yearly_amount
        if amount is None:
            amount = due
        elif rules.money(amount) != due:
            raise _error("amount", _("应缴 %(due)s 元(个人缴费标准 %(premium)s 元,资助 %(subsidy)s 元)。")
                         % {"due": due, "premium": premium, "subsidy": subsidy})
        normal = not terms.waiting_period and not terms.newborn
        params = policy.cap
        zero_years = rules.zero_claim_years(year, terms.continuous_years, history, normal, params.incentives_from)
        cap = rules.critical_illness_cap(params, continuous_years=terms.continuous_years,
                                         zero_claim_count=zero_years, break_years=terms.break_years, year=year)
    else:
        due = _employee_due(policy.employee_rate, contribution_base)
        if amount is None:
            amount = due
    return dict(
        person=person, year=year, scheme=scheme, employee_status=employee_status if scheme == Scheme.EMPLOYEE else "",
        paid_on=paid_on, amount=rules.money(amount), benefit_start=terms.benefit_start, benefit_end=terms.benefit_end,
        waiting_period=terms.waiting_period, continuous_years=terms.continuous_years, critical_illness_cap=cap,
        active=True, via=via, contribution_base=rules.money(contribution_base) if contribution_base is not None else None,
        subsidy_amount=subsidy if scheme == Scheme.RESIDENT else ZERO, newborn=terms.newborn,
        break_years=terms.break_years, lump_sum=lump_sum, policy_version=policy.version,
    )


def enrollment_histories(person_ids: Iterable[int], before_year: int | None = None) -> dict[int, dict[int, rules.PriorYear]]:
    """Each person's enrolment years (any scheme) as ``PriorYear``s, in one query."""
    qs = Enrollment.objects.filter(person_id__any=list(person_ids))
    if before_year is not None:
        qs = qs.filter(year__lt=before_year)
    result: dict[int, dict[int, rules.PriorYear]] = defaultdict(dict)
    for pid, year, waiting, paid in qs.values_list("person_id", "year", "waiting_period", "had_fund_payment"):
        current = result[pid].get(year)
        # Two schemes in one year: the year had a fund payment if either had one.
        result[pid][year] = rules.PriorYear(
            year, waiting if current is None else current.waiting_period and waiting,
            paid or (current.had_fund_payment if current else False))
    return result


def confirmed_subsidies(person_ids: Iterable[int], year: int) -> dict[int, Decimal]:
    """State subsidy per person for ``year`` from confirmed batches, in one query."""
    return dict(SubsidyLine.objects.filter(person_id__any=list(person_ids), year=year,
                                           batch__status=BatchStatus.CONFIRMED)
                .values_list("person_id", "amount"))


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
    person = Person.objects.select_for_update().select_related("township").get(pk=person.pk)
    if Enrollment.objects.filter(person=person, year=year, scheme=scheme).exists():
        raise _error("year", _("该人员本年度已参加此险种。"))
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
            raise _error("pooling_only", _("只有灵活就业人员可按单建统筹方式参保。"))
        new.pooling_only = True
    other = Enrollment.objects.select_for_update().filter(person=person, year=year, active=True).first()
    if other is not None:
        _switch_scheme(other, new, actor)
    audited_save(new, actor=actor, reason=_("年度参保缴费"))
    if scheme == Scheme.EMPLOYEE and not new.pooling_only:  # 单建统筹: no personal account
        _account_ensure(person, paid_on, actor)
    return new


@transaction.atomic
def student_lump_sum_create(*, person: Person, school: str, first_year: int, years: int, paid_on: date,
                            actor=None) -> StudentLumpSum:
    """A university or technical student pays the whole programme at once (趸缴) through the school.

    Every year is charged at the first year's standard; with ``members.student.lump_sum_no_topup``
    in force no top-up is due when the standard later rises.  One enrolment per year is
    created (via ``school``); later years are prepaid, so benefits run 1 Jan – 31 Dec.
    """
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
        raise _error("years", _("本地政策不允许学生趸缴。"))
    wanted = list(range(first_year, first_year + years))
    taken = set(Enrollment.objects.filter(person=person, year__in=wanted).values_list("year", flat=True))
    if taken:
        raise _error("first_year", _("以下年度已参保:%(years)s") % {"years": ", ".join(map(str, sorted(taken)))})
    yearly = resident_premium(first_snap)
    lump = StudentLumpSum(person=person, school=school.strip(), first_year=first_year, years=years,
                          paid_on=paid_on, yearly_amount=yearly, total_amount=rules.money(yearly * years))
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


@transaction.atomic
def enrollment_record_fund_payments(*, person_ids: Iterable[int], year: int, paid: bool = True, actor=None) -> int:
    """Record that the fund paid (or, after a reversal, no longer paid) anything for these
    persons in ``year`` (零报销激励); claims call this.  Returns the number of rows changed."""
    rows = list(Enrollment.objects.select_for_update().filter(person_id__in=list(person_ids), year=year)
                .exclude(had_fund_payment=paid).order_by("pk"))
    for row in rows:
        row.had_fund_payment = paid
    return bulk_update_audited(rows, Enrollment, ["had_fund_payment"], actor=actor, reason=_("基金报销标记"))


@transaction.atomic
def enrollment_caps_refresh(*, year: int, actor=None) -> int:
    """Recompute the critical-illness cap of every resident enrolment of ``year``.

    Enrolments for a year are paid in the previous autumn, before that year's zero-claim
    status is final; this runs once the year has begun (scheduled) and after late claims.
    Set-based: one query for the enrolments, one for the histories, bulk update of the
    changed rows.  Returns the number changed.
    """
    return len(enrollment_caps_refresh_persons(year=year, person_ids=None, actor=actor))


@transaction.atomic
def enrollment_caps_refresh_persons(*, year: int, person_ids: Iterable[int] | None, actor=None) -> list[int]:
    """Recompute the critical-illness cap of the resident enrolments of ``year`` (of
    ``person_ids``, or all) from the histories as they are now — a late claim for the year
    before can take away its zero-reimbursement bonus (DOMAIN.md §3).  Returns the persons
    whose cap changed; claims re-settle those person-years."""
    qs = Enrollment.objects.select_for_update().filter(year=year, scheme=Scheme.RESIDENT)
    if person_ids is not None:
        qs = qs.filter(person_id__in=list(person_ids))
    rows = list(qs.select_related("person__township").order_by("pk"))
    if not rows:
        return []
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
    bulk_update_audited(changed, Enrollment, ["critical_illness_cap"], actor=actor, reason=_("大病封顶线重算"))
    return [row.person_id for row in changed]


# ── personal accounts ───────────────────────────────────────────────────────────────────────

def _account_ensure(person: Person, on: date, actor) -> PersonalAccount:
    account = PersonalAccount.objects.filter(person=person).first()
    if account is None:
        account = PersonalAccount(person=person, opened_on=on)
        audited_save(account, actor=actor, reason=_("开设个人账户"))
    return account


def _post(account: PersonalAccount, *, kind: str, amount: Decimal, on: date, actor, memo: str = "",
          relative: Person | None = None, enrollment: Enrollment | None = None, month: date | None = None,
          policy_version: str = "") -> AccountEntry:
    """Move money on a locked account; refuse anything that would make the balance negative."""
    new_balance = account.balance + amount
    if new_balance < 0:
        raise _error("amount", _("个人账户余额不足:余额 %(balance)s 元,需支付 %(amount)s 元。")
                     % {"balance": account.balance, "amount": -amount})
    account.balance = new_balance
    audited_save(account, actor=actor, reason=memo or kind, update_fields=["balance"])
    entry = AccountEntry(account=account, kind=kind, amount=amount, balance_after=new_balance, on=on, memo=memo,
                         relative=relative, enrollment=enrollment, month=month, policy_version=policy_version)
    audited_save(entry, actor=actor, reason=memo or kind)
    return entry


def _locked_account(person: Person) -> PersonalAccount:
    account = PersonalAccount.objects.select_for_update().filter(person=person).first()
    if account is None or account.closed_on is not None:
        raise _error("person", _("该人员没有可用的职工医保个人账户。"))
    return account


@transaction.atomic
def account_spend(*, person: Person, amount: Decimal, on: date, memo: str = "", actor=None) -> AccountEntry:
    """Pay the holder's own policy-scope self-pay from the personal account."""
    if amount is None or amount <= 0:
        raise _error("amount", _("支付金额应大于0。"))
    account = _locked_account(person)
    return _post(account, kind=EntryKind.SPEND, amount=-rules.money(amount), on=on, actor=actor,
                 memo=memo or _("本人医疗费用自付"))


def allowed_relation(payer: Person, relative: Person) -> str | None:
    """What ``relative`` is to ``payer``, from either direction of the recorded link."""
    links = dict(Relative.objects.filter(Q(person=payer, relative=relative) | Q(person=relative, relative=payer))
                 .values_list("person_id", "relation"))
    return rules.relation_of(links.get(payer.pk), links.get(relative.pk))


@transaction.atomic
def account_pay_relative_premium(*, payer: Person, relative: Person, year: int, paid_on: date,
                                 actor=None) -> tuple[Enrollment, AccountEntry]:
    """Pay a close relative's resident premium from an employee's personal account (家庭共济).

    The relation must be one the payer's region allows (``account.relative_premium.relations``),
    the balance must cover the amount due; the enrolment and the debit are written together
    or not at all.
    """
    if payer.pk == relative.pk:
        raise _error("relative", _("不能为本人代缴居民医保。"))
    account = _locked_account(payer)
    payer = Person.objects.select_related("township").get(pk=payer.pk)
    relation = allowed_relation(payer, relative)
    snap = policy_snapshot(payer.township, paid_on)
    _family_use_in_force(snap, paid_on)
    allowed = snap.value("account.relative_premium.relations")
    if relation is None or relation not in allowed:
        names = "、".join(str(Relation(r).label) for r in allowed)
        raise _error("relative", _("个人账户只能为以下近亲属代缴:%(names)s。") % {"names": names})
    enrollment = enrollment_create(person=relative, year=year, scheme=Scheme.RESIDENT, paid_on=paid_on,
                                   via=EnrollmentVia.ACCOUNT, actor=actor)
    entry = _post(account, kind=EntryKind.RELATIVE_PREMIUM, amount=-enrollment.amount, on=paid_on, actor=actor,
                  relative=relative, enrollment=enrollment,
                  memo=_("代缴%(year)s年度居民医保") % {"year": year}, policy_version=enrollment.policy_version)
    return enrollment, entry


def _family_use_in_force(snap: PolicySnapshot, on: date) -> None:
    """Refuse a family use of the account dated before the rules allowing it (Shiyan: 004
    第二十九条, from 2022-12-31)."""
    raw = snap.value("account.in_force_from", None)
    if raw and on < date.fromisoformat(str(raw)):
        raise _error("on", _("个人账户家庭共济自%(from)s起施行,此前不能为近亲属支付。") % {"from": raw})


@transaction.atomic
def account_pay_relative_expense(*, payer: Person, relative: Person, amount: Decimal, on: date, institution: str,
                                 actor=None) -> AccountEntry:
    """Pay an enrolled close relative's self-pay for care or medicines at a designated hospital
    or pharmacy (定点医药机构) from an employee's personal account (004 第十三条(二); 000 两个放宽).

    The relation must be one the payer's region allows (``account.relative_expense.relations``),
    the relative must be enrolled on ``on`` and the balance must cover the amount; the debit is
    written atomically and audited.
    """
    errors = {}
    if payer.pk == relative.pk:
        errors["relative"] = [_("本人费用请使用本人支付。")]
    if amount is None or amount <= 0:
        errors["amount"] = [_("支付金额应大于0。")]
    elif rules.money(amount) != amount:
        errors["amount"] = [_("金额最多保留两位小数。")]
    if not (institution or "").strip():
        errors["institution"] = [_("请填写定点医疗机构或定点零售药店。")]
    if errors:
        raise ValidationError(errors)
    account = _locked_account(payer)
    payer = Person.objects.select_related("township").get(pk=payer.pk)
    snap = policy_snapshot(payer.township, on)
    _family_use_in_force(snap, on)
    allowed = snap.value("account.relative_expense.relations", None) or []
    relation = allowed_relation(payer, relative)
    if relation is None or relation not in allowed:
        names = "、".join(str(Relation(r).label) for r in allowed)
        raise _error("relative", _("个人账户只能支付以下近亲属的医药费用:%(names)s。") % {"names": names or "—"})
    if not Enrollment.objects.filter(person=relative, year=on.year, active=True).exists():
        raise _error("relative", _("该近亲属%(year)s年度未参保,不能用个人账户支付其医药费用。") % {"year": on.year})
    return _post(account, kind=EntryKind.RELATIVE_EXPENSE, amount=-rules.money(amount), on=on, actor=actor,
                 relative=relative, memo=_("支付近亲属在%(place)s的个人负担医药费用") % {"place": institution.strip()[:80]},
                 policy_version=_version(snap))


@transaction.atomic
def account_close_payout(*, person: Person, on: date, reason: str, actor=None) -> AccountEntry:
    """Pay out and close a personal account on death (to the heirs or named beneficiary) or on
    settling abroad (to the holder) — 004 第十五条.  ``reason`` is ``death`` or ``emigration``.
    The whole balance is debited in one audited entry and the account closed; nothing is left."""
    labels = {"death": _("参保职工死亡,个人账户一次性支付给法定继承人或指定受益人"),
              "emigration": _("出国、出境定居,个人账户余额支付给本人")}
    if reason not in labels:
        raise _error("reason", _("支付原因应为 death(死亡)或 emigration(出国、出境定居)。"))
    account = _locked_account(person)
    balance = account.balance
    entry = _post(account, kind=EntryKind.PAYOUT, amount=-balance, on=on, actor=actor, memo=str(labels[reason]))
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
    first = month.replace(day=1)
    last = rules.add_months(first, 1) - timedelta(days=1)
    report = CreditRunReport(month=first)
    enrollments = list(Enrollment.objects.filter(
        scheme=Scheme.EMPLOYEE, year=first.year, active=True, benefit_start__lte=last, benefit_end__gte=first,
        pooling_only=False,  # 单建统筹: no personal account (004 第十一条(二))
    ).select_related("person__township").order_by("person_id"))
    if not enrollments:
        return report
    person_ids = [e.person_id for e in enrollments]
    existing = {a.person_id: a for a in PersonalAccount.objects.filter(person_id__in=person_ids)}
    missing = [PersonalAccount(person_id=pid, opened_on=first) for pid in person_ids if pid not in existing]
    if missing:
        bulk_create_audited(missing, PersonalAccount, actor=actor, reason=_("开设个人账户"))
        report.accounts_opened = len(missing)
    accounts = {a.person_id: a for a in PersonalAccount.objects.select_for_update()
                .filter(person_id__in=person_ids, closed_on__isnull=True).order_by("pk")}
    done = set(AccountEntry.objects.filter(account__in=accounts.values(), kind=EntryKind.CREDIT, month=first)
               .values_list("account_id", flat=True))
    cache = PolicyCache()
    entries, touched = [], []
    for enr in enrollments:
        account = accounts.get(enr.person_id)
        if account is None:
            continue
        if account.pk in done:
            report.already += 1
            continue
        snap = cache.get(enr.person.township, first)
        amount = rules.monthly_credit(
            status=enr.employee_status, contribution_base=enr.contribution_base,
            rates={s: snap.decimal(f"account.credit_rate.{s}") for s in (EmployeeStatus.IN_SERVICE, EmployeeStatus.FLEXIBLE)},
            retiree_pension_base=snap.decimal("account.retiree.pension_base"),
            retiree_rate=snap.decimal("account.retiree.rate"),
        )
        if amount <= 0:
            continue
        account.balance += amount
        entries.append(AccountEntry(account=account, kind=EntryKind.CREDIT, amount=amount,
                                    balance_after=account.balance, on=first, month=first,
                                    memo=_("%(month)s 个人账户划入") % {"month": first.strftime("%Y-%m")},
                                    policy_version=_version(snap)))
        touched.append(account)
        report.credited += 1
        report.amount += amount
    bulk_create_audited(entries, AccountEntry, actor=actor, reason=_("个人账户按月划入"))
    bulk_update_audited(touched, PersonalAccount, ["balance"], actor=actor, reason=_("个人账户按月划入"))
    return report


# ── off-site treatment registration ─────────────────────────────────────────────────────────

@transaction.atomic
def offsite_register(*, person: Person, kind: str, destination: str, valid_from: date, valid_to: date,
                     in_province: bool = True, hospital: str = "", actor=None) -> OffsiteRegistration:
    """Register off-site treatment (异地就医备案): relocation or referral, over a period."""
    errors = {}
    if kind not in OffsiteKind.values:
        errors["kind"] = [_("备案类型应为 relocation 或 referral。")]
    if not (destination or "").strip():
        errors["destination"] = [_("请填写就医地。")]
    if valid_to < valid_from:
        errors["valid_to"] = [_("有效期止不能早于有效期起。")]
    if kind == OffsiteKind.REFERRAL and not (hospital or "").strip():
        errors["hospital"] = [_("转诊转院须填写转入医院。")]
    if errors:
        raise ValidationError(errors)
    Person.objects.select_for_update().filter(pk=person.pk).first()
    overlap = OffsiteRegistration.objects.filter(person=person, kind=kind, revoked_on__isnull=True,
                                                 valid_from__lte=valid_to, valid_to__gte=valid_from)
    if overlap.exists():
        raise _error("valid_from", _("与该人员已有的同类备案期间重叠。"))
    reg = OffsiteRegistration(person=person, kind=kind, destination=destination.strip(), in_province=in_province,
                              hospital=(hospital or "").strip(), valid_from=valid_from, valid_to=valid_to)
    audited_save(reg, actor=actor, reason=_("异地就医备案"))
    return reg


@transaction.atomic
def offsite_revoke(*, registration: OffsiteRegistration, on: date, actor=None) -> OffsiteRegistration:
    """Revoke a registration from ``on`` (the period ends the day before)."""
    reg = OffsiteRegistration.objects.select_for_update().get(pk=registration.pk)
    if reg.revoked_on is not None:
        raise _error("detail", _("该备案已撤销。"))
    if on <= reg.valid_from:
        raise _error("on", _("撤销日期应晚于备案有效期起。"))
    reg.revoked_on = on
    reg.valid_to = min(reg.valid_to, on - timedelta(days=1))
    audited_save(reg, actor=actor, reason=_("撤销异地就医备案"), update_fields=["revoked_on", "valid_to"])
    return reg


# ── poverty identities ─────────────────────────────────────────────────────────────────────

def identity_validate(*, kind: str, valid_from: date | None, valid_to: date | None, source: str) -> None:
    """Field checks of one identity, in memory."""
    errors = {}
    if kind not in _IDENTITY_KINDS:
        errors["kind"] = [_("身份类别无效:%(kind)s") % {"kind": kind}]
    if source not in _IDENTITY_SOURCES:
        errors["source"] = [_("来源应为 civil_affairs、rural_revitalization 或 bureau。")]
    if valid_from is None:
        errors["valid_from"] = [_("请填写有效期起。")]
    elif valid_to is not None and valid_to < valid_from:
        errors["valid_to"] = [_("有效期止不能早于有效期起。")]
    if errors:
        raise ValidationError(errors)


def _overlaps(a_from: date, a_to: date | None, b_from: date, b_to: date | None) -> bool:
    return a_from <= (b_to or date.max) and b_from <= (a_to or date.max)


@transaction.atomic
def identity_add(*, person: Person, kind: str, valid_from: date, valid_to: date | None = None, source: str,
                 actor=None) -> Identity:
    """Record a poverty identity (困难身份) over a period; periods of one kind never overlap."""
    identity_validate(kind=kind, valid_from=valid_from, valid_to=valid_to, source=source)
    Person.objects.select_for_update().filter(pk=person.pk).first()
    for other in Identity.objects.filter(person=person, kind=kind):
        if _overlaps(valid_from, valid_to, other.valid_from, other.valid_to):
            raise _error("valid_from", _("与该人员已有的同类身份(%(from)s 起)期间重叠。") % {"from": other.valid_from})
    identity = Identity(person=person, kind=kind, valid_from=valid_from, valid_to=valid_to, source=source)
    audited_save(identity, actor=actor, reason=_("登记困难身份"))
    return identity


@transaction.atomic
def identity_end(*, identity: Identity, valid_to: date, actor=None) -> Identity:
    """End an identity on ``valid_to`` (its last valid day)."""
    identity = Identity.objects.select_for_update().get(pk=identity.pk)
    if valid_to < identity.valid_from:
        raise _error("valid_to", _("有效期止不能早于有效期起。"))
    identity.valid_to = valid_to
    audited_save(identity, actor=actor, reason=_("终止困难身份"), update_fields=["valid_to"])
    return identity


@dataclass(frozen=True)
class IdentityListRow:
    """One line of a department's monthly list (``line`` is its row number in the file)."""

    line: int
    id_number: str
    kind: str
    valid_from: date | None
    valid_to: date | None = None


@dataclass
class IdentityListReport:
    new: list[dict] = field(default_factory=list)
    changed: list[dict] = field(default_factory=list)
    ended: list[dict] = field(default_factory=list)
    unchanged: int = 0
    errors: dict[int, list[str]] = field(default_factory=dict)
    record: IdentityImport | None = None


@transaction.atomic
def identity_list_apply(*, source: str, as_of: date, rows: list[IdentityListRow], file_name: str = "",
                        dry_run: bool = False, actor=None) -> IdentityListReport:
    """Compare a department's full monthly list with the identities held from that source and
    apply the difference in one transaction (身份名单月度比对).

    - on the list, no current identity of that kind from the source ⇒ **new**;
    - on the list with a different period ⇒ **changed** (the current identity's period is updated);
    - current (open on ``as_of``) but missing from the list ⇒ **ended** on the day before ``as_of``.
    Any bad row rejects the whole list (``report.errors`` by row number, nothing written).
    A second apply of the same list changes nothing.
    """
    report = IdentityListReport()
    if source not in IdentitySource.values:
        raise _error("source", _("来源应为 civil_affairs、rural_revitalization 或 bureau。"))
    ids = {normalise_id_number(r.id_number) for r in rows}
    persons = dict(Person.objects.filter(id_number__in=ids).values_list("id_number", "pk"))
    wanted: dict[tuple[int, str], IdentityListRow] = {}
    for row in rows:
        msgs = []
        try:
            identity_validate(kind=row.kind, valid_from=row.valid_from, valid_to=row.valid_to, source=source)
        except ValidationError as exc:
            msgs += [f"{k}: {m}" for k, v in exc.message_dict.items() for m in v]
        pid = persons.get(normalise_id_number(row.id_number))
        if pid is None:
            msgs.append(_("id_number: 人员未登记。"))
        elif (pid, row.kind) in wanted:
            msgs.append(_("同一人员同一身份在名单中重复(第 %(line)s 行)。") % {"line": wanted[(pid, row.kind)].line})
        if msgs:
            report.errors[row.line] = msgs
        else:
            wanted[(pid, row.kind)] = row
    if report.errors:
        return report
    current = {}
    for ident in (Identity.objects.select_for_update().filter(source=source)
                  .filter(Q(valid_to__isnull=True) | Q(valid_to__gte=as_of)).order_by("pk")):
        current.setdefault((ident.person_id, ident.kind), ident)
    to_create, to_update, to_end = [], [], []
    for key, row in wanted.items():
        ident = current.get(key)
        entry = {"id_number": row.id_number, "kind": row.kind, "line": row.line}
        if ident is None:
            to_create.append(Identity(person_id=key[0], kind=row.kind, valid_from=row.valid_from,
                                      valid_to=row.valid_to, source=source))
            report.new.append(entry)
        elif (ident.valid_from, ident.valid_to) != (row.valid_from, row.valid_to):
            entry["before"] = [str(ident.valid_from), str(ident.valid_to or "")]
            ident.valid_from, ident.valid_to = row.valid_from, row.valid_to
            to_update.append(ident)
            report.changed.append(entry)
        else:
            report.unchanged += 1
    end_day = as_of - timedelta(days=1)
    id_of = {pk: idn for idn, pk in persons.items()}
    gone = [ident for key, ident in current.items() if key not in wanted]
    if gone:
        id_of.update(dict(Person.objects.filter(pk__in=[g.person_id for g in gone]).values_list("pk", "id_number")))
    for ident in gone:
        ident.valid_to = max(end_day, ident.valid_from)
        to_end.append(ident)
        report.ended.append({"id_number": id_of[ident.person_id], "kind": ident.kind})
    if dry_run:
        return report
    # New rows must not overlap earlier identities of the same kind (from any source).
    if to_create:
        clash = defaultdict(list)
        for ident in Identity.objects.filter(person_id__in={i.person_id for i in to_create},
                                             kind__in={i.kind for i in to_create}).exclude(source=source):
            clash[(ident.person_id, ident.kind)].append(ident)
        for new in to_create:
            for other in clash.get((new.person_id, new.kind), []):
                if _overlaps(new.valid_from, new.valid_to, other.valid_from, other.valid_to):
                    line = wanted[(new.person_id, new.kind)].line
                    report.errors.setdefault(line, []).append(
                        _("与其他来源的同类身份(%(from)s 起)期间重叠。") % {"from": other.valid_from})
        if report.errors:
            report.new, report.changed, report.ended, report.unchanged = [], [], [], 0
            return report
    reason = _("身份名单比对 %(source)s %(as_of)s") % {"source": source, "as_of": as_of}
    bulk_create_audited(to_create, Identity, actor=actor, reason=reason)
    bulk_update_audited(to_update, Identity, ["valid_from", "valid_to"], actor=actor, reason=reason)
    bulk_update_audited(to_end, Identity, ["valid_to"], actor=actor, reason=reason)
    record = IdentityImport(source=source, as_of=as_of, file_name=file_name[:200], new_count=len(report.new),
                            changed_count=len(report.changed), ended_count=len(report.ended),
                            unchanged_count=report.unchanged,
                            report={"new": report.new, "changed": report.changed, "ended": report.ended},
                            created_by=actor if getattr(actor, "is_authenticated", False) else None)
    audited_save(record, actor=actor, reason=reason)
    report.record = record
    return report


# ── assistance entitlements ────────────────────────────────────────────────────────────────

@transaction.atomic
def entitlement_grant(*, person: Person, kind: str, category: int | None, valid_from: date, valid_to: date,
                      application_id: int | None = None, actor=None) -> AssistanceEntitlement:
    """Grant an assistance entitlement when a reviewer approves an application (救助资格).

    Granting again for the same ``application_id`` with the same terms returns the existing
    entitlement (a retried approval changes nothing); different terms are refused.
    """
    errors = {}
    if kind not in EntitlementKind.values:
        errors["kind"] = [_("类型应为 determination 或 tilt。")]
    if kind == EntitlementKind.DETERMINATION and category not in (1, 2, 3, 4):
        errors["category"] = [_("救助对象认定须指定救助类别(1-4)。")]
    if category is not None and category not in (1, 2, 3, 4):
        errors["category"] = [_("救助类别应为1至4。")]
    if valid_to < valid_from:
        errors["valid_to"] = [_("有效期止不能早于有效期起。")]
    if errors:
        raise ValidationError(errors)
    if application_id is not None:
        existing = AssistanceEntitlement.objects.select_for_update().filter(application_id=application_id).first()
        if existing is not None:
            same = (existing.person_id, existing.kind, existing.category, existing.valid_from, existing.valid_to) == \
                (person.pk, kind, category, valid_from, valid_to)
            if same:
                return existing
            raise _error("application_id", _("该申请已授予过不同内容的救助资格。"))
    ent = AssistanceEntitlement(person=person, kind=kind, category=category, valid_from=valid_from,
                                valid_to=valid_to, application_id=application_id)
    audited_save(ent, actor=actor, reason=_("授予救助资格"))
    return ent


@transaction.atomic
def entitlement_revoke(*, entitlement: AssistanceEntitlement, on: date, actor=None) -> AssistanceEntitlement:
    """Revoke an entitlement from ``on``."""
    ent = AssistanceEntitlement.objects.select_for_update().get(pk=entitlement.pk)
    if ent.revoked_on is not None:
        raise _error("detail", _("该救助资格已撤销。"))
    ent.revoked_on = on
    audited_save(ent, actor=actor, reason=_("撤销救助资格"), update_fields=["revoked_on"])
    return ent


# ── subsidy batches (资助参保) ─────────────────────────────────────────────────────────────

_KIND_ORDER = list(IdentityKind.values)


def subsidy_params(snap: PolicySnapshot) -> tuple[Decimal, dict[str, Decimal], dict[str, tuple[Decimal, Decimal]]]:
    """(premium, rate per identity kind, phase-out (rate, base) per kind) in force in ``snap``."""
    premium = resident_premium(snap)
    rates, phaseout = {}, {}
    for kind in _KIND_ORDER:
        if snap.has(f"subsidy.phaseout.{kind}.base"):
            rate = snap.decimal(f"subsidy.phaseout.{kind}.rate", None)
            if rate is not None:
                phaseout[kind] = (rate, snap.decimal(f"subsidy.phaseout.{kind}.base"))
            continue
        rate = snap.decimal(f"subsidy.rate.{kind}", None)
        if rate is not None:
            rates[kind] = rate
    return premium, rates, phaseout


def _combined_version(versions: set[str]) -> str:
    if len(versions) <= 1:
        return next(iter(versions), "")
    return "mixed#" + hashlib.sha1("|".join(sorted(versions)).encode()).hexdigest()[:10]


@transaction.atomic
def subsidy_batch_build(*, region: Region, year: int, actor=None) -> SubsidyBatch:
    """Build (or rebuild, while still a draft) the subsidy batch of ``region`` and below for ``year``.

    Every person with an identity counting for the year (valid on 1 Jan or any later day)
    gets one line: the identity giving the **highest** subsidy (就高不就低, never two), amount =
    rate × that year's premium, or the phase-out rate × the phase-out base.  A confirmed batch
    is frozen; batches of overlapping regions for one year are refused.
    """
    if region.level == RegionLevel.VILLAGE:
        raise _error("region", _("资助参保批次按市、县或乡镇生成。"))
    batch = SubsidyBatch.objects.select_for_update().filter(region=region, year=year).first()
    if batch is not None and batch.status == BatchStatus.CONFIRMED:
        raise _error("detail", _("该批次已由管理员确认,已冻结,不能重算。"))
    overlap = (SubsidyBatch.objects.filter(year=year).exclude(region=region)
               .filter(Q(region__path__startswith=region.path) | Q(region__code__in=region.ancestors_codes())))
    if overlap.exists():
        raise _error("region", _("该年度已有覆盖重叠区划的资助批次:%(names)s")
                     % {"names": ", ".join(str(b.region) for b in overlap.select_related("region"))})
    if batch is None:
        batch = SubsidyBatch(region=region, year=year)
        audited_save(batch, actor=actor, reason=_("新建资助参保批次"))
    else:
        batch.lines.all().delete()
    jan1, dec31 = date(year, 1, 1), date(year, 12, 31)
    idents = (Identity.objects.filter(person__village__path__startswith=region.path, valid_from__lte=dec31)
              .filter(Q(valid_to__isnull=True) | Q(valid_to__gte=jan1))
              .values_list("pk", "person_id", "kind", "person__township_id").order_by("person_id", "pk"))
    by_person: dict[int, dict[str, int]] = defaultdict(dict)
    township_of: dict[int, int] = {}
    for pk, pid, kind, township_id in idents:
        by_person[pid].setdefault(kind, pk)
        township_of[pid] = township_id
    townships = {r.pk: r for r in Region.objects.filter(pk__in=set(township_of.values()))}
    cache = PolicyCache()
    params: dict[int, tuple] = {}
    versions = set()
    lines = []
    for pid, kinds in by_person.items():
        tid = township_of[pid]
        if tid not in params:
            snap = cache.get(townships[tid], jan1)
            params[tid] = subsidy_params(snap)
            versions.add(snap.version)
        premium, rates, phaseout = params[tid]
        choice = rules.highest_subsidy(list(kinds), premium=premium, rates=rates, phaseout=phaseout, order=_KIND_ORDER)
        if choice is None:
            continue
        lines.append(SubsidyLine(batch=batch, person_id=pid, year=year, township_id=tid, identity_id=kinds[choice.kind],
                                 kind=choice.kind, rate=choice.rate, premium=choice.premium, amount=choice.amount))
    taken = set(SubsidyLine.objects.filter(year=year, person_id__in=[ln.person_id for ln in lines])
                .exclude(batch=batch).values_list("person_id", flat=True))
    if taken:
        raise _error("detail", _("%(n)s 人已在本年度其他资助批次中,不得重复资助。") % {"n": len(taken)})
    SubsidyLine.objects.bulk_create(lines, batch_size=2000)
    batch.count = len(lines)
    batch.total_amount = sum((ln.amount for ln in lines), ZERO)
    batch.policy_version = _combined_version(versions)[:60]
    batch.built_at = timezone.now()
    batch.built_by = actor if getattr(actor, "is_authenticated", False) else None
    audited_save(batch, actor=actor, reason=_("生成资助参保名单"),
                 update_fields=["count", "total_amount", "policy_version", "built_at", "built_by"])
    return batch


@transaction.atomic
def subsidy_batch_confirm(*, batch: SubsidyBatch, actor) -> SubsidyBatch:
    """A supervisor confirms a batch: from then on it is frozen (no rebuild)."""
    if not (getattr(actor, "is_authenticated", False) and actor.has_role(Role.SUPERVISOR)):
        raise PermissionDenied(_("只有管理员可以确认资助参保批次。"))
    batch = SubsidyBatch.objects.select_for_update().get(pk=batch.pk)
    if batch.status == BatchStatus.CONFIRMED:
        raise _error("detail", _("该批次已确认。"))
    if batch.built_at is None:
        raise _error("detail", _("批次尚未生成名单。"))
    batch.status = BatchStatus.CONFIRMED
    batch.confirmed_at = timezone.now()
    batch.confirmed_by = actor
    audited_save(batch, actor=actor, reason=_("确认资助参保批次"), update_fields=["status", "confirmed_at", "confirmed_by"])
    return batch
