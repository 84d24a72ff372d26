"""The settlement engine: a batch's facts loaded set-based, one claim settled on an in-memory
ledger (:func:`settle_one`), a person-year settled from scratch (:func:`_fold`), the ledger rows
locked in (person, year) order and written back in one statement."""
from __future__ import annotations

import operator
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Context as DecimalContext
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Max
from django.db.models.base import ModelState
from django.utils import timezone
from django.utils.translation import gettext as _

from chronic.public import catalogue_for_codes, certified_diseases, is_certified, pick_catalogue_entry
from members.models import Person, Scheme
from yibao_site.audit import bulk_create_audited
from yibao_site.collector import collector_paused  # noqa: F401 (claims.services exports it)
from yibao_site.lookups import array_literal
from yibao_site.models import Region
from yibao_site.money import to_fen
from yibao_site.policy import PolicyCache

from .. import rules, selectors
from ..models import Claim, ClaimStatus, PersonYearLedger, VisitType
from .inputs import ClaimInput, claim_input_check, error_items


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


@dataclass
class _PersonFacts:
    """What one person's settlement reads, in one statement (:func:`_person_facts`)."""

    coverage: dict
    assistance: dict
    latest: dict[tuple[int, int], date]
    fund_flags: dict[tuple[int, int], list[bool]]  # (person, year) → had_fund_payment of each enrolment
    cache: selectors.SettlementPolicyCache
    ledgers: dict[tuple[int, int], "LedgerRow"] | None = None


#: Batches of at least this many inputs settle with Python's cyclic garbage collector paused.
COLLECTOR_PAUSE_MIN = 1000


def _json_rows(text) -> list:
    import json

    if text is None:
        return []
    return json.loads(text) if isinstance(text, str) else text


def _day(value):
    return date.fromisoformat(value) if isinstance(value, str) else value


def _money(value):
    if value is None:
        return None
    if isinstance(value, float):  # SQLite keeps decimals as REAL: read as Django's own SQLite converter does
        value = DecimalContext(prec=15).create_decimal_from_float(value)
    return to_fen(value)


