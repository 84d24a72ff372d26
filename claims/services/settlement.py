"""Settlement (一站式结算) of one claim or a batch, the window's trial settlement, reversal
(冲销) and correction (更正 = 冲销 + 重新结算).

Settlement is set-based so that one claim and a hundred thousand run the same code: for a
batch, the persons, enrolments, identities, entitlements, open inpatient stays and year
ledgers are loaded in one query each; the ledger rows are created if missing (under their
unique constraint) and locked ``FOR UPDATE`` in (person, year) order; the claims are settled
in memory in service-date order (claims/rules); claims, their history and the ledgers are
written in bulk.  Two settlements for the same person therefore serialise on the ledger row
and can never pass an annual cap together."""
from __future__ import annotations

import dataclasses
from collections import defaultdict
from datetime import date
from decimal import Decimal
from operator import attrgetter, itemgetter

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from members.models import Person
from yibao_site.actors import require_actor
from yibao_site.audit import audited_save
from yibao_site.policy import PolicyCache

from .. import rules
from ..selectors import SettlementPolicyCache
from ..models import Claim, ClaimSource, ClaimStatus, EntryKind, PersonYearLedger
from .engine import (
    COLLECTOR_PAUSE_MIN, _check_batch, _fold, _insert_claims, _late_keys, _ledger_state, _live_claims,
    _load_context, _lock_ledgers, collector_paused, _person_facts, _settle_in_order, _write_ledgers, claim_input_of, settle_one,
)
from .inputs import BatchError, ClaimInput, claim_input_check
from .ledger import _follow_fund_payments, _resettle, _write_adjustments
from .roles import SETTLE_ROLES


@transaction.atomic
def claims_settle_batch(*, inputs: list[ClaimInput], actor, cache: PolicyCache | None = None,
                        reason: str = "", persons: dict | None = None) -> list[Claim]:
    """Settle a batch of claims (一站式结算) atomically, in service-date order per person.

    A person-year whose new claims all date on or after its claims in force is settled
    incrementally on its ledger.  One where a new claim dates before a claim already settled
    (a late claim, 补录) is settled from scratch: the new claim gets the amounts of its place in
    the year, and the later claims' differences are written as adjustment entries (补付/追回).

    Returns the saved claims in the order of ``inputs``.  Raises :class:`BatchError` (nothing
    written) if any input is bad.  A window clerk or a supervisor (the API's and the import's
    roles), or the platform-file import run as a job (the command line without ``--user``).
    """
    require_actor(actor, SETTLE_ROLES, system=True)
    if not inputs:
        return []
    with collector_paused(len(inputs) >= COLLECTOR_PAUSE_MIN):
        if _spans_consecutive_years(inputs):
            return _settle_year_by_year(inputs, actor, cache, reason, persons)
        return _settle_batch(inputs, actor, cache, reason, persons)


def _spans_consecutive_years(inputs: list[ClaimInput]) -> bool:
    """Whether some person has claims of a year and of the next in the batch (a January file
    with December's claims): the first year's fund payments decide the next year's
    critical-illness cap (零报销激励, DOMAIN.md §3)."""
    keys = {(i.person_id, i.service_date.year) for i in inputs}
    return any((pid, year + 1) in keys for pid, year in keys)


def _settle_year_by_year(inputs: list[ClaimInput], actor, cache, reason: str, persons) -> list[Claim]:
    """Settle each year's claims before the next year's, in the one transaction: the next
    year's claims then meet the cap the earlier year implies, as they would had the years come
    in two batches — the same amounts and explanations whatever the batch size, and no
    adjustment entry for a cap the batch itself changed.  Errors of every year are reported
    together, keyed as in one batch (the input's ``ref``, or its index in ``inputs``).  The
    input check runs once, over the whole batch (each year's part is not checked again)."""
    errors = _check_batch(inputs)
    if errors:
        raise BatchError(errors)
    saved: list[Claim | None] = [None] * len(inputs)
    for year in sorted({i.service_date.year for i in inputs}):
        positions = [k for k, inp in enumerate(inputs) if inp.service_date.year == year]
        part = [inputs[k] if inputs[k].ref is not None else dataclasses.replace(inputs[k], ref=k)
                for k in positions]
        try:
            for k, claim in zip(positions, _settle_batch(part, actor, cache, reason, persons, checked=True)):
                saved[k] = claim
        except BatchError as exc:  # nothing of this year written; the others' errors too
            errors.update(exc.by_ref)
    if errors:
        raise BatchError(errors)  # the transaction rolls back the years that were settled
    return saved


