"""The monthly run of the double early warning (DOMAIN.md §7): the SQL engine.

The run is set-based: for each group of counties that share a threshold, one
``INSERT … SELECT`` per warning kind reads the per-person yearly ledger the settlement keeps
(year-to-date = ``oop_m01 + … + oop_mM``, claims' own expression
``claims.public.year_to_date_out_of_pocket_expression``), decides the group by the identities
valid in the month (``EXISTS`` / ``NOT EXISTS``, hashed sets of persons) and by a probe of the
enrolment, "new versus continuing" by a join on last month's list, and writes the warnings —
no row ever comes back to Python.  Their history
rows are copied from what that insert returned, in the same statement on PostgreSQL
(``INSERT … RETURNING`` in a common table expression), by a second ``INSERT … SELECT``
(the kernel's ``history_insert_select``) elsewhere.
Running a month again returns the existing run.

"New" means not on the previous calendar month's list of the same kind (any run), so January
is compared with December; a month whose previous month was never run has only new entries.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Count, DecimalField, F, Q, Value
from django.utils import timezone
from django.utils.translation import gettext as _

from claims.models import PersonYearLedger
from claims.public import year_to_date_out_of_pocket_expression
from members.models import Enrollment, Identity, IdentityKind, Person, Scheme
from yibao_site.actors import require_actor
from yibao_site.audit import audited_save, history_insert_select, history_insert_sql
from yibao_site.models import Region, RegionLevel
from yibao_site.policy import policy_snapshot

from .. import rules
from ..models import (
    Channel, DeliveryStatus, Department, PersonWarning, WarningDelivery, WarningKind, WarningRun, WarningSchedule,
    WarningStatus,
)
from . import outbox
from .common import SUPERVISOR, error, user_or_none
from .partners import endpoint_for

log = logging.getLogger(__name__)

RETURN_RATIO = "warning.return_to_poverty.ratio"
RETURN_KINDS = "warning.return_to_poverty.kinds"
INTO_RATIO = "warning.into_poverty.ratio"
INCOME = "income.rural_per_capita"


# ── the monthly run ─────────────────────────────────────────────────────────────────────────

@dataclass(frozen=True)
class Unit:
    """A county (or a city without counties) and the lines in force for it."""

    region: Region
    income: Decimal
    income_year: int
    return_line: Decimal
    return_kinds: tuple[str, ...]
    into_line: Decimal
    used: dict
    version: str

    def group_key(self):
        return (self.return_line, self.return_kinds, self.into_line)


def _units(region: Region, month: date) -> list[Unit]:
    """Read the policy of every county of ``region`` for ``month`` (thresholds may differ per
    county when a county overrides the city's income statistics)."""
    if region.level == RegionLevel.CITY:
        regions = list(Region.objects.filter(parent=region, level=RegionLevel.COUNTY).order_by("code")) or [region]
    else:
        regions = [region]
    income_on, rules_on = rules.income_reference_date(month), rules.month_end(month)
    units = []
    for unit in regions:
        prev = policy_snapshot(unit, income_on)
        income = prev.decimal(INCOME)
        snap = policy_snapshot(unit, rules_on)
        kinds = snap.value(RETURN_KINDS)
        if not isinstance(kinds, list) or any(k not in IdentityKind.values for k in kinds):
            raise error("region", _("政策参数 %(key)s 应为身份类别列表。") % {"key": RETURN_KINDS})
        return_line = rules.threshold(snap.decimal(RETURN_RATIO), income)
        into_line = rules.threshold(snap.decimal(INTO_RATIO), income)
        used = {"income": prev.used_record(), "rules": snap.used_record()}
        units.append(Unit(unit, income, income_on.year, return_line, tuple(sorted(kinds)), into_line, used,
                          f"{prev.version}/{snap.version}"))
    return units


# Column order of the INSERT; the SELECT annotates the same names with a ``w_`` prefix.
_WARNING_COLUMNS = ["run_id", "person_id", "township_id", "kind", "month", "out_of_pocket", "threshold", "is_new",
                    "status", "determined_department", "determination_note"]


def _ledger_candidates(*, month: date, line: Decimal):
    """The ledger rows of ``month``'s year whose year-to-date out-of-pocket through ``month``
    is above ``line`` (the lower of the group's two lines): ``(w_person_id, w_ytd)``.

    On PostgreSQL: the rows whose yearly total is above ``line``, as ``(w_person_id, w_oop,
    oop_m01 … oop_mM)`` — the caller sums the months above a fence, for fewer rows."""
    money = DecimalField(max_digits=14, decimal_places=2)
    # The month columns are sums of settled out-of-pocket by service month (a reversal takes
    # back exactly what its claim added), so none is negative and year-to-date through month M
    # never exceeds the yearly total: ``out_of_pocket > line`` is a necessary condition, cheap
    # to test (and indexed), that spares the twelve-column sum for almost every row.
    qs = PersonYearLedger.objects.filter(year=month.year, out_of_pocket__gt=line).order_by()
    if connection.vendor == "postgresql":
        return qs.annotate(w_person_id=F("person_id"), w_oop=F("out_of_pocket")).values_list(
            "w_person_id", "w_oop", *_month_columns(month))
    qs = qs.annotate(w_ytd=year_to_date_out_of_pocket_expression(month.month), w_person_id=F("person_id"))
    return qs.filter(w_ytd__gt=Value(line, output_field=money)).values_list("w_person_id", "w_ytd")


def _month_columns(month: date) -> list[str]:
    return [f"oop_m{m:02d}" for m in range(1, month.month + 1)]


def _ytd_sql(alias: str, month: date) -> str:
    """PostgreSQL: ``claims.public.year_to_date_out_of_pocket_expression`` over the month
    columns of ``alias`` (the same sum, rounded the same way: exact in ``numeric``)."""
    qn = connection.ops.quote_name
    return f"ROUND({' + '.join(f'{alias}.{qn(c)}' for c in _month_columns(month))}, 2)"


def _warnings_select(*, run: WarningRun, units: list[Unit], return_line: Decimal, return_kinds: tuple[str, ...],
                     into_line: Decimal) -> tuple[str, list]:
    """The SELECT of both lists of a group of counties sharing their lines, in one pass over
    the ledger (columns in the order of ``_WARNING_COLUMNS``).

    A person of the group's counties holding an identity of the return kinds valid in the
    month is on the return list when above the return line; one holding no identity valid in
    the month, enrolled in the resident scheme for the year, is on the into list when above
    the into line; anyone else is on neither.  "New" = not on the previous calendar month's
    list of the same kind.

    The work is ordered so that each step reads as few rows as it can: the ledger candidates
    above the lower line are tested against the identities valid in the month as hashed sets
    of person ids (``EXISTS`` / ``NOT EXISTS``, hashed: one scan of the identities, no grouping,
    each candidate one hash probe); only those above their own line go on, sorted by person
    (PostgreSQL), to the probes of enrolments (into list only), persons and last month's list
    — by key, in key order.
    """
    qn = connection.ops.quote_name
    pg = connection.vendor == "postgresql"
    month = run.month
    lower = min(return_line, into_line)
    candidates, cparams = _ledger_candidates(month=month, line=lower).query.sql_with_params()
    cparams = list(cparams)
    identity, enrolment, warning, person, region = (
        qn(m._meta.db_table) for m in (Identity, Enrollment, PersonWarning, Person, Region))
    kinds = sorted(return_kinds) or [""]  # an empty list of kinds: nobody is on the return list
    money = "CAST(%s AS NUMERIC)"
    kind = "CASE WHEN c.ret THEN %s ELSE %s END"
    within = " OR ".join(["r.path LIKE %s"] * len(units))
    valid = "valid_from <= %s AND (valid_to IS NULL OR valid_to >= %s)"
    valid_params = [rules.month_end(month), month]
    # PostgreSQL: ``OFFSET 0`` fences each step so it is planned on its own (the ledger by an
    # index-only scan of its covering (year, out_of_pocket) index, the sums computed once and
    # tested above the fence) rather than merged under a guess at how selective the sums are.
    fence = " OFFSET 0" if pg else ""
    # EXISTS rather than IN: PostgreSQL hashes the identities when the set fits in work_mem
    # (as here) and probes the identities' (person, …) index per candidate when it does not,
    # never rescanning them per candidate.
    holds = (f"EXISTS (SELECT 1 FROM {identity} i1 WHERE i1.person_id = c1.w_person_id "
             f"AND i1.kind IN ({', '.join(['%s'] * len(kinds))}) AND {valid})")
    if pg:
        # The yearly total is the cheap necessary condition for each list (year-to-date never
        # exceeds it): a holder of a return kind must be above the return line, anyone else
        # above the into line — most of the rows above the lower line are neither, and the
        # month columns are summed (once, above the fence) only for the others.
        ranked = (f"SELECT c1b.w_person_id, {_ytd_sql('c1b', month)} AS w_ytd, c1b.ret FROM ("
                  f"SELECT c1.*, {holds} AS ret FROM ({candidates}{fence}) c1{fence}) c1b "
                  f"WHERE (c1b.ret AND c1b.w_oop > {money}) OR (NOT c1b.ret AND c1b.w_oop > {money}){fence}")
        ranked_params = [*kinds, *valid_params, *cparams, return_line, into_line]
    else:
        ranked = f"SELECT c1.w_person_id, c1.w_ytd, {holds} AS ret FROM ({candidates}) c1"
        ranked_params = [*kinds, *valid_params, *cparams]
    above = (f"SELECT c2.w_person_id, c2.w_ytd, c2.ret FROM ({ranked}) c2 "
             f"WHERE (c2.ret AND c2.w_ytd > {money}) "
             f"   OR (NOT c2.ret AND c2.w_ytd > {money} AND NOT EXISTS ("
             f"       SELECT 1 FROM {identity} i2 WHERE i2.person_id = c2.w_person_id AND {valid}))"
             + (f" ORDER BY c2.w_person_id{fence}" if pg else ""))
    enrolled = (f"SELECT 1 AS ok FROM {enrolment} e WHERE e.person_id = c.w_person_id AND e.year = %s "
                f"AND e.scheme = %s AND e.active = %s")
    if pg:
        # Probes by key, whatever the planner guesses of how many candidates survive (a guess
        # too high would hash all the persons or all the enrolments of the year instead):
        # LATERAL sub-queries fenced by ``OFFSET 0``/``LIMIT 1`` are run per candidate; the
        # enrolment is probed for the into list only.
        probes = (f"LEFT JOIN LATERAL ({enrolled} AND NOT c.ret LIMIT 1) e ON true "
                  f"CROSS JOIN LATERAL (SELECT p0.township_id, p0.township_id IN ("
                  f"    SELECT r.id FROM {region} r WHERE {within}) AS inside "
                  f"    FROM {person} p0 WHERE p0.id = c.w_person_id OFFSET 0) p ")
        is_enrolled, inside = "e.ok IS NOT NULL", "p.inside"
    else:
        probes = f"JOIN {person} p ON p.id = c.w_person_id JOIN {region} r ON r.id = p.township_id AND ({within}) "
        is_enrolled, inside = f"EXISTS ({enrolled})", "1 = 1"
    sql = (
        f"SELECT %s, c.w_person_id, p.township_id, {kind}, %s, c.w_ytd, "
        f"CASE WHEN c.ret THEN {money} ELSE {money} END, "
        f"CASE WHEN lm.id IS NULL THEN %s ELSE %s END, %s, '', '' "
        f"FROM ({above}) c "
        f"{probes}"
        f"LEFT JOIN {warning} lm ON lm.person_id = c.w_person_id AND lm.month = %s AND lm.kind = {kind} "
        f"WHERE (c.ret OR {is_enrolled}) AND {inside}"
    )
    rk, ik = WarningKind.RETURN_TO_POVERTY.value, WarningKind.INTO_POVERTY.value
    enrolled_params = [month.year, Scheme.RESIDENT.value, True]
    params = [run.pk, rk, ik, month, return_line, into_line, True, False, WarningStatus.OPEN.value,
              *ranked_params, return_line, into_line, *valid_params,
              *(enrolled_params if pg else []), *[f"{u.region.path}%" for u in units],
              rules.previous_month(month), rk, ik, *([] if pg else enrolled_params)]
    return sql, params


def _insert_select(table: str, columns: list[str], select_sql: str, params) -> int:
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {qn(table)} ({', '.join(qn(c) for c in columns)}) {select_sql}", params)
        return cursor.rowcount


def _write_warnings(run: WarningRun, units: list[Unit], actor) -> list[tuple[str, bool, int]] | None:
    """One ``INSERT … SELECT`` per group of counties sharing their lines (usually one), and
    one ``+`` history row per warning written (what ``bulk_create_audited`` would write,
    without bringing the rows to Python).

    On PostgreSQL each group is one statement: the warnings are inserted ``RETURNING *`` and
    their history rows copied from what the insert returned (the list is not read again), and
    the statement answers the counts per kind and newness, which are returned.  Elsewhere the
    history is copied from the run's rows afterwards and None is returned (count them)."""
    groups: dict[tuple, list[Unit]] = defaultdict(list)
    for unit in units:
        groups[unit.group_key()].append(unit)
    table = PersonWarning._meta.db_table
    pg = connection.vendor == "postgresql"
    counts: list[tuple[str, bool, int]] = []
    qn = connection.ops.quote_name
    for (return_line, return_kinds, into_line), members in groups.items():
        sql, params = _warnings_select(run=run, units=members, return_line=return_line, return_kinds=return_kinds,
                                       into_line=into_line)
        if not pg:
            _insert_select(table, _WARNING_COLUMNS, sql, params)
            continue
        history, hparams = history_insert_sql(PersonWarning, "written", actor=actor, reason=_("生成预警名单"))
        with connection.cursor() as cursor:
            cursor.execute(
                f"WITH written AS (INSERT INTO {qn(table)} ({', '.join(qn(c) for c in _WARNING_COLUMNS)}) {sql} "
                f"RETURNING *), history AS ({history} RETURNING 1) "
                f"SELECT kind, is_new, COUNT(*) FROM written GROUP BY kind, is_new", [*params, *hparams])
            counts.extend(cursor.fetchall())
    if not pg:
        history_insert_select(PersonWarning, where={"run_id": run.pk}, actor=actor, reason=_("生成预警名单"))
        return None
    return counts


def validate_run_region(region: Region | None) -> Region:
    if region is None:
        raise error("region", _("区划不存在。"))
    if region.level not in (RegionLevel.CITY, RegionLevel.COUNTY):
        raise error("region", _("预警按市或县(区)运行,请选择市或县(区)级区划。"))
    return region


def validate_run_month(month: date, today: date | None = None) -> date:
    today = today or timezone.localdate()
    if month.day != 1:
        month = month.replace(day=1)
    if rules.month_end(month) >= today:
        raise error("month", _("%(month)s 尚未结束,只能为已结束的月份生成名单。") % {"month": f"{month:%Y-%m}"})
    return month


@transaction.atomic
def warning_run(*, region: Region, month: date, actor, trigger: str = "api",
                today: date | None = None) -> tuple[WarningRun, bool]:
    """Build the double early-warning list of ``region`` for ``month`` and queue its pushes.

    Return ``(run, created)``; a month already run for the region is returned unchanged
    (``created`` false), so running twice changes nothing.  A region whose month is already
    covered by a run of a region above or below it is refused.
    """
    require_actor(actor, SUPERVISOR, system=True)
    region = validate_run_region(region)
    month = validate_run_month(month, today)
    chain = region.ancestors_codes()
    # One lock per jurisdiction (the city row) serialises runs of overlapping regions.
    Region.objects.select_for_update().filter(code=chain[0]).first()
    existing = WarningRun.objects.filter(region=region, month=month).first()
    if existing is not None:
        return existing, False
    overlap = (WarningRun.objects.filter(month=month)
               .filter(Q(region__path__startswith=region.path) | Q(region__code__in=chain))
               .select_related("region").first())
    if overlap is not None:
        raise error("region", _("%(month)s 已有覆盖本区划的预警批次(%(other)s),不能重复生成。")
                     % {"month": f"{month:%Y-%m}", "other": overlap.region.name})
    if connection.vendor == "postgresql":
        # A few set-based statements over a million rows: PostgreSQL's JIT would spend longer
        # compiling them (seconds) than running them; and room to sort the candidates and hold
        # the written list in memory (the default 4 MB spills both to temporary files).
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")
            cursor.execute("SET LOCAL work_mem = '64MB'")
    units = _units(region, month)
    run = WarningRun(
        region=region, month=month, created_by=user_or_none(actor),
        trigger=trigger,
        thresholds={u.region.code: {"income": str(u.income), "income_year": u.income_year,
                                    WarningKind.RETURN_TO_POVERTY: str(u.return_line),
                                    "return_kinds": list(u.return_kinds),
                                    WarningKind.INTO_POVERTY: str(u.into_line)} for u in units},
        policy_used={u.region.code: u.used for u in units},
        policy_version="; ".join(sorted({u.version for u in units}))[:200],
    )
    audited_save(run, actor=actor, reason=_("生成预警名单"))
    counts = _write_warnings(run, units, actor)
    if counts is None:
        counts = [(r["kind"], r["is_new"], r["n"]) for r in
                  PersonWarning.objects.filter(month=run.month, run=run).values("kind", "is_new").annotate(n=Count("id")).order_by()]
    for kind, is_new, n in counts:
        run.count += n
        if kind == WarningKind.RETURN_TO_POVERTY:
            run.return_count += n
        else:
            run.into_count += n
        if is_new:
            run.new_count += n
    audited_save(run, actor=actor, reason=_("统计预警人数"),
                 update_fields=["count", "return_count", "into_count", "new_count"])
    to_push = []
    for department in Department.values:
        endpoint = endpoint_for(region, department)
        delivery = WarningDelivery(
            run=run, department=department, count=run.count, endpoint=endpoint,
            channel=Channel.PUSH if endpoint else Channel.DOWNLOAD,
            status=DeliveryStatus.PENDING if endpoint else DeliveryStatus.AWAITING_DOWNLOAD,
        )
        audited_save(delivery, actor=actor, reason=_("生成推送记录"))
        if endpoint:
            to_push.append(delivery.pk)
    outbox.enqueue_on_commit(to_push)
    log.info("warning run %s: region %s month %s, %s warnings", run.pk, region.code, f"{month:%Y-%m}", run.count)
    return run, True


@dataclass
class ScheduledResult:
    region: str
    month: str
    run_id: int | None
    created: bool
    error: str = ""


def warning_run_scheduled(*, actor, today: date | None = None,
                          region_codes: list[str] | None = None) -> list[ScheduledResult]:
    """What beat runs each month: last month's list for each scheduled region.

    Each region runs in its own transaction, so one region's missing parameter does not stop
    the others; a region already run for the month is left as it is.  The job runs as
    ``common.SYSTEM``.
    """
    require_actor(actor, SUPERVISOR, system=True)
    today = today or timezone.localdate()
    month = rules.previous_month(today.replace(day=1))
    if region_codes:
        regions = list(Region.objects.filter(code__in=region_codes).order_by("code"))
    else:
        schedule = WarningSchedule.objects.order_by("pk").first()
        regions = list(schedule.regions.order_by("code")) if schedule else []
        if not regions:
            regions = list(Region.objects.filter(level=RegionLevel.CITY).order_by("code"))
    results = []
    for region in regions:
        try:
            run, created = warning_run(region=region, month=month, actor=actor, trigger="schedule", today=today)
            results.append(ScheduledResult(region.code, f"{month:%Y-%m}", run.pk, created))
        except ValidationError as exc:
            log.warning("scheduled warning run for %s failed: %s", region.code, exc.messages)
            results.append(ScheduledResult(region.code, f"{month:%Y-%m}", None, False, "; ".join(exc.messages)))
    return results


def warning_runs_resume_missed(*, actor, now: datetime | None = None) -> list[ScheduledResult]:
    """Run the lists this month's scheduled run should have made and did not (its worker died).

    A warning run is one transaction, so a killed worker leaves no half-made list: it leaves
    none.  Once this month's scheduled moment has passed, a scheduled region still without
    last month's list is run now (``tasks.resume_missed_runs``, every few minutes).
    """
    require_actor(actor, SUPERVISOR, system=True)
    now = timezone.localtime(now or timezone.now())
    schedule = WarningSchedule.objects.order_by("pk").first()
    if schedule is None or not schedule.enabled:
        return []
    due = now.replace(day=schedule.day_of_month, hour=schedule.hour, minute=schedule.minute, second=0,
                      microsecond=0)
    if now < due:
        return []
    month = rules.previous_month(now.date().replace(day=1))
    regions = list(schedule.regions.order_by("code")) or list(
        Region.objects.filter(level=RegionLevel.CITY).order_by("code"))
    done = set(WarningRun.objects.filter(month=month, region__in=regions).values_list("region_id", flat=True))
    missing = [r.code for r in regions if r.pk not in done]
    if not missing:
        return []
    log.warning("warning runs for %s missing after the scheduled time: %s; running them", f"{month:%Y-%m}",
                ", ".join(missing))
    return warning_run_scheduled(actor=actor, today=now.date(), region_codes=missing)