def _person_facts(person_id: int, years: set[int], start: date, end: date, *, with_ledgers: bool = False
                  ) -> _PersonFacts | None:
    """One person's enrolments, identities, entitlements, latest settled service date per year,
    fund-payment flags and the policy cache's version, in ONE statement (scalar subqueries
    aggregating JSON: ``json_agg`` on PostgreSQL, ``json_group_array`` on SQLite) — the
    single settlement's context.  Run it after the ledger rows are locked (its reads then see
    what the previous holder of the lock committed).

    ``with_ledgers`` (SQLite, which has no row locks: its writers are serialised by the
    database) reads the ledger rows of ``years`` in the same statement; ``None`` is returned
    when one of them is missing (the caller creates it and asks again)."""
    from members.models import AssistanceEntitlement, Enrollment, Identity
    from yibao_site.policy import shared_policy_cache_at, shared_policy_token_sql

    pg = connection.vendor == "postgresql"
    qn = connection.ops.quote_name

    def json_rows(cells: str, source: str) -> str:
        if pg:
            return f"(SELECT json_agg(json_build_array({cells}))::text FROM {source})"
        return f"(SELECT json_group_array(json_array({cells})) FROM {source})"

    def agg(columns: list[str], table, where: str) -> str:
        return json_rows(", ".join(columns), f"{qn(table._meta.db_table)} WHERE {where}")

    def text(column: str) -> str:
        return f"{column}::text" if pg else f"CAST({column} AS TEXT)"

    year_list = sorted(years)
    cover_years = sorted(years | {y + 1 for y in years})
    marks = lambda values: ", ".join(["%s"] * len(values))  # noqa: E731
    params: list = []
    enrol = agg(["id", "person_id", "year", "scheme", "employee_status", "benefit_start", "benefit_end",
                 text("critical_illness_cap"), "active", "had_fund_payment"], Enrollment,
                f"person_id = %s AND year IN ({marks(cover_years)})")
    params += [person_id, *cover_years]
    ident = agg(["person_id", "kind", "valid_from", "valid_to"], Identity,
                "person_id = %s AND valid_from <= %s AND (valid_to IS NULL OR valid_to >= %s)")
    params += [person_id, end, start]
    entitle = agg(["person_id", "kind", "category", "valid_from", "valid_to", "revoked_on"], AssistanceEntitlement,
                  "person_id = %s AND valid_from <= %s AND valid_to >= %s AND (revoked_on IS NULL OR revoked_on > %s)")
    params += [person_id, end, start, start]
    claims = qn(Claim._meta.db_table)
    latest = json_rows("year, m", f"(SELECT year, MAX(service_date) AS m FROM {claims} WHERE person_id = %s "
                                  f"AND year IN ({marks(year_list)}) AND status = %s GROUP BY year) AS t")
    params += [person_id, *year_list, ClaimStatus.SETTLED]
    scalars = f"{enrol}, {ident}, {entitle}, {latest}, {shared_policy_token_sql()}"
    with connection.cursor() as cursor:
        if with_ledgers:
            table = qn(PersonYearLedger._meta.db_table)
            columns = ", ".join(qn(c) for c in _LOCK_COLUMNS)
            cursor.execute(f"SELECT {columns}, {scalars} FROM {table} WHERE person_id = %s "
                           f"AND year IN ({marks(year_list)})", [*params, person_id, *year_list])
            found = cursor.fetchall()
            if len(found) != len(year_list):
                return None
            width = len(_LOCK_COLUMNS)
            ledgers = {}
            for row in found:
                amounts = [_money(v) for v in row[3:width - 1]]
                ledgers[(row[1], row[2])] = LedgerRow(row[0], row[1], row[2], amounts, row[width - 1])
            row = found[0][width:]
        else:
            cursor.execute(f"SELECT {scalars}", params)
            row, ledgers = cursor.fetchone(), None
    enrolments, identities, entitlements, latest_rows = (_json_rows(v) for v in row[:4])
    coverage = selectors.coverage_of_rows(
        (e[0], e[1], e[2], e[3], e[4], _day(e[5]), _day(e[6]), _money(e[7])) for e in enrolments if e[8])
    flags: dict[tuple[int, int], list[bool]] = defaultdict(list)
    for e in enrolments:
        flags[(e[1], e[2])].append(bool(e[9]))
    assistance = selectors.assistance_of_rows(
        ((i[0], i[1], _day(i[2]), _day(i[3])) for i in identities),
        ((a[0], a[1], a[2], _day(a[3]), _day(a[4]), _day(a[5])) for a in entitlements))
    return _PersonFacts(coverage, assistance, {(person_id, y): _day(m) for y, m in latest_rows},
                        dict(flags), shared_policy_cache_at(row[4:8]), ledgers)


def _load_context(inputs: list[ClaimInput], cache: PolicyCache | None, *, persons=None,
                  facts: _PersonFacts | None = None) -> _Context:
    """The facts of a batch, one query each; ``persons`` (person id → (township id,
    township)) and ``facts`` (one person's, :func:`_person_facts`) when already read."""
    person_ids = {i.person_id for i in inputs}
    if persons is None or not person_ids <= set(persons):
        persons = _persons_of(person_ids)
    years = {i.service_date.year for i in inputs}
    start = min(i.service_date for i in inputs)
    end = max(i.service_date for i in inputs)
    if facts is not None:
        coverage, assistance, cache = facts.coverage, facts.assistance, facts.cache
    else:
        coverage = selectors.coverage_facts(person_ids, years | {y + 1 for y in years})
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
        certified = certified_diseases({i.person_id for i in chronic},
                                                         min(i.service_date for i in chronic),
                                                         max(i.service_date for i in chronic))
        catalogue = catalogue_for_codes({i.disease for i in chronic})
    away = {i.person_id for i in inputs if not i.in_region or not i.in_province}
    offsite = selectors.offsite_periods(away, start, end) if away else {}
    return _Context(persons, coverage, assistance, stays, cache, certified=certified, catalogue=catalogue,
                    offsite=offsite)