def _settle_batch(inputs: list[ClaimInput], actor, cache, reason: str, persons, *, checked: bool = False) -> list[Claim]:
    # ``checked``: the caller has run _check_batch over these inputs (or a batch holding them)
    errors = {} if checked else _check_batch(inputs)
    if errors:
        raise BatchError(errors)
    keys = {(i.person_id, i.service_date.year) for i in inputs}
    facts = None
    if len({i.person_id for i in inputs}) == 1 and not isinstance(cache, SettlementPolicyCache):
        # One person (the window's, the API's settlement): the ledger rows locked, then
        # everything else read in one statement (on SQLite the ledger rows in it too).
        pid = inputs[0].person_id
        years = {y for _p, y in keys}
        start, end = min(i.service_date for i in inputs), max(i.service_date for i in inputs)
        if connection.vendor == "postgresql":
            rows = _lock_ledgers(keys)
            facts = _person_facts(pid, years, start, end)
        else:
            facts = _person_facts(pid, years, start, end, with_ledgers=True)
            if facts is None:
                _lock_ledgers(keys)
                facts = _person_facts(pid, years, start, end, with_ledgers=True)
            rows = facts.ledgers
        latest = facts.latest
        late = {(i.person_id, i.service_date.year) for i in inputs
                if (i.person_id, i.service_date.year) in latest
                and i.service_date < latest[(i.person_id, i.service_date.year)]}
    else:
        rows = _lock_ledgers(keys)
        late = _late_keys(inputs)
    existing = _live_claims(late)
    ctx = _load_context([*inputs, *(claim_input_of(c) for cs in existing.values() for c in cs)], cache,
                        persons=persons, facts=facts if not late else None)
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
    with rules.language("zh-hans"):
        _settle_in_order(ctx, inputs, order, states, counts, claims, errors, actor, language)
        creator = actor if getattr(actor, "is_authenticated", False) else None
        for key in sorted(late):
            new = [(k, inp) for k, inp in enumerate(inputs) if (inp.person_id, inp.service_date.year) == key]
            try:
                states[key], old, fresh = _fold(ctx, existing.get(key, []), new)
            except ValidationError as exc:
                with rules.language(language):
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
    # The amount columns some row's new state changed: only those are written (the others
    # would be written with the values they hold; a batch of a few weeks' claims leaves the
    # other months' out-of-pocket columns and often a tier's untouched).
    amounts = _changed_fields(rows, states)
    for key, row in rows.items():
        state = states[key]
        for name in amounts:  # the others hold what the state holds (only ``amounts`` are written)
            setattr(row, name, state[name])
        if key in late:
            row.claims_count = len(existing.get(key, [])) + sum(
                1 for i in inputs if (i.person_id, i.service_date.year) == key)
        else:
            row.claims_count += counts[key]
        row.updated_at = now
        changed.append(row)
    _write_ledgers(changed, amounts)
    if late:
        for k, delta in fresh_deltas.items():
            expected[saved[k].pk] = (delta, saved[k].policy_version)
        new_ids = {key: [c.pk for c in saved if (c.person_id, c.year) == key] for key in late}
        with rules.language("zh-hans"):
            why = {key: _("补录 %(ids)s(就诊日期早于已结算的结算单),其后的结算单按就诊日期顺序重新结算")
                   % {"ids": "、".join(f"#{i}" for i in new_ids[key])} for key in late}
        _write_adjustments(existing, expected, why=why, actor=actor, kind=EntryKind.ADJUSTMENT)
    _follow_fund_payments(changed, actor=actor, flags=facts.fund_flags if facts is not None else None)
    return saved


