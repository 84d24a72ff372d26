"""Writes of claims: settlement (one or a batch), reversal (冲销), correction, fund entries.

Settlement is set-based so that one claim and a hundred thousand run the same code: for a
batch, the persons, enrolments, identities, entitlements, open inpatient stays and year
ledgers are loaded in one query each; the ledger rows are created if missing (under their
unique constraint) and locked ``FOR UPDATE`` in (person, year) order; the claims are settled
in memory in service-date order (claims/rules.py); claims, their history and the ledgers are
written in bulk.  Two settlements for the same person therefore serialise on the ledger row
and can never pass an annual cap together.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from members.models import Enrollment, Person, Scheme
from yibao_site.audit import audited_save, bulk_create_audited
from yibao_site.inputs import MONEY_MAX
from yibao_site.models import Region
from yibao_site.policy import PolicyCache

from . import rules, selectors
from .models import Claim, ClaimSource, ClaimStatus, FundEntry, PersonYearLedger, VisitType

ZERO = Decimal("0.00")
LEVELS = (1, 2, 3)


@dataclass
class ClaimInput:
    """One claim to settle, as received (API, import, window)."""

    person_id: int
    visit_type: str
    hospital_level: int
    service_date: date
    total_cost: Decimal
    policy_scope_cost: Decimal
    in_province: bool = True
    referred: bool = False
    basic_paid: Decimal | None = None
    critical_paid: Decimal | None = None
    admission_date: date | None = None
    external_ref: str | None = None
    source: str = ClaimSource.API
    bills: list[dict[str, str]] | None = None  # the window's bill lines (票据), kept on the claim
    ref: Any = None  # the caller's handle for error reports (a file row number…)


class BatchError(ValidationError):
    """Some claims of a batch could not be settled; ``by_ref`` maps each input's ``ref`` (or
    index) to its ``ValidationError``.  Nothing was written."""

    def __init__(self, by_ref: dict[Any, ValidationError]):
        self.by_ref = by_ref
        messages = []
        for ref, exc in by_ref.items():
            for fname, msgs in error_items(exc):
                messages.extend(f"{ref} {fname}: {m}" if fname else f"{ref}: {m}" for m in msgs)
        super().__init__(messages)


def error_items(exc: ValidationError):
    if hasattr(exc, "error_dict"):
        return [("" if f == "__all__" else f, [m for e in errs for m in e.messages]) for f, errs in exc.error_dict.items()]
    return [("", list(exc.messages))]


def money_value(value, field_name: str, *, required: bool = True) -> Decimal | None:
    """Parse a money amount (yuan, at most two places, not negative) or raise a field error."""
    if value is None or value == "":
        if required:
            raise ValidationError({field_name: [_("必须填写。")]})
        return None
    if isinstance(value, float):
        value = repr(value)
    try:
        amount = Decimal(str(value).strip().replace(",", ""))
    except (InvalidOperation, ValueError):
        raise ValidationError({field_name: [_("金额格式不正确。")]}) from None
    if not amount.is_finite():
        raise ValidationError({field_name: [_("金额格式不正确。")]})
    if amount < 0:
        raise ValidationError({field_name: [_("金额不能为负数。")]})
    if amount != amount.quantize(rules.CENT):
        raise ValidationError({field_name: [_("金额最多保留两位小数。")]})
    if amount > MONEY_MAX:  # the kernel's input bound: ledger sums must fit their columns
        raise ValidationError({field_name: [_("金额不能超过 %(max)s 元。") % {"max": f"{MONEY_MAX:,.2f}"}]})
    return amount.quantize(rules.CENT)


def claim_input_check(inp: ClaimInput, *, today: date | None = None) -> None:
    """Check one input alone (types, ranges, dates, amounts); raise field errors."""
    errors: dict[str, list[str]] = {}
    today = today or timezone.localdate()
    if inp.visit_type not in VisitType.values:
        errors["visit_type"] = [_("就诊类型应为 inpatient/outpatient/chronic 之一。")]
    if inp.hospital_level not in LEVELS:
        errors["hospital_level"] = [_("医院级别应为1、2或3。")]
    if not isinstance(inp.service_date, date):
        errors["service_date"] = [_("请填写就诊日期(YYYY-MM-DD)。")]
    elif inp.service_date > today:
        errors["service_date"] = [_("就诊日期不能晚于今天。")]
    if inp.admission_date is not None:
        if inp.visit_type != VisitType.INPATIENT:
            errors["admission_date"] = [_("只有住院才填写入院日期。")]
        elif isinstance(inp.service_date, date) and inp.admission_date > inp.service_date:
            errors["admission_date"] = [_("入院日期不能晚于出院日期。")]
    for name in ("total_cost", "policy_scope_cost", "basic_paid", "critical_paid"):
        value = getattr(inp, name)
        if value is None:
            if name in ("total_cost", "policy_scope_cost"):
                errors.setdefault(name, []).append(_("必须填写。"))
            continue
        if not isinstance(value, Decimal) or not value.is_finite():
            errors.setdefault(name, []).append(_("金额格式不正确。"))
        elif value < 0:
            errors.setdefault(name, []).append(_("金额不能为负数。"))
        elif value != value.quantize(rules.CENT):
            errors.setdefault(name, []).append(_("金额最多保留两位小数。"))
        elif value > MONEY_MAX:  # the kernel's input bound: ledger sums must fit their columns
            errors.setdefault(name, []).append(_("金额不能超过 %(max)s 元。") % {"max": f"{MONEY_MAX:,.2f}"})
    if not errors and inp.policy_scope_cost > inp.total_cost:
        errors["policy_scope_cost"] = [_("政策范围内费用不能超过医疗总费用。")]
    if not errors and (inp.basic_paid or ZERO) + (inp.critical_paid or ZERO) > inp.policy_scope_cost:
        errors["basic_paid"] = [_("平台已结算的基本医保与大病保险合计不能超过政策范围内费用。")]
    if errors:
        raise ValidationError(errors)
    for name in ("total_cost", "policy_scope_cost", "basic_paid", "critical_paid"):
        value = getattr(inp, name)
        if value is not None:
            setattr(inp, name, value.quantize(rules.CENT))


# ── the settlement engine ─────────────────────────────────────────────────────────────────
@dataclass
class _Context:
    """Everything a batch needs, loaded set-based."""

    persons: dict[int, tuple[int, Region]]  # person id → (township id, township)
    coverage: dict[tuple[int, int], selectors.Coverage]
    assistance: dict[int, selectors.PersonAssistanceFacts]
    stays: dict[int, list[tuple[date, date]]]
    cache: selectors.SettlementPolicyCache
    ledgers: dict[tuple[int, int], PersonYearLedger] = field(default_factory=dict)


def _load_context(inputs: list[ClaimInput], cache: PolicyCache | None) -> _Context:
    person_ids = {i.person_id for i in inputs}
    found = (Person.objects.filter(pk__in=person_ids).select_related("township")
             .only("id", "township__id", "township__code", "township__path"))
    persons = {p.pk: (p.township_id, p.township) for p in found}
    years = {i.service_date.year for i in inputs}
    coverage = selectors.coverage_facts(person_ids, years | {y + 1 for y in years})
    start = min(i.service_date for i in inputs)
    end = max(i.service_date for i in inputs)
    assistance = selectors.assistance_facts(person_ids, start, end)
    outpatient_employees = {i.person_id for i in inputs if i.visit_type == VisitType.OUTPATIENT}
    stays = selectors.inpatient_stays(outpatient_employees, start, end) if outpatient_employees else {}
    for i in inputs:  # stays in this very batch count too
        if i.visit_type == VisitType.INPATIENT and i.admission_date and i.person_id in outpatient_employees:
            stays.setdefault(i.person_id, []).append((i.admission_date, i.service_date))
    if not isinstance(cache, selectors.SettlementPolicyCache):
        cache = selectors.settlement_policy_cache()
    return _Context(persons, coverage, assistance, stays, cache)


def _coverage_on(ctx: _Context, person_id: int, on: date) -> selectors.Coverage | None:
    """The enrolment that covers ``on``: the service year's, or next year's when its benefits
    already started (a newborn paying next year's premium)."""
    current = ctx.coverage.get((person_id, on.year))
    if current is not None and current.covers(on):
        return current
    following = ctx.coverage.get((person_id, on.year + 1))
    if following is not None and following.covers(on):
        return following
    return current


def _lock_ledgers(keys: set[tuple[int, int]]) -> dict[tuple[int, int], PersonYearLedger]:
    """Lock the ledger rows of ``keys`` in (person, year) order, creating the missing ones
    first (under the unique (person, year) constraint a concurrent creator makes that a no-op)."""
    person_ids = {p for p, _ in keys}
    years = {y for _, y in keys}

    def lock(pids):
        rows = (PersonYearLedger.objects.select_for_update()
                .filter(person_id__in=pids, year__in=years).order_by("person_id", "year"))
        return {(row.person_id, row.year): row for row in rows if (row.person_id, row.year) in keys}

    locked = lock(person_ids)
    missing = sorted(keys - set(locked))
    if missing:
        PersonYearLedger.objects.bulk_create([PersonYearLedger(person_id=p, year=y) for p, y in missing],
                                             ignore_conflicts=True, batch_size=2000)
        locked.update(lock({p for p, _ in missing}))
    return locked


def _ledger_state(row: PersonYearLedger) -> dict[str, Decimal]:
    return {name: getattr(row, name) for name in rules.LEDGER_FIELDS}


_SCHEME_LABEL = {"employee": "职工医保", "resident": "城乡居民医保"}
_VISIT_LABEL = {"inpatient": "住院", "outpatient": "普通门诊", "chronic": "门诊慢特病"}


def _explain_prefix(inp: ClaimInput, cov: selectors.Coverage) -> str:
    return rules._("%(date)s %(visit)s,%(scheme)s,医疗总费用%(total)s元,政策范围内费用%(scope)s元。") % {
        "date": inp.service_date.isoformat(), "visit": rules._(_VISIT_LABEL[inp.visit_type]),
        "scheme": rules._(_SCHEME_LABEL[cov.scheme]), "total": rules.yuan(inp.total_cost),
        "scope": rules.yuan(inp.policy_scope_cost)}


def settle_one(ctx: _Context, inp: ClaimInput, ledger: dict[str, Decimal]) -> tuple[Claim, dict[str, Decimal]]:
    """Settle one input against an in-memory ledger state; return the unsaved claim and the
    ledger delta (the caller applies it)."""
    township_id, township = ctx.persons[inp.person_id]
    cov = _coverage_on(ctx, inp.person_id, inp.service_date)
    if cov is None:
        raise ValidationError({"person": [_("该人员%(year)s年度没有有效的参保登记,不能结算。")
                                          % {"year": inp.service_date.year}]})
    snap = ctx.cache.get(township, inp.service_date)
    covered = cov.covers(inp.service_date)
    status = selectors.assistance_status(snap, ctx.assistance.get(inp.person_id), inp.service_date)
    stay_open = (cov.scheme == Scheme.EMPLOYEE and inp.visit_type == VisitType.OUTPATIENT
                 and any(a <= inp.service_date <= d for a, d in ctx.stays.get(inp.person_id, ())))
    facts = rules.ClaimFacts(
        scheme=cov.scheme, employee_status=cov.employee_status, visit_type=inp.visit_type,
        hospital_level=inp.hospital_level, service_month=inp.service_date.month,
        total_cost=inp.total_cost, policy_scope_cost=inp.policy_scope_cost,
        in_province=inp.in_province, referred=inp.referred, covered=covered, inpatient_stay_open=stay_open,
        basic_given=inp.basic_paid, critical_given=inp.critical_paid,
        critical_cap=cov.critical_illness_cap if cov.scheme == Scheme.RESIDENT else None,
        assistance=status,
    )
    result = rules.settle(snap, facts, ledger)  # the callers activate zh-hans for the texts
    explanation = _explain_prefix(inp, cov) + "\n" + result.explanation
    breakdown = result.breakdown()
    breakdown["coverage"] = {"enrollment": cov.enrollment_id, "scheme": cov.scheme,
                             "employee_status": cov.employee_status, "covered": covered,
                             "benefit_start": cov.benefit_start.isoformat(), "benefit_end": cov.benefit_end.isoformat(),
                             "critical_illness_cap": str(cov.critical_illness_cap) if cov.critical_illness_cap else None}
    breakdown["assistance_status"] = {"category": status.category, "source": status.category_source,
                                      "tilt": status.tilt, "identity_kinds": list(status.transitional_kinds)}
    used, version = ctx.cache.record(snap)
    breakdown["policy"] = used
    if inp.bills:
        breakdown["bills"] = inp.bills
    claim = Claim(
        person_id=inp.person_id, year=inp.service_date.year, scheme=cov.scheme, visit_type=inp.visit_type,
        hospital_level=inp.hospital_level, in_province=inp.in_province, referred=inp.referred,
        service_date=inp.service_date, admission_date=inp.admission_date, total_cost=inp.total_cost,
        policy_scope_cost=inp.policy_scope_cost, basic_paid=result.basic.paid, critical_paid=result.critical.paid,
        assistance_paid=result.assistance.paid, second_round_paid=result.second_round.paid,
        out_of_pocket=result.out_of_pocket, assistance_category=status.category if result.assistance.paid else None,
        platform_settled=inp.basic_paid is not None or inp.critical_paid is not None,
        status=ClaimStatus.SETTLED, source=inp.source, external_ref=inp.external_ref or None,
        policy_version=version, breakdown=breakdown, explanation=explanation,
    )
    return claim, result.delta


def _check_batch(inputs: list[ClaimInput]) -> dict[Any, ValidationError]:
    errors: dict[Any, ValidationError] = {}
    today = timezone.localdate()
    for index, inp in enumerate(inputs):
        try:
            claim_input_check(inp, today=today)
        except ValidationError as exc:
            errors[inp.ref if inp.ref is not None else index] = exc
    refs = [i.external_ref for i in inputs if i.external_ref]
    if refs:
        taken = set(Claim.objects.filter(external_ref__in=refs).values_list("external_ref", flat=True))
        seen: set[str] = set()
        for index, inp in enumerate(inputs):
            if inp.external_ref and (inp.external_ref in taken or inp.external_ref in seen):
                errors.setdefault(inp.ref if inp.ref is not None else index, ValidationError(
                    {"external_ref": [_("平台结算流水号 %(ref)s 已结算过。") % {"ref": inp.external_ref}]}))
            if inp.external_ref:
                seen.add(inp.external_ref)
    return errors


def _mark_fund_payments(ledgers: list[PersonYearLedger], coverage: dict[tuple[int, int], selectors.Coverage]) -> None:
    """Keep ``Enrollment.had_fund_payment`` (零报销激励: a year with no fund reimbursement) in
    step with the ledgers: two UPDATEs for a whole batch."""
    paid, unpaid = [], []
    for row in ledgers:
        cov = coverage.get((row.person_id, row.year))
        if cov is not None:
            (paid if (row.basic_paid + row.critical_paid) > 0 else unpaid).append(cov.enrollment_id)
    if paid:
        Enrollment.objects.filter(pk__in=paid, had_fund_payment=False).update(had_fund_payment=True)
    if unpaid:
        Enrollment.objects.filter(pk__in=unpaid, had_fund_payment=True).update(had_fund_payment=False)


def _insert_claims(claims: list[Claim], *, actor, reason: str) -> list[Claim]:
    """Write new claims and their history rows (``COPY`` for large batches on PostgreSQL)."""
    return bulk_create_audited(claims, Claim, actor=actor, reason=reason, batch_size=1000)


LEDGER_WRITE_FIELDS = (*rules.LEDGER_FIELDS, "claims_count", "updated_at")


def _write_ledgers(rows: list[PersonYearLedger]) -> None:
    """Write the locked ledger rows back: one parameterised UPDATE executed for all rows
    (``bulk_update``'s CASE expressions over 30 columns cost more than the settlement)."""
    from django.db import connection

    table = PersonYearLedger._meta.db_table
    qn = connection.ops.quote_name
    sets = ", ".join(f"{qn(name)} = %s" for name in LEDGER_WRITE_FIELDS)
    sql = f"UPDATE {qn(table)} SET {sets} WHERE {qn('id')} = %s"
    stamp = PersonYearLedger._meta.get_field("updated_at")
    params = [[getattr(row, name) for name in rules.LEDGER_FIELDS]
              + [row.claims_count, stamp.get_db_prep_save(row.updated_at, connection), row.pk] for row in rows]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def _settle_in_order(ctx, inputs, order, states, counts, claims, errors, actor, language) -> None:
    """Settle ``inputs`` in ``order`` on the in-memory ledger states (explanations in Chinese;
    an error is computed again in the caller's ``language`` for its message)."""
    creator = actor if getattr(actor, "is_authenticated", False) else None
    for k in order:
        inp = inputs[k]
        key = (inp.person_id, inp.service_date.year)
        try:
            claim, delta = settle_one(ctx, inp, states[key])
        except ValidationError as exc:
            with translation.override(language):
                try:
                    settle_one(ctx, inp, dict(states[key]))
                except ValidationError as localized:
                    exc = localized
            errors[inp.ref if inp.ref is not None else k] = exc
            continue
        rules.apply_delta(states[key], delta)
        counts[key] += 1
        claim.created_by = creator
        claims[k] = claim


@transaction.atomic
def claims_settle_batch(*, inputs: list[ClaimInput], actor=None, cache: PolicyCache | None = None,
                        reason: str = "") -> list[Claim]:
    """Settle a batch of claims (一站式结算) atomically, in service-date order per person.

    Returns the saved claims in the order of ``inputs``.  Raises :class:`BatchError` (nothing
    written) if any input is bad.
    """
    if not inputs:
        return []
    errors = _check_batch(inputs)
    if errors:
        raise BatchError(errors)
    ctx = _load_context(inputs, cache)
    for index, inp in enumerate(inputs):
        if inp.person_id not in ctx.persons:
            errors.setdefault(inp.ref if inp.ref is not None else index,
                              ValidationError({"person": [_("参保人不存在。")]}))
    if errors:
        raise BatchError(errors)
    rows = _lock_ledgers({(i.person_id, i.service_date.year) for i in inputs})
    states = {key: _ledger_state(row) for key, row in rows.items()}
    counts: dict[tuple[int, int], int] = defaultdict(int)
    order = sorted(range(len(inputs)), key=lambda k: (inputs[k].service_date, k))
    claims: list[Claim | None] = [None] * len(inputs)
    language = translation.get_language()
    with translation.override("zh-hans"):
        _settle_in_order(ctx, inputs, order, states, counts, claims, errors, actor, language)
    if errors:
        raise BatchError(errors)
    now = timezone.now()
    for claim in claims:
        claim.settled_at = now
    saved = _insert_claims(claims, actor=actor, reason=reason or _("结算"))
    changed = []
    for key, row in rows.items():
        for name, value in states[key].items():
            setattr(row, name, value)
        row.claims_count += counts[key]
        row.updated_at = now
        changed.append(row)
    _write_ledgers(changed)
    _mark_fund_payments(changed, ctx.coverage)
    return saved


def claim_settle(*, person: Person, visit_type: str, hospital_level: int, service_date: date,
                 total_cost: Decimal, policy_scope_cost: Decimal, in_province: bool = True, referred: bool = False,
                 basic_paid: Decimal | None = None, critical_paid: Decimal | None = None,
                 admission_date: date | None = None, external_ref: str | None = None,
                 source: str = ClaimSource.API, bills: list[dict[str, str]] | None = None, actor=None,
                 reason: str = "") -> Claim:
    """Settle one claim through every tier; raise field errors (nothing written) if it cannot."""
    inp = ClaimInput(person_id=person.pk, visit_type=visit_type, hospital_level=hospital_level,
                     service_date=service_date, total_cost=total_cost, policy_scope_cost=policy_scope_cost,
                     in_province=in_province, referred=referred, basic_paid=basic_paid, critical_paid=critical_paid,
                     admission_date=admission_date, external_ref=external_ref, source=source, bills=bills)
    try:
        return claims_settle_batch(inputs=[inp], actor=actor, reason=reason)[0]
    except BatchError as exc:
        raise next(iter(exc.by_ref.values())) from None


def claim_preview(*, person: Person, visit_type: str, hospital_level: int, service_date: date,
                  total_cost: Decimal, policy_scope_cost: Decimal, in_province: bool = True,
                  referred: bool = False, admission_date: date | None = None,
                  bills: list[dict[str, str]] | None = None) -> Claim:
    """Compute a settlement without writing anything (the window's 试算 before confirming)."""
    inp = ClaimInput(person_id=person.pk, visit_type=visit_type, hospital_level=hospital_level,
                     service_date=service_date, total_cost=total_cost, policy_scope_cost=policy_scope_cost,
                     in_province=in_province, referred=referred, admission_date=admission_date,
                     source=ClaimSource.MANUAL, bills=bills)
    claim_input_check(inp)
    ctx = _load_context([inp], None)
    row = PersonYearLedger.objects.filter(person_id=person.pk, year=service_date.year).first()
    state = _ledger_state(row) if row else rules.empty_ledger()
    with translation.override("zh-hans"):
        claim, _delta = settle_one(ctx, inp, state)
    claim.person = person
    return claim


# ── reversal and correction ───────────────────────────────────────────────────────────────
@transaction.atomic
def claim_reverse(*, claim: Claim, actor=None, reason: str = "") -> Claim:
    """Reverse a settled claim (冲销): subtract exactly its ledger delta, mark it reversed and
    write the negative entry.  Returns the reversal entry."""
    ledger = (PersonYearLedger.objects.select_for_update()
              .filter(person_id=claim.person_id, year=claim.year).first())
    original = Claim.objects.select_for_update().get(pk=claim.pk)
    if original.status != ClaimStatus.SETTLED:
        raise ValidationError({"detail": [_("只有已结算的结算单可以冲销(该单状态:%(status)s)。")
                                          % {"status": original.get_status_display()}]})
    delta = original.breakdown.get("ledger_delta", {})
    if ledger is None:
        raise ValidationError({"detail": [_("找不到该结算单的年度台账,不能冲销。")]})
    state = _ledger_state(ledger)
    rules.apply_delta(state, delta, sign=-1)
    for name, value in state.items():
        setattr(ledger, name, value)
    ledger.claims_count = max(ledger.claims_count - 1, 0)
    ledger.save(update_fields=[*rules.LEDGER_FIELDS, "claims_count", "updated_at"])
    reason = reason or _("冲销")
    with translation.override("zh-hans"):
        text = _("冲销 %(date)s 结算单 #%(id)s:%(reason)s") % {"date": original.service_date.isoformat(),
                                                             "id": original.pk, "reason": reason}
    reversal = Claim(
        person_id=original.person_id, year=original.year, scheme=original.scheme, visit_type=original.visit_type,
        hospital_level=original.hospital_level, in_province=original.in_province, referred=original.referred,
        service_date=original.service_date, admission_date=original.admission_date,
        total_cost=-original.total_cost, policy_scope_cost=-original.policy_scope_cost,
        basic_paid=-original.basic_paid, critical_paid=-original.critical_paid,
        assistance_paid=-original.assistance_paid, second_round_paid=-original.second_round_paid,
        out_of_pocket=-original.out_of_pocket, assistance_category=original.assistance_category,
        platform_settled=original.platform_settled, status=ClaimStatus.REVERSAL, source=original.source,
        policy_version=original.policy_version, reversal_of=original,
        breakdown={"reverses": original.pk, "ledger_delta": {k: str(-Decimal(v)) for k, v in delta.items()}},
        explanation=text, created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    audited_save(reversal, actor=actor, reason=reason)
    original.status = ClaimStatus.REVERSED
    audited_save(original, actor=actor, reason=reason, update_fields=["status"])
    _mark_fund_payments([ledger], selectors.coverage_facts([ledger.person_id], [ledger.year]))
    return reversal


@transaction.atomic
def claim_correct(*, claim: Claim, actor=None, reason: str = "", **changes) -> Claim:
    """Correct a claim: reverse it and settle a new one with ``changes`` applied (更正 = 冲销 + 重新结算)."""
    fields = ("visit_type", "hospital_level", "service_date", "total_cost", "policy_scope_cost", "in_province",
              "referred", "basic_paid", "critical_paid", "admission_date")
    unknown = set(changes) - set(fields)
    if unknown:
        raise ValidationError({"detail": [_("不能更正的字段:%(f)s") % {"f": ", ".join(sorted(unknown))}]})
    claim_reverse(claim=claim, actor=actor, reason=reason or _("更正"))
    data = {f: getattr(claim, f) for f in fields}
    if not claim.platform_settled:
        data["basic_paid"] = data["critical_paid"] = None
    data.update(changes)
    return claim_settle(person=claim.person, source=claim.source, actor=actor, reason=reason or _("更正后重新结算"),
                        **data)


# ── fund entries ──────────────────────────────────────────────────────────────────────────
@transaction.atomic
def fund_entry_record(*, fund: str, region: Region, month: date, kind: str, amount: Decimal, note: str = "",
                      actor=None) -> FundEntry:
    """Record a fund income / opening balance / other expense figure for a month (财务登记)."""
    entry = FundEntry(fund=fund, region=region, month=month.replace(day=1), kind=kind, amount=amount, note=note,
                      created_by=actor if getattr(actor, "is_authenticated", False) else None)
    entry.full_clean()
    audited_save(entry, actor=actor, reason=_("登记基金收支"))
    return entry


# ── nightly ledger check ──────────────────────────────────────────────────────────────────
@transaction.atomic
def ledger_check_run(*, year: int, on: date | None = None) -> "LedgerCheck":
    """Check every ledger of ``year`` against its claims and record the result for ``on``
    (default today); a second run the same day updates the same record."""
    from .models import LedgerCheck

    on = on or timezone.localdate()
    found = selectors.ledger_mismatches(year=year)
    details = [{**row, "ledger": str(row["ledger"]), "claims": str(row["claims"])} for row in found[:100]]
    check, _created = LedgerCheck.objects.update_or_create(
        year=year, checked_on=on,
        defaults={"ledgers": PersonYearLedger.objects.filter(year=year).count(), "mismatches": len(found),
                  "details": details})
    return check