def _persons_of(person_ids: set[int]) -> dict[int, tuple[int, Region | None]]:
    """person id → (township id, township): the persons as plain (id, township id) rows, their
    few townships loaded once and shared (no model instance per person)."""
    rows = list(Person.objects.filter(pk__any=sorted(person_ids)).values_list("id", "township_id"))
    townships = {r.pk: r for r in Region.objects.filter(pk__in={t for _p, t in rows if t is not None})
                 .only("id", "code", "path")}
    return {pid: (tid, townships.get(tid)) for pid, tid in rows}


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


class LedgerRow:
    """A locked ledger row as settlement needs it: its key, amounts and count (no model
    instance: 30 decimal fields per row cost more to build than to settle)."""

    __slots__ = ("pk", "person_id", "year", *rules.LEDGER_FIELDS, "claims_count", "updated_at")

    def __init__(self, pk, person_id, year, amounts, claims_count, updated_at=None):
        self.pk, self.person_id, self.year = pk, person_id, year
        for name, value in zip(rules.LEDGER_FIELDS, amounts):
            setattr(self, name, value)
        self.claims_count, self.updated_at = claims_count, updated_at

    @property
    def id(self):
        return self.pk

    @property
    def basic_paid(self):
        return self.basic_inpatient_paid + self.basic_outpatient_paid + self.basic_chronic_paid


_LOCK_COLUMNS = ("id", "person_id", "year", *rules.LEDGER_FIELDS, "claims_count")


def _row_of(values) -> LedgerRow:
    return LedgerRow(values[0], values[1], values[2], values[3:-1], values[-1])


def _lock_ledgers(keys: set[tuple[int, int]]) -> dict[tuple[int, int], LedgerRow]:
    """Lock the ledger rows of ``keys`` in (person, year) order, creating the missing ones
    first (under the unique (person, year) constraint a concurrent creator makes that a no-op).

    By key and only the columns settlement needs; on PostgreSQL the ids travel as one array
    (``= ANY``) and the missing rows are written by one ``INSERT … ON CONFLICT DO NOTHING
    RETURNING`` (the rows it inserted are this transaction's; only those a concurrent
    settlement created first are locked again)."""
    if not keys:
        return {}
    if connection.vendor == "postgresql":
        return _lock_ledgers_pg(keys)
    person_ids = {p for p, _ in keys}
    years = {y for _, y in keys}

    def lock(pids):
        rows = (PersonYearLedger.objects.select_for_update()
                .filter(person_id__in=pids, year__in=years).order_by("person_id", "year")
                .values_list(*_LOCK_COLUMNS))
        return {(row[1], row[2]): _row_of(row) for row in rows if (row[1], row[2]) in keys}

    locked = lock(person_ids)
    missing = sorted(keys - set(locked))
    if missing:
        PersonYearLedger.objects.bulk_create([PersonYearLedger(person_id=p, year=y) for p, y in missing],
                                             ignore_conflicts=True, batch_size=2000)
        locked.update(lock({p for p, _ in missing}))
    return locked


def _lock_ledgers_pg(keys: set[tuple[int, int]]) -> dict[tuple[int, int], LedgerRow]:
    qn = connection.ops.quote_name
    table = qn(PersonYearLedger._meta.db_table)
    columns = ", ".join(qn(c) for c in _LOCK_COLUMNS)
    years = sorted({y for _, y in keys})

    def lock(pids) -> dict:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {columns} FROM {table} WHERE person_id = ANY(%s::bigint[]) "
                           f"AND year = ANY(%s::integer[]) ORDER BY person_id, year FOR UPDATE",
                           [array_literal(sorted(pids)), array_literal(years)])
            return {(row[1], row[2]): _row_of(row) for row in cursor.fetchall() if (row[1], row[2]) in keys}

    locked = lock({p for p, _ in keys})
    missing = sorted(keys - set(locked))
    if missing:
        zero = rules.ZERO
        for pk, pid, year in _insert_ledgers_pg(missing):
            locked[(pid, year)] = LedgerRow(pk, pid, year, [zero] * len(rules.LEDGER_FIELDS), 0)
        raced = [key for key in missing if key not in locked]
        if raced:  # created by a concurrent settlement between our lock and our insert
            locked.update(lock({p for p, _ in raced}))
    return locked


