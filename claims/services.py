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

from members.models import Person, Scheme
from yibao_site.audit import audited_save, bulk_create_audited
from yibao_site.inputs import MONEY_MAX
from yibao_site.models import Region
from yibao_site.policy import PolicyCache

from chronic import rules as chronic_rules
from chronic import selectors as chronic_selectors

from . import rules, selectors
from .models import Claim, ClaimSource, ClaimStatus, EntryKind, FundEntry, LedgerEntry, PersonYearLedger, VisitType

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
    in_region: bool = True  # care inside the pooling region (市域); False: 统筹区外就医
    source: str = ClaimSource.API
    bills: list[dict[str, str]] | None = None  # the window's bill lines (票据), kept on the claim
    disease: str = ""     # 门诊慢特病: the catalogue code (chronic claims)
    diagnosis: str = ""   # ICD-10 (两病 reads it)
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
    inp.disease = (inp.disease or "").strip().upper()
    inp.diagnosis = chronic_rules.normalize_icd10(inp.diagnosis)
    if inp.disease and inp.visit_type != VisitType.CHRONIC:
        errors["disease"] = [_("只有门诊慢特病结算单填写病种。")]
    elif len(inp.disease) > 20:
        errors["disease"] = [_("病种编码最长20个字符。")]
    if inp.diagnosis and not chronic_rules.valid_icd10(inp.diagnosis):
        errors["diagnosis"] = [_("诊断编码应为 ICD-10 编码,例如 I10 或 E11.9。")]
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
    # 门诊慢特病: person id → [(disease code, valid from, valid to)]; code → catalogue versions
    certified: dict[int, list] = field(default_factory=dict)
    catalogue: dict[str, list] = field(default_factory=dict)
    offsite: dict[int, list[selectors.OffsitePeriod]] = field(default_factory=dict)


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
    chronic = [i for i in inputs if i.visit_type == VisitType.CHRONIC]
    certified = catalogue = {}
    if chronic:  # one query each for the whole batch
        certified = chronic_selectors.certified_diseases({i.person_id for i in chronic},
                                                         min(i.service_date for i in chronic),
                                                         max(i.service_date for i in chronic))
        catalogue = chronic_selectors.catalogue_for_codes({i.disease for i in chronic})
    away = {i.person_id for i in inputs if not i.in_region or not i.in_province}
    offsite = selectors.offsite_periods(away, start, end) if away else {}
    return _Context(persons, coverage, assistance, stays, cache, certified=certified, catalogue=catalogue,
                    offsite=offsite)


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
    chronic = {}
    if inp.visit_type == VisitType.CHRONIC:
        entry = None
        if inp.disease:
            entry = chronic_selectors.pick_catalogue_entry(ctx.catalogue.get(inp.disease), township.path,
                                                           inp.service_date)
            if entry is None:
                raise ValidationError({"disease": [_("病种 %(code)s 不在本地区%(date)s的门诊慢特病目录中。")
                                                   % {"code": inp.disease, "date": inp.service_date.isoformat()}]})
        chronic = {"chronic_disease": inp.disease,
                   "chronic_certified": bool(inp.disease) and chronic_selectors.is_certified(
                       ctx.certified, inp.person_id, inp.disease, inp.service_date),
                   "chronic_rate_key": entry[0] if entry else "", "chronic_cap_key": entry[1] if entry else ""}
    facts = rules.ClaimFacts(
        scheme=cov.scheme, employee_status=cov.employee_status, visit_type=inp.visit_type,
        hospital_level=inp.hospital_level, service_month=inp.service_date.month,
        total_cost=inp.total_cost, policy_scope_cost=inp.policy_scope_cost,
        in_province=inp.in_province, referred=inp.referred, covered=covered, inpatient_stay_open=stay_open,
        in_region=inp.in_region and inp.in_province, service_date=inp.service_date,
        offsite_registered=selectors.offsite_covers(ctx.offsite.get(inp.person_id, ()), inp.service_date,
                                                    in_province=inp.in_province),
        basic_given=inp.basic_paid, critical_given=inp.critical_paid,
        critical_cap=cov.critical_illness_cap if cov.scheme == Scheme.RESIDENT else None,
        assistance=status, diagnosis=inp.diagnosis, **chronic,
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
    if chronic:
        breakdown["chronic"] = {"disease": inp.disease, "certified": chronic["chronic_certified"]}
    platform = inp.basic_paid is not None or inp.critical_paid is not None
    claim = Claim(
        person_id=inp.person_id, year=inp.service_date.year, scheme=cov.scheme, visit_type=inp.visit_type,
        hospital_level=inp.hospital_level, in_province=inp.in_province, referred=inp.referred,
        in_region=inp.in_region and inp.in_province,
        service_date=inp.service_date, admission_date=inp.admission_date, total_cost=inp.total_cost,
        policy_scope_cost=inp.policy_scope_cost, basic_paid=result.basic.paid, critical_paid=result.critical.paid,
        assistance_paid=result.assistance.paid, second_round_paid=result.second_round.paid,
        out_of_pocket=result.out_of_pocket, assistance_category=status.category if result.assistance.paid else None,
        platform_settled=platform, disease=inp.disease, diagnosis=inp.diagnosis,
        chronic_review=bool(chronic) and platform and not chronic["chronic_certified"],
        basic_given=inp.basic_paid, critical_given=inp.critical_paid,
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


def _follow_fund_payments(rows: list[PersonYearLedger], *, actor=None, depth: int = 0) -> None:
    """Keep what the year ledgers imply for members in step (DOMAIN.md §3, 零报销激励):
    ``Enrollment.had_fund_payment`` of each year through members' service, then the next
    year's critical-illness cap; a person-year whose cap changed and that already has claims is
    re-settled (its claims may have been capped by the old value).  Set-based: a few
    statements per year in the batch."""
    from members.services import enrollment_caps_refresh_persons, enrollment_record_fund_payments

    by_year: dict[tuple[int, bool], list[int]] = defaultdict(list)
    for row in rows:
        by_year[(row.year, (row.basic_paid + row.critical_paid) > 0)].append(row.person_id)
    changed_next: dict[int, set[int]] = defaultdict(set)
    for (year, paid), person_ids in sorted(by_year.items()):
        if enrollment_record_fund_payments(person_ids=person_ids, year=year, paid=paid, actor=actor):
            for pid in enrollment_caps_refresh_persons(year=year + 1, person_ids=person_ids, actor=actor):
                changed_next[year + 1].add(pid)
    if not changed_next or depth > 3:
        return
    keys = {(pid, year) for year, pids in changed_next.items() for pid in pids}
    with_claims = set(Claim.objects.filter(status=ClaimStatus.SETTLED, year__in=set(changed_next),
                                           person_id__in={p for p, _y in keys})
                      .values_list("person_id", "year").distinct())
    keys &= with_claims
    if keys:
        with translation.override("zh-hans"):
            reason = _("上一年度基金报销情况变化,大病保险年度封顶线重算")
        person_years_resettle(keys=keys, actor=actor, reason=reason, _depth=depth + 1)


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


def _live_claims(keys: set[tuple[int, int]]) -> dict[tuple[int, int], list[Claim]]:
    """The claims in force (settled, not reversed) of each person-year, in settlement order
    (service date, then the order they were settled in)."""
    out: dict[tuple[int, int], list[Claim]] = defaultdict(list)
    if not keys:
        return out
    rows = (Claim.objects.filter(person_id__in={p for p, _y in keys}, year__in={y for _p, y in keys},
                                 status=ClaimStatus.SETTLED)
            .select_related("person__township").order_by("person_id", "year", "service_date", "id"))
    for claim in rows:
        if (claim.person_id, claim.year) in keys:
            out[(claim.person_id, claim.year)].append(claim)
    return out


def _latest_live_dates(keys: set[tuple[int, int]]) -> dict[tuple[int, int], date]:
    from django.db.models import Max

    rows = (Claim.objects.filter(person_id__in={p for p, _y in keys}, year__in={y for _p, y in keys},
                                 status=ClaimStatus.SETTLED)
            .values("person_id", "year").annotate(latest=Max("service_date")).order_by())
    return {(r["person_id"], r["year"]): r["latest"] for r in rows if (r["person_id"], r["year"]) in keys}


def claim_input_of(claim: Claim) -> ClaimInput:
    """The facts of a settled claim as an input, for settling it again from scratch: what the
    hospital platform gave stays given, everything else is computed again."""
    return ClaimInput(person_id=claim.person_id, visit_type=claim.visit_type, hospital_level=claim.hospital_level,
                      service_date=claim.service_date, total_cost=claim.total_cost,
                      policy_scope_cost=claim.policy_scope_cost, in_province=claim.in_province,
                      referred=claim.referred, basic_paid=claim.basic_given, critical_paid=claim.critical_given,
                      admission_date=claim.admission_date, source=claim.source,
                      bills=(claim.breakdown or {}).get("bills"), disease=claim.disease, diagnosis=claim.diagnosis,
                      in_region=claim.in_region, ref=f"#{claim.pk}")


def _fold(ctx: _Context, existing: list[Claim], new: list[tuple[int, ClaimInput]]
          ) -> tuple[dict[str, Decimal], dict[int, tuple[Claim, dict[str, Decimal]]],
                     dict[int, tuple[Claim, dict[str, Decimal]]]]:
    """Settle a person-year from scratch (DOMAIN.md §5, 一个台账): its claims in force and the
    ``new`` inputs together, in service-date order (claims already settled first on a day, then
    the new ones in input order), each against the cumulative ledger of those before it.

    Returns the final ledger state, the settlement of each existing claim (by id) and of each
    new input (by index).  This is :func:`claims.rules.settle_year` fed from the database.
    """
    steps = [((c.service_date, 0, c.pk), ("old", c.pk), claim_input_of(c)) for c in existing]
    steps += [((inp.service_date, 1, k), ("new", k), inp) for k, inp in new]
    steps.sort(key=lambda step: step[0])
    state = rules.empty_ledger()
    old: dict[int, tuple[Claim, dict[str, Decimal]]] = {}
    fresh: dict[int, tuple[Claim, dict[str, Decimal]]] = {}
    for _order, (which, ident), inp in steps:
        try:
            claim, delta = settle_one(ctx, inp, state)
        except ValidationError as exc:
            if which == "new":
                raise
            messages = [m for _f, msgs in error_items(exc) for m in msgs]
            raise ValidationError({"detail": [_("结算单 #%(id)s 不能按现有事实重新结算:%(why)s")
                                              % {"id": ident, "why": ";".join(messages)}]}) from None
        rules.apply_delta(state, delta)
        (old if which == "old" else fresh)[ident] = (claim, delta)
    return state, old, fresh


@transaction.atomic
def claims_settle_batch(*, inputs: list[ClaimInput], actor=None, cache: PolicyCache | None = None,
                        reason: str = "") -> list[Claim]:
    """Settle a batch of claims (一站式结算) atomically, in service-date order per person.

    A person-year whose new claims all date on or after its claims in force is settled
    incrementally on its ledger.  One where a new claim dates before a claim already settled
    (a late claim, 补录) is settled from scratch: the new claim gets the amounts of its place in
    the year, and the later claims' differences are written as adjustment entries (补付/追回).

    Returns the saved claims in the order of ``inputs``.  Raises :class:`BatchError` (nothing
    written) if any input is bad.
    """
    if not inputs:
        return []
    errors = _check_batch(inputs)
    if errors:
        raise BatchError(errors)
    keys = {(i.person_id, i.service_date.year) for i in inputs}
    rows = _lock_ledgers(keys)
    latest = _latest_live_dates(keys)
    late = {(i.person_id, i.service_date.year) for i in inputs
            if (i.person_id, i.service_date.year) in latest and i.service_date < latest[(i.person_id, i.service_date.year)]}
    existing = _live_claims(late)
    ctx = _load_context([*inputs, *(claim_input_of(c) for cs in existing.values() for c in cs)], cache)
    for index, inp in enumerate(inputs):
        if inp.person_id not in ctx.persons:
            errors.setdefault(inp.ref if inp.ref is not None else index,
                              ValidationError({"person": [_("参保人不存在。")]}))
    if errors:
        raise BatchError(errors)
    states = {key: _ledger_state(row) for key, row in rows.items()}
    counts: dict[tuple[int, int], int] = defaultdict(int)
    order = sorted((k for k in range(len(inputs)) if (inputs[k].person_id, inputs[k].service_date.year) not in late),
                   key=lambda k: (inputs[k].service_date, k))
    claims: list[Claim | None] = [None] * len(inputs)
    language = translation.get_language()
    expected: dict[int, tuple[dict[str, Decimal], str]] = {}
    fresh_deltas: dict[int, dict[str, Decimal]] = {}
    with translation.override("zh-hans"):
        _settle_in_order(ctx, inputs, order, states, counts, claims, errors, actor, language)
        creator = actor if getattr(actor, "is_authenticated", False) else None
        for key in sorted(late):
            new = [(k, inp) for k, inp in enumerate(inputs) if (inp.person_id, inp.service_date.year) == key]
            try:
                states[key], old, fresh = _fold(ctx, existing.get(key, []), new)
            except ValidationError as exc:
                with translation.override(language):
                    try:
                        _fold(ctx, existing.get(key, []), new)
                    except ValidationError as localized:
                        exc = localized
                ref = next((inp.ref for _k, inp in new if inp.ref is not None), new[0][0])
                errors[ref] = exc
                continue
            for k, (claim, delta) in fresh.items():
                claim.created_by = creator
                claims[k] = claim
                fresh_deltas[k] = delta
            expected.update({cid: (delta, c.policy_version) for cid, (c, delta) in old.items()})
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
        if key in late:
            row.claims_count = len(existing.get(key, [])) + sum(
                1 for i in inputs if (i.person_id, i.service_date.year) == key)
        else:
            row.claims_count += counts[key]
        row.updated_at = now
        changed.append(row)
    _write_ledgers(changed)
    if late:
        for k, delta in fresh_deltas.items():
            expected[saved[k].pk] = (delta, saved[k].policy_version)
        new_ids = {key: [c.pk for c in saved if (c.person_id, c.year) == key] for key in late}
        with translation.override("zh-hans"):
            why = {key: _("补录 %(ids)s(就诊日期早于已结算的结算单),其后的结算单按就诊日期顺序重新结算")
                   % {"ids": "、".join(f"#{i}" for i in new_ids[key])} for key in late}
        _write_adjustments(existing, expected, why=why, actor=actor, kind=EntryKind.ADJUSTMENT)
    _follow_fund_payments(changed, actor=actor)
    return saved


# ── re-settlement (重新结算) and adjustment entries ──────────────────────────────────────────
TIER_FIELDS = {
    "basic": ("basic_inpatient_paid", "basic_outpatient_paid", "basic_chronic_paid"),
    "critical": ("critical_paid",), "assistance": ("assistance_paid",), "second_round": ("second_round_paid",),
}
TIER_LABELS = {"basic": "基本医保", "critical": "大病保险", "assistance": "医疗救助", "second_round": "再救助/倾斜救助"}


def _as_delta(raw: dict | None) -> dict[str, Decimal]:
    return {k: Decimal(str(v)) for k, v in (raw or {}).items() if k in rules.LEDGER_FIELDS}


def _recorded_deltas(keys: set[tuple[int, int]]) -> dict[int, dict[str, Decimal]]:
    """What the ledger holds today for each claim of ``keys``: its own settlement, its reversal
    entry and every payout and adjustment entry written for it."""
    out: dict[int, dict[str, Decimal]] = defaultdict(rules.empty_ledger)
    pids, years = {p for p, _y in keys}, {y for _p, y in keys}
    rows = (Claim.objects.filter(person_id__in=pids, year__in=years)
            .values_list("id", "person_id", "year", "status", "reversal_of_id", "breakdown"))
    for cid, pid, year, status, reversal_of, breakdown in rows:
        if (pid, year) in keys:
            target = reversal_of if status == ClaimStatus.REVERSAL else cid
            rules.apply_delta(out[target], _as_delta((breakdown or {}).get("ledger_delta")))
    for cid, pid, year, delta in (LedgerEntry.objects.filter(person_id__in=pids, year__in=years)
                                  .exclude(claim_id=None).values_list("claim_id", "person_id", "year", "delta")):
        if (pid, year) in keys:
            rules.apply_delta(out[cid], _as_delta(delta))
    return out


def _tier_amounts(delta: dict[str, Decimal]) -> dict[str, Decimal]:
    return {tier: sum((delta.get(f, ZERO) for f in fields), ZERO) for tier, fields in TIER_FIELDS.items()}


def _entries_for(keys: set[tuple[int, int]], expected: dict[int, tuple[dict[str, Decimal], str]],
                 recorded: dict[int, dict[str, Decimal]], claims_by_id: dict[int, Claim], *,
                 why: dict[tuple[int, int], str], kind: str, application_id: int | None, actor) -> list:
    """The entries that bring each claim's recorded amounts to what settling from scratch gives
    (``expected``: claim id → (ledger delta, policy version); a claim not in it — reversed —
    is expected to hold nothing)."""
    from .models import CashStatus

    creator = actor if getattr(actor, "is_authenticated", False) else None
    entries = []
    batch = timezone.now().strftime("R%Y%m%d%H%M%S%f")
    for cid in sorted(set(expected) | set(recorded)):
        claim = claims_by_id.get(cid)
        if claim is None or claim.status == ClaimStatus.REVERSAL or (claim.person_id, claim.year) not in keys:
            continue
        want, version = expected.get(cid, ({}, ""))
        have = recorded.get(cid) or rules.empty_ledger()
        diff = {f: want.get(f, ZERO) - have.get(f, ZERO) for f in rules.LEDGER_FIELDS}
        diff = {f: v for f, v in diff.items() if v}
        if not diff:
            continue
        tiers = _tier_amounts(diff)
        fund_change = sum(tiers.values(), ZERO)
        changes = []
        for tier, amount in tiers.items():
            if amount:
                before = sum((have.get(f, ZERO) for f in TIER_FIELDS[tier]), ZERO)
                changes.append(_("%(tier)s由%(before)s元调整为%(after)s元") % {
                    "tier": _(TIER_LABELS[tier]), "before": rules.yuan(before), "after": rules.yuan(before + amount)})
        if fund_change > 0:
            direction, cash = _("补付%(a)s元") % {"a": rules.yuan(fund_change)}, CashStatus.TO_PAY
        elif fund_change < 0:
            direction, cash = _("追回%(a)s元") % {"a": rules.yuan(-fund_change)}, CashStatus.TO_RECOVER
        else:
            direction, cash = _("基金支付总额不变"), CashStatus.NONE
        key = (claim.person_id, claim.year)
        text = _("%(why)s:%(date)s 结算单 #%(id)s %(changes)s,%(direction)s。") % {
            "why": why[key], "date": claim.service_date.isoformat(), "id": cid,
            "changes": ";".join(changes) or _("起付线与限额的累计基数调整"), "direction": direction}
        entries.append(LedgerEntry(
            person_id=key[0], year=key[1], kind=kind, claim_id=cid, application_id=application_id, batch=batch,
            basic=tiers["basic"], critical=tiers["critical"], assistance=tiers["assistance"],
            second_round=tiers["second_round"], out_of_pocket=diff.get("out_of_pocket", ZERO),
            delta={f: str(v) for f, v in diff.items()}, reason=text, policy_version=version or claim.policy_version,
            cash_status=cash, created_by=creator))
    return entries


def _claims_of(keys: set[tuple[int, int]]) -> dict[int, Claim]:
    rows = Claim.objects.filter(person_id__in={p for p, _y in keys}, year__in={y for _p, y in keys}).only(
        "id", "person_id", "year", "status", "service_date", "policy_version")
    return {c.pk: c for c in rows if (c.person_id, c.year) in keys}


def _write_adjustments(existing, expected, *, why, actor, kind, application_id=None) -> list:
    keys = set(existing)
    entries = _entries_for(keys, expected, _recorded_deltas(keys), _claims_of(keys), why=why, kind=kind,
                           application_id=application_id, actor=actor)
    if entries:
        entries = bulk_create_audited(entries, LedgerEntry, actor=actor, reason=_("重新结算"), batch_size=1000)
    return entries


@dataclass
class Resettlement:
    """What re-settling some person-years found (and wrote, when confirmed)."""

    entries: list
    states: dict[tuple[int, int], dict[str, Decimal]]
    confirmed: bool

    @property
    def total(self) -> dict[str, Decimal]:
        out = {t: ZERO for t in TIER_FIELDS}
        for e in self.entries:
            for t in TIER_FIELDS:
                out[t] += getattr(e, t)
        return out


@transaction.atomic
def person_years_resettle(*, keys: set[tuple[int, int]], actor=None, reason: str, confirm: bool = True,
                          kind: str = EntryKind.ADJUSTMENT, application_id: int | None = None,
                          cache: PolicyCache | None = None, _follow: bool = True, _depth: int = 0) -> Resettlement:
    """Settle person-years again from scratch with the facts known now (重新结算) and write the
    differences as entries (``adjustment``: 补付/追回; ``payout`` for an approval's one-time
    payment), each with a readable reason; the claims themselves are never edited.

    ``confirm=False`` computes the same entries without writing anything (预览).  Running it
    again once confirmed finds nothing more to change.  Set-based: the claims, entries and
    facts of all ``keys`` are loaded in a few queries.
    """
    keys = set(keys)
    if not keys:
        return Resettlement([], {}, confirm)
    if confirm:
        rows = _lock_ledgers(keys)
    else:
        rows = {(r.person_id, r.year): r for r in PersonYearLedger.objects.filter(
            person_id__in={p for p, _y in keys}, year__in={y for _p, y in keys}) if (r.person_id, r.year) in keys}
    existing = _live_claims(keys)
    ctx = _load_context([claim_input_of(c) for cs in existing.values() for c in cs] or [], cache) \
        if existing else None
    states: dict[tuple[int, int], dict[str, Decimal]] = {}
    expected: dict[int, tuple[dict[str, Decimal], str]] = {}
    with translation.override("zh-hans"):
        for key in sorted(keys):
            if key in existing:
                states[key], old, _fresh = _fold(ctx, existing[key], [])
                expected.update({cid: (delta, claim.policy_version) for cid, (claim, delta) in old.items()})
            else:
                states[key] = rules.empty_ledger()
        why = {key: reason for key in keys}
        entries = _entries_for(keys, expected, _recorded_deltas(keys), _claims_of(keys), why=why, kind=kind,
                               application_id=application_id, actor=actor)
    if not confirm:
        return Resettlement(entries, states, False)
    if entries:
        entries = bulk_create_audited(entries, LedgerEntry, actor=actor, reason=reason, batch_size=1000)
    now = timezone.now()
    changed = []
    for key, row in rows.items():
        state = states[key]
        count = len(existing.get(key, []))
        if any(getattr(row, f) != state[f] for f in rules.LEDGER_FIELDS) or row.claims_count != count:
            for name, value in state.items():
                setattr(row, name, value)
            row.claims_count, row.updated_at = count, now
            changed.append(row)
    _write_ledgers(changed)
    if _follow:
        _follow_fund_payments(list(rows.values()), actor=actor, depth=_depth)
    return Resettlement(entries, states, True)


def claim_settle(*, person: Person, visit_type: str, hospital_level: int, service_date: date,
                 total_cost: Decimal, policy_scope_cost: Decimal, in_province: bool = True, referred: bool = False,
                 basic_paid: Decimal | None = None, critical_paid: Decimal | None = None,
                 admission_date: date | None = None, external_ref: str | None = None,
                 source: str = ClaimSource.API, bills: list[dict[str, str]] | None = None, actor=None,
                 reason: str = "", disease: str = "", diagnosis: str = "", in_region: bool = True) -> Claim:
    """Settle one claim through every tier; raise field errors (nothing written) if it cannot."""
    inp = ClaimInput(person_id=person.pk, visit_type=visit_type, hospital_level=hospital_level,
                     service_date=service_date, total_cost=total_cost, policy_scope_cost=policy_scope_cost,
                     in_province=in_province, referred=referred, basic_paid=basic_paid, critical_paid=critical_paid,
                     admission_date=admission_date, external_ref=external_ref, source=source, bills=bills,
                     disease=disease, diagnosis=diagnosis, in_region=in_region)
    try:
        return claims_settle_batch(inputs=[inp], actor=actor, reason=reason)[0]
    except BatchError as exc:
        raise next(iter(exc.by_ref.values())) from None


def claim_preview(*, person: Person, visit_type: str, hospital_level: int, service_date: date,
                  total_cost: Decimal, policy_scope_cost: Decimal, in_province: bool = True,
                  referred: bool = False, admission_date: date | None = None,
                  bills: list[dict[str, str]] | None = None, disease: str = "", diagnosis: str = "",
                  in_region: bool = True) -> Claim:
    """Compute a settlement without writing anything (the window's 试算 before confirming)."""
    inp = ClaimInput(person_id=person.pk, visit_type=visit_type, hospital_level=hospital_level,
                     service_date=service_date, total_cost=total_cost, policy_scope_cost=policy_scope_cost,
                     in_province=in_province, referred=referred, admission_date=admission_date,
                     source=ClaimSource.MANUAL, bills=bills, disease=disease, diagnosis=diagnosis, in_region=in_region)
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
    """Reverse a settled claim (冲销): mark it reversed, write the negative entry of its own
    amounts, and settle the rest of its year again from scratch — the later claims' differences
    (a cap or threshold the reversed claim had used) and any entry written for the reversed
    claim are recorded as adjustments.  Returns the reversal entry."""
    key = (claim.person_id, claim.year)
    _lock_ledgers({key})
    original = Claim.objects.select_for_update().get(pk=claim.pk)
    if original.status != ClaimStatus.SETTLED:
        raise ValidationError({"detail": [_("只有已结算的结算单可以冲销(该单状态:%(status)s)。")
                                          % {"status": original.get_status_display()}]})
    delta = original.breakdown.get("ledger_delta", {})
    reason = reason or _("冲销")
    with translation.override("zh-hans"):
        text = _("冲销 %(date)s 结算单 #%(id)s:%(reason)s") % {"date": original.service_date.isoformat(),
                                                             "id": original.pk, "reason": reason}
        why = _("冲销 %(date)s 结算单 #%(id)s 后按就诊日期顺序重新结算") % {
            "date": original.service_date.isoformat(), "id": original.pk}
    reversal = Claim(
        person_id=original.person_id, year=original.year, scheme=original.scheme, visit_type=original.visit_type,
        hospital_level=original.hospital_level, in_province=original.in_province, referred=original.referred,
        in_region=original.in_region,
        service_date=original.service_date, admission_date=original.admission_date,
        total_cost=-original.total_cost, policy_scope_cost=-original.policy_scope_cost,
        basic_paid=-original.basic_paid, critical_paid=-original.critical_paid,
        assistance_paid=-original.assistance_paid, second_round_paid=-original.second_round_paid,
        out_of_pocket=-original.out_of_pocket, assistance_category=original.assistance_category,
        platform_settled=original.platform_settled, disease=original.disease, diagnosis=original.diagnosis,
        status=ClaimStatus.REVERSAL, source=original.source,
        policy_version=original.policy_version, reversal_of=original,
        breakdown={"reverses": original.pk, "ledger_delta": {k: str(-Decimal(v)) for k, v in delta.items()}},
        explanation=text, created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    audited_save(reversal, actor=actor, reason=reason)
    original.status = ClaimStatus.REVERSED
    audited_save(original, actor=actor, reason=reason, update_fields=["status"])
    person_years_resettle(keys={key}, actor=actor, reason=why)
    return reversal


@transaction.atomic
def claim_correct(*, claim: Claim, actor=None, reason: str = "", **changes) -> Claim:
    """Correct a claim: reverse it and settle a new one with ``changes`` applied (更正 = 冲销 + 重新结算)."""
    fields = ("visit_type", "hospital_level", "service_date", "total_cost", "policy_scope_cost", "in_province",
              "referred", "basic_paid", "critical_paid", "admission_date", "disease", "diagnosis", "in_region")
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


@transaction.atomic
def ledger_resettle(*, person: Person, year: int, confirm: bool, actor, reason: str = "") -> Resettlement:
    """A reviewer's re-settlement of one person-year after correcting a fact (an identity, an
    enrolment, a registration): ``confirm=False`` previews the adjustments (nothing written),
    ``confirm=True`` writes them; the same again finds nothing."""
    from django.core.exceptions import PermissionDenied

    from yibao_site.models import Role

    if actor is None or not (getattr(actor, "is_superuser", False)
                             or getattr(actor, "role", None) in (Role.REVIEWER, Role.SUPERVISOR)):
        raise PermissionDenied(_("只有审核人员可以重新结算个人年度台账。"))
    with translation.override("zh-hans"):
        why = _("审核人员重新结算%(year)s年度台账") % {"year": year}
        if (reason or "").strip():
            why += _("(%(reason)s)") % {"reason": reason.strip()[:200]}
    return person_years_resettle(keys={(person.pk, year)}, actor=actor, reason=why, confirm=confirm)


@transaction.atomic
def ledger_entries_settle_cash(*, application_id: int, reference: str, actor=None) -> int:
    """Mark the one-time payment entries of an assistance application paid (财务已支付):
    the assistance app calls this when finance pays the approved amount."""
    from .models import CashStatus

    entries = list(LedgerEntry.objects.select_for_update().filter(
        application_id=application_id, kind=EntryKind.PAYOUT,
        cash_status__in=[CashStatus.TO_PAY, CashStatus.INSTRUCTED]).order_by("pk"))
    return _settle_cash(entries, reference=reference, actor=actor)


def _settle_cash(entries: list, *, reference: str, actor) -> int:
    from yibao_site.audit import bulk_update_audited

    from .models import CashStatus

    if any(e.cash_status == CashStatus.INSTRUCTED for e in entries):  # the bank's answer decides those
        raise ValidationError({"detail": [_("所选款项已发银行代发指令,以银行回盘结果为准,不能手工登记已支付。")]})
    now = timezone.now()
    done = {CashStatus.TO_PAY: CashStatus.PAID, CashStatus.TO_RECOVER: CashStatus.RECOVERED}
    changed = []
    for entry in entries:
        if entry.cash_status in done:
            entry.cash_status, entry.cash_reference, entry.cash_at = done[entry.cash_status], reference[:60], now
            changed.append(entry)
    bulk_update_audited(changed, LedgerEntry, ["cash_status", "cash_reference", "cash_at"], actor=actor,
                        reason=_("财务处理补付/追回"))
    return len(changed)


@transaction.atomic
def ledger_entries_settle(*, entry_ids: list[int], reference: str, actor) -> int:
    """Record that finance paid the 补付 or recovered the 追回 of these entries (a reference is
    required: the bank voucher or receipt).  Returns how many changed."""
    from django.core.exceptions import PermissionDenied

    from yibao_site.models import Role

    if actor is None or not (getattr(actor, "is_superuser", False) or getattr(actor, "role", None) == Role.FINANCE):
        raise PermissionDenied(_("只有财务人员可以办理补付和追回。"))
    reference = (reference or "").strip()
    if not reference:
        raise ValidationError({"reference": [_("请填写支付或追回凭证号。")]})
    entries = list(LedgerEntry.objects.select_for_update().filter(pk__in=entry_ids).order_by("pk"))
    return _settle_cash(entries, reference=reference, actor=actor)


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
def ledger_scratch_differences(*, year: int, person_ids=None, chunk: int = 2000) -> list[dict]:
    """Settle every person-year of ``year`` (or of ``person_ids``) again from scratch, without
    writing, and return one row per person-year whose ledger differs from it: the entries a
    re-settlement would write, by person (台账与从头重算核对)."""
    qs = PersonYearLedger.objects.filter(year=year).order_by("person_id")
    if person_ids is not None:
        qs = qs.filter(person_id__in=set(person_ids))
    ids = list(qs.values_list("person_id", flat=True))
    out = []
    for start in range(0, len(ids), chunk):
        keys = {(pid, year) for pid in ids[start:start + chunk]}
        try:
            result = person_years_resettle(keys=keys, reason="核对", confirm=False)
        except ValidationError as exc:
            out.append({"person_id": None, "year": year, "field": "resettle", "ledger": None,
                        "claims": "; ".join(m for _f, msgs in error_items(exc) for m in msgs)})
            continue
        rows = {(r.person_id, r.year): r for r in PersonYearLedger.objects.filter(
            person_id__in={p for p, _y in keys}, year=year)}
        for e in result.entries:
            out.append({"person_id": e.person_id, "year": year, "field": f"adjustment:claim#{e.claim_id}",
                        "ledger": None, "claims": e.total})
        for key, state in result.states.items():
            row = rows.get(key)
            for name in rules.LEDGER_FIELDS:
                if row is not None and getattr(row, name) != state[name]:
                    out.append({"person_id": key[0], "year": year, "field": f"scratch:{name}",
                                "ledger": getattr(row, name), "claims": state[name]})
    return out


@transaction.atomic
def ledger_check_run(*, year: int, on: date | None = None, from_scratch: bool = True) -> "LedgerCheck":
    """Check every ledger of ``year`` against its claims and entries, and (``from_scratch``)
    against settling the year again from the facts known now; record the result for ``on``
    (default today); a second run the same day updates the same record."""
    from .models import LedgerCheck

    on = on or timezone.localdate()
    found = selectors.ledger_mismatches(year=year)
    if from_scratch:
        found += ledger_scratch_differences(year=year)
    details = [{**row, "ledger": str(row["ledger"]), "claims": str(row["claims"])} for row in found[:100]]
    check, _created = LedgerCheck.objects.update_or_create(
        year=year, checked_on=on,
        defaults={"ledgers": PersonYearLedger.objects.filter(year=year).count(), "mismatches": len(found),
                  "details": details})
    return check