def _changed_fields(rows: dict, states: dict) -> list[str]:
    """The ledger fields (in :data:`rules.LEDGER_FIELDS` order) whose value in ``states``
    differs from the row's in some row — what ``any(state[f] != row.f for every row)`` per
    field finds, by comparing each row's still-unchanged fields as one tuple (two C calls a
    row; the per-field generator over every row was 5 % of the batch's Python)."""
    same = list(rules.LEDGER_FIELDS)
    of_row, of_state = attrgetter(*same), itemgetter(*same)
    for key, row in rows.items():
        state = states[key]
        if of_row(row) != of_state(state):
            same = [name for name in same if state[name] == getattr(row, name)]
            if not same:
                break
            of_row, of_state = attrgetter(*same), itemgetter(*same)
    unchanged = set(same)
    return [name for name in rules.LEDGER_FIELDS if name not in unchanged]


def claim_settle(*, person: Person, visit_type: str, hospital_level: int, service_date: date,
                 total_cost: Decimal, policy_scope_cost: Decimal, in_province: bool = True, referred: bool = False,
                 basic_paid: Decimal | None = None, critical_paid: Decimal | None = None,
                 admission_date: date | None = None, external_ref: str | None = None,
                 source: str = ClaimSource.API, bills: list[dict[str, str]] | None = None, actor,
                 reason: str = "", disease: str = "", diagnosis: str = "", in_region: bool = True) -> Claim:
    """Settle one claim through every tier; raise field errors (nothing written) if it cannot."""
    require_actor(actor, SETTLE_ROLES)
    inp = ClaimInput(person_id=person.pk, visit_type=visit_type, hospital_level=hospital_level,
                     service_date=service_date, total_cost=total_cost, policy_scope_cost=policy_scope_cost,
                     in_province=in_province, referred=referred, basic_paid=basic_paid, critical_paid=critical_paid,
                     admission_date=admission_date, external_ref=external_ref, source=source, bills=bills,
                     disease=disease, diagnosis=diagnosis, in_region=in_region)
    persons = None
    if Person.township.is_cached(person) and person.township is not None:
        persons = {person.pk: (person.township_id, person.township)}
    try:
        claim = claims_settle_batch(inputs=[inp], actor=actor, reason=reason, persons=persons)[0]
        claim.person = person
        return claim
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
    with rules.language("zh-hans"):
        claim, _delta = settle_one(ctx, inp, state)
    claim.person = person
    return claim


# ── reversal and correction ───────────────────────────────────────────────────────────────
@transaction.atomic
def claim_reverse(*, claim: Claim, actor, reason: str = "") -> Claim:
    """Reverse a settled claim (冲销): mark it reversed, write the negative entry of its own
    amounts, and settle the rest of its year again from scratch — the later claims' differences
    (a cap or threshold the reversed claim had used) and any entry written for the reversed
    claim are recorded as adjustments.  Returns the reversal entry."""
    require_actor(actor, SETTLE_ROLES)
    key = (claim.person_id, claim.year)
    _lock_ledgers({key})
    original = Claim.objects.select_for_update().get(pk=claim.pk)
    if original.status != ClaimStatus.SETTLED:
        raise ValidationError({"detail": [_("只有已结算的结算单可以冲销(该单状态:%(status)s)。")
                                          % {"status": original.get_status_display()}]})
    delta = original.breakdown.get("ledger_delta", {})
    reason = reason or _("冲销")
    with rules.language("zh-hans"):
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
    _resettle(keys={key}, actor=actor, reason=why)
    return reversal


@transaction.atomic
def claim_correct(*, claim: Claim, actor, reason: str = "", **changes) -> Claim:
    """Correct a claim: reverse it and settle a new one with ``changes`` applied (更正 = 冲销 + 重新结算)."""
    require_actor(actor, SETTLE_ROLES)
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