def _insert_ledgers_pg(keys: list[tuple[int, int]]) -> list[tuple[int, int, int]]:
    """Empty ledger rows for ``keys`` by one ``INSERT … ON CONFLICT DO NOTHING RETURNING``:
    (id, person, year) of the rows this transaction created.  A key another transaction is
    creating waits for it to end (the unique index's check), then is left alone."""
    qn = connection.ops.quote_name
    zeros = ", ".join("0" for _f in rules.LEDGER_FIELDS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {qn(PersonYearLedger._meta.db_table)} (person_id, year, "
            f"{', '.join(qn(f) for f in rules.LEDGER_FIELDS)}, claims_count, updated_at) "
            f"SELECT k.p, k.y, {zeros}, 0, %s "
            f"FROM unnest(%s::bigint[], %s::integer[]) AS k(p, y) ORDER BY k.p, k.y "
            f"ON CONFLICT (person_id, year) DO NOTHING RETURNING id, person_id, year",
            [timezone.now(), array_literal([p for p, _ in keys]), array_literal([y for _, y in keys])])
        return cursor.fetchall()


def _hold_ledgers(keys: set[tuple[int, int]]) -> list[int]:
    """Take the ledger rows of ``keys`` as a settlement would, before touching the enrolments
    that settlement reads after its own ledger lock (the caps refresh): existing rows are
    locked, missing ones created empty — a settlement of such a person-year's first claim
    that is under way is waited for (its claim is then visible to the caller), one that starts
    now waits until the caller commits and then reads what it committed.  Returns the ids of
    the rows created here, for :func:`_release_ledgers` before the commit.

    PostgreSQL only: SQLite serialises writers itself (nothing to hold, nothing created)."""
    if not keys or connection.vendor != "postgresql":
        return []

    def lock(which) -> set[tuple[int, int]]:
        return set(PersonYearLedger.objects.select_for_update()
                   .filter(person_id__any=sorted({p for p, _ in which}), year__in={y for _, y in which})
                   .order_by("person_id", "year").values_list("person_id", "year")) & which

    missing = sorted(keys - lock(keys))
    created = _insert_ledgers_pg(missing) if missing else []
    raced = set(missing) - {(pid, year) for _pk, pid, year in created}
    if raced:  # created by a concurrent settlement meanwhile (we waited for its commit)
        lock(raced)
    return [pk for pk, _pid, _year in created]


def _release_ledgers(ids: list[int]) -> None:
    """Delete the empty rows :func:`_hold_ledgers` created (a person-year with no claim has
    no ledger row); a settlement waiting on one of them creates its own once the caller
    commits."""
    if ids:
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {connection.ops.quote_name(PersonYearLedger._meta.db_table)} "
                           f"WHERE id = ANY(%s::bigint[]) AND claims_count = 0", [array_literal(ids)])


_LEDGER_AMOUNTS = operator.attrgetter(*rules.LEDGER_FIELDS)


def _ledger_state(row) -> dict[str, Decimal]:
    return dict(zip(rules.LEDGER_FIELDS, _LEDGER_AMOUNTS(row)))


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
            entry = pick_catalogue_entry(ctx.catalogue.get(inp.disease), township.path,
                                                           inp.service_date)
            if entry is None:
                raise ValidationError({"disease": [_("病种 %(code)s 不在本地区%(date)s的门诊慢特病目录中。")
                                                   % {"code": inp.disease, "date": inp.service_date.isoformat()}]})
        chronic = {"chronic_disease": inp.disease,
                   "chronic_certified": bool(inp.disease) and is_certified(
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
    # Positionally, in the order of _CLAIM_FIELDS (no keyword matching, no default per field
    # left out, no setattr per field: what ``Model.__init__`` leaves in the instance).
    claim = _new_claim((
        None, inp.person_id, inp.service_date.year, cov.scheme, inp.visit_type,
        inp.hospital_level, inp.in_province, inp.referred, inp.in_region and inp.in_province,
        inp.service_date, inp.admission_date, inp.total_cost,
        inp.policy_scope_cost, result.basic.paid, result.critical.paid,
        result.assistance.paid, result.second_round.paid,
        result.out_of_pocket, status.category if result.assistance.paid else None,
        platform, inp.basic_paid, inp.critical_paid, inp.disease, inp.diagnosis,
        bool(chronic) and platform and not chronic["chronic_certified"],
        ClaimStatus.SETTLED, inp.source, inp.external_ref or None,
        version, breakdown, explanation, None, None, None,
    ))
    return claim, result.delta


def _new_claim(values: tuple) -> Claim:
    """An unsaved Claim of its concrete field values in :data:`_CLAIM_FIELDS` order — the
    instance ``Claim(*values)`` builds (its state, then one attribute per field), without
    Django's per-field loop (Claim has no init signal receivers)."""
    claim = object.__new__(Claim)
    claim._state = ModelState()
    claim.__dict__.update(zip(_CLAIM_FIELDS, values))
    return claim


#: Claim's concrete fields in the order :func:`settle_one` passes them (a test holds it to the model).
_CLAIM_FIELDS = (
    "id", "person_id", "year", "scheme", "visit_type", "hospital_level", "in_province", "referred", "in_region",
    "service_date", "admission_date", "total_cost", "policy_scope_cost", "basic_paid", "critical_paid",
    "assistance_paid", "second_round_paid", "out_of_pocket", "assistance_category", "platform_settled",
    "basic_given", "critical_given", "disease", "diagnosis", "chronic_review", "status", "source",
    "external_ref", "policy_version", "breakdown", "explanation", "reversal_of_id", "created_by_id", "settled_at",
)


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
        taken = set(Claim.objects.filter(external_ref__any=refs).values_list("external_ref", flat=True))
        seen: set[str] = set()
        for index, inp in enumerate(inputs):
            if inp.external_ref and (inp.external_ref in taken or inp.external_ref in seen):
                errors.setdefault(inp.ref if inp.ref is not None else index, ValidationError(
                    {"external_ref": [_("平台结算流水号 %(ref)s 已结算过。") % {"ref": inp.external_ref}]}))
            if inp.external_ref:
                seen.add(inp.external_ref)
    return errors


def _insert_claims(claims: list[Claim], *, actor, reason: str) -> list[Claim]:
    """Write new claims and their history rows (``COPY`` for large batches on PostgreSQL)."""
    return bulk_create_audited(claims, Claim, actor=actor, reason=reason, batch_size=1000)


LEDGER_WRITE_FIELDS = (*rules.LEDGER_FIELDS, "claims_count", "updated_at")


def _write_ledgers(rows, amounts: tuple[str, ...] | list[str] = rules.LEDGER_FIELDS) -> None:
    """Write the locked ledger rows back: their ``amounts`` (the amount columns the caller
    changed in some row: every one by default), count and timestamp.  On PostgreSQL one
    ``UPDATE … FROM unnest(arrays)`` for all rows (one statement, one array per column);
    elsewhere one parameterised UPDATE executed for all rows (``bulk_update``'s CASE
    expressions over 30 columns cost more than the settlement)."""
    if not rows:
        return
    amounts = [name for name in rules.LEDGER_FIELDS if name in set(amounts)]
    table = PersonYearLedger._meta.db_table
    qn = connection.ops.quote_name
    stamp = PersonYearLedger._meta.get_field("updated_at")
    if connection.vendor == "postgresql":
        # One array literal per column (a string built by ``join``: psycopg would dump the
        # values one by one); rows sharing their timestamp (a batch's) send it once.
        stamps = {row.updated_at for row in rows}
        shared = len(stamps) == 1
        columns = [*amounts, "claims_count", *([] if shared else ["updated_at"])]
        names = [qn(name) for name in columns]
        types = ["numeric[]"] * len(amounts) + ["integer[]"] + ([] if shared else ["timestamptz[]"])
        params = [_numeric_literal([getattr(row, name) for row in rows]) for name in amounts]
        params.append(array_literal([row.claims_count for row in rows]))
        if not shared:
            params.append([row.updated_at for row in rows])
        params.append(array_literal([row.pk for row in rows]))
        sets = ", ".join(f"{n} = v.{n}" for n in names) + (f", {qn('updated_at')} = %s" if shared else "")
        arrays = ", ".join(f"%s::{t}" for t in (*types, "bigint[]"))
        sql = (f"UPDATE {qn(table)} AS l SET {sets} FROM unnest({arrays}) AS v({', '.join(names)}, id) "
               f"WHERE l.id = v.id")
        if shared:
            params = [*stamps, *params]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
        return
    sets = ", ".join(f"{qn(name)} = %s" for name in (*amounts, "claims_count", "updated_at"))
    sql = f"UPDATE {qn(table)} SET {sets} WHERE {qn('id')} = %s"
    params = [[getattr(row, name) for name in amounts]
              + [row.claims_count, stamp.get_db_prep_save(row.updated_at, connection), row.pk] for row in rows]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def _numeric_literal(values: list) -> str | list:
    """Decimals as a PostgreSQL ``numeric[]`` literal (``{1.50,0.00}``: ``str`` of a finite
    Decimal is exact, and PostgreSQL reads its exponent form too); anything else is left to
    the driver as a list."""
    if all(type(v) is Decimal and v.is_finite() for v in values):
        return "{" + ",".join(map(str, values)) + "}"
    return values


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
            with rules.language(language):
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
    rows = (Claim.objects.filter(person_id__any=sorted({p for p, _y in keys}), year__in={y for _p, y in keys},
                                 status=ClaimStatus.SETTLED)
            .select_related("person__township").order_by("person_id", "year", "service_date", "id"))
    for claim in rows:
        if (claim.person_id, claim.year) in keys:
            out[(claim.person_id, claim.year)].append(claim)
    return out


def _late_keys(inputs: list[ClaimInput]) -> set[tuple[int, int]]:
    """The person-years of ``inputs`` where an input dates before a claim in force of that
    year (a late claim, 补录): those whose earliest new service date is before the latest
    claim in force.

    On PostgreSQL one sub-select per key asks for the claims in force dated after its earliest
    new date, by person and service date only (the year and status test the rows found): the
    (person, service_date) index answers it, and in the usual case — the new claims are the
    latest — it finds no entry and reads no claim.  Asked as one ``WHERE person_id IN (…) AND
    year = … AND status = …`` (the latest date of every key), a planner without statistics
    (autovacuum off, a table just loaded) took the (status, year) index as the selective one and
    read every claim in force of the year for each batch: a cost that grew with the table."""
    earliest: dict[tuple[int, int], date] = {}
    for inp in inputs:
        key = (inp.person_id, inp.service_date.year)
        if key not in earliest or inp.service_date < earliest[key]:
            earliest[key] = inp.service_date
    if connection.vendor != "postgresql":
        latest = _latest_live_dates(set(earliest))
        return {key for key, day in earliest.items() if key in latest and day < latest[key]}
    qn = connection.ops.quote_name
    ordered = sorted(earliest)
    with connection.cursor() as cursor:
        # Without statistics each key's probe is costed at a thousand (a few index entries in
        # truth), enough for PostgreSQL to JIT-compile the statement: ≈ 0.4 s a batch for a
        # statement that runs in 10 ms.  JIT is off for this statement only.
        cursor.execute("SELECT current_setting('jit'), set_config('jit', 'off', true)")
        jit = cursor.fetchone()[0]
        cursor.execute(
            f"SELECT k.p, k.y FROM unnest(%s::bigint[], %s::integer[], %s::date[]) AS k(p, y, d) "
            f"WHERE (SELECT bool_or(c.{qn('year')} = k.y AND c.{qn('status')} = %s) "
            f"FROM {qn(Claim._meta.db_table)} AS c WHERE c.{qn('person_id')} = k.p AND c.{qn('service_date')} > k.d)",
            [array_literal([p for p, _y in ordered]), array_literal([y for _p, y in ordered]),
             "{" + ",".join(earliest[key].isoformat() for key in ordered) + "}", ClaimStatus.SETTLED])
        late = {(p, y) for p, y in cursor.fetchall()}
        cursor.execute("SELECT set_config('jit', %s, true)", [jit])
    return late


def _latest_live_dates(keys: set[tuple[int, int]]) -> dict[tuple[int, int], date]:
    rows = (Claim.objects.filter(person_id__any=sorted({p for p, _y in keys}), year__in={y for _p, y in keys},
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
    new input (by index).
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
