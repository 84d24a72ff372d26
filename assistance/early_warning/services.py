"""Writes of the double early warning (DOMAIN.md §7): the monthly run, pushes to partner
departments, acknowledgements, determinations and the schedule.

The run is set-based: for each group of counties that share a threshold, one
``INSERT … SELECT`` per warning kind reads the per-person yearly ledger the settlement keeps
(year-to-date = ``oop_m01 + … + oop_mM``), decides the group with ``EXISTS`` sub-queries on
identities and enrolments and "new versus continuing" with an ``EXISTS`` on last month's
list, and writes the warnings — no row ever comes back to Python.  A second ``INSERT …
SELECT`` writes their history rows.  Running a month again returns the existing run.

"New" means not on the previous calendar month's list of the same kind (any run), so January
is compared with December; a month whose previous month was never run has only new entries.

Pushes are at-least-once over HTTP and exactly-once in effect: every attempt of a delivery
carries the same ``Idempotency-Key`` and byte-identical body, a lease stops two workers from
sending the same delivery at the same time, and a delivered delivery is never sent again.
What a department's endpoint receives (and must answer 2xx, also for a key it has seen)::

    POST <url>   Content-Type: application/json; charset=utf-8
    Idempotency-Key: <uuid>          X-Yibao-Department: civil_affairs | rural_revitalization
    X-Yibao-Timestamp: <unix secs>   X-Yibao-Signature: sha256=<hex HMAC-SHA256(secret, ts + "." + body)>
    {"idempotency_key", "department", "run": {id, region, month, thresholds, …}, "count",
     "warnings": [{"id", "person", "name", "township", "village", "kind", "month",
                   "out_of_pocket", "threshold", "is_new"}, …], "acknowledge_url"}

A 2xx is delivered; 408/409/423/425/429, 5xx and network errors are retried with exponential
backoff; any other 4xx fails at once (fix the endpoint, then redeliver).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import reduce
from operator import add, or_

import requests
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import BooleanField, CharField, Count, DateField, DecimalField, Exists, F, OuterRef, Q, Value
from django.db.models.functions import Round
from django.utils import timezone
from django.utils.translation import gettext as _

from claims.models import PersonYearLedger
from members import services as member_services
from members.models import Enrollment, Identity, IdentityKind, Scheme
from yibao_site.audit import audited_save, bulk_update_audited
from yibao_site.models import Region, RegionLevel
from yibao_site.policy import policy_snapshot

from . import rules
from .models import (
    Channel, DeliveryAttempt, DeliveryStatus, Department, PartnerAccount, PushEndpoint, PersonWarning, WarningDelivery,
    WarningKind, WarningRun, WarningSchedule, WarningStatus,
)

log = logging.getLogger(__name__)

RETURN_RATIO = "warning.return_to_poverty.ratio"
RETURN_KINDS = "warning.return_to_poverty.kinds"
INTO_RATIO = "warning.into_poverty.ratio"
INCOME = "income.rural_per_capita"

MONTHLY_TASK_NAME = "early_warning.monthly_run"
SWEEP_TASK_NAME = "early_warning.sweep_deliveries"



def _operational(name: str, default: float) -> float:
    """An operational setting of the pushes (not a policy number): environment, then
    settings, then the default."""
    return float(os.environ.get(name) or getattr(settings, name, default))


MAX_ATTEMPTS = int(_operational("WARNING_PUSH_MAX_ATTEMPTS", 8))
BACKOFF_BASE = _operational("WARNING_PUSH_BACKOFF_SECONDS", 60.0)  # then doubling: 1, 2, 4 … minutes
BACKOFF_CAP = _operational("WARNING_PUSH_BACKOFF_CAP_SECONDS", 6 * 3600.0)
SWEEP_GRACE = timedelta(minutes=_operational("WARNING_PUSH_SWEEP_GRACE_MINUTES", 15))
RESPONSE_KEEP = 2000
# A 4xx other than these says the request itself is wrong (bad signature, unknown path):
# retrying cannot help, so the delivery fails at once for a supervisor to fix and redeliver.
RETRYABLE_4XX = {408, 409, 423, 425, 429}

ACKNOWLEDGEABLE = {DeliveryStatus.DELIVERED, DeliveryStatus.DOWNLOADED}


def _error(field_name: str, message: str) -> ValidationError:
    return ValidationError({field_name: [message]})


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
            raise _error("region", _("政策参数 %(key)s 应为身份类别列表。") % {"key": RETURN_KINDS})
        return_line = rules.threshold(snap.decimal(RETURN_RATIO), income)
        into_line = rules.threshold(snap.decimal(INTO_RATIO), income)
        used = {"income": prev.used_record(), "rules": snap.used_record()}
        units.append(Unit(unit, income, income_on.year, return_line, tuple(sorted(kinds)), into_line, used,
                          f"{prev.version}/{snap.version}"))
    return units


def _year_to_date(month: date):
    """``oop_m01 + … + oop_mM`` rounded to the fen (exact on PostgreSQL; on SQLite the sum is
    binary floating point, and the rounding keeps "exactly at the line" exactly at it)."""
    columns = [F(f"oop_m{m:02d}") for m in range(1, month.month + 1)]
    money = DecimalField(max_digits=14, decimal_places=2)
    return Round(reduce(add, columns), 2, output_field=money)


def _valid_in_month(month: date) -> Q:
    return Q(valid_from__lte=rules.month_end(month)) & (Q(valid_to__isnull=True) | Q(valid_to__gte=month))


# Column order of the INSERT; the SELECT annotates the same names with a ``w_`` prefix.
_WARNING_COLUMNS = ["run_id", "person_id", "township_id", "kind", "month", "out_of_pocket", "threshold", "is_new",
                    "status", "determined_department", "determination_note"]


def _candidates(*, run: WarningRun, units: list[Unit], kind: str, line: Decimal, kinds: tuple[str, ...]):
    """The SELECT of one kind for a group of counties sharing ``line``."""
    month = run.month
    money = DecimalField(max_digits=14, decimal_places=2)
    within = reduce(or_, [Q(person__township__path__startswith=u.region.path) for u in units])
    identities = Identity.objects.filter(_valid_in_month(month), person=OuterRef("person_id"))
    # The month columns are sums of settled out-of-pocket by service month (a reversal takes
    # back exactly what its claim added), so none is negative and year-to-date through month M
    # never exceeds the yearly total: ``out_of_pocket > line`` is a necessary condition, cheap
    # to test (and indexed), that spares the twelve-column sum for almost every row.
    qs = (PersonYearLedger.objects.filter(within, year=month.year, out_of_pocket__gt=line)
          .annotate(w_ytd=_year_to_date(month))
          .filter(w_ytd__gt=Value(line, output_field=money)))
    if kind == WarningKind.RETURN_TO_POVERTY:
        qs = qs.filter(Exists(identities.filter(kind__in=kinds)))
    else:
        resident = Enrollment.objects.filter(person=OuterRef("person_id"), year=month.year,
                                             scheme=Scheme.RESIDENT, active=True)
        qs = qs.filter(Exists(resident)).exclude(Exists(identities))
    last_month = PersonWarning.objects.filter(person=OuterRef("person_id"), kind=kind, month=rules.previous_month(month))
    qs = qs.annotate(
        w_run_id=Value(run.pk),
        w_person_id=F("person_id"),
        w_township_id=F("person__township_id"),
        w_kind=Value(kind, output_field=CharField()),
        w_month=Value(month, output_field=DateField()),
        w_out_of_pocket=F("w_ytd"),
        w_threshold=Value(line, output_field=money),
        w_is_new=~Exists(last_month),
        w_status=Value(WarningStatus.OPEN, output_field=CharField()),
        w_determined_department=Value("", output_field=CharField()),
        w_determination_note=Value("", output_field=CharField()),
    )
    return qs.order_by().values_list(*[f"w_{c}" for c in _WARNING_COLUMNS])


def _insert_select(table: str, columns: list[str], select_sql: str, params) -> int:
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {qn(table)} ({', '.join(qn(c) for c in columns)}) {select_sql}", params)
        return cursor.rowcount


def _write_warnings(run: WarningRun, units: list[Unit]) -> None:
    groups: dict[tuple, list[Unit]] = defaultdict(list)
    for unit in units:
        groups[unit.group_key()].append(unit)
    table = PersonWarning._meta.db_table
    for (return_line, return_kinds, into_line), members in groups.items():
        for kind, line in ((WarningKind.RETURN_TO_POVERTY, return_line), (WarningKind.INTO_POVERTY, into_line)):
            sql, params = _candidates(run=run, units=members, kind=kind, line=line,
                                      kinds=return_kinds).query.sql_with_params()
            _insert_select(table, _WARNING_COLUMNS, sql, params)


def _write_history(run: WarningRun, actor) -> None:
    """One ``+`` history row per new warning, in one statement (what ``bulk_create_audited``
    would write, without bringing the rows to Python)."""
    history = PersonWarning.history.model
    columns = [f.attname for f in PersonWarning._meta.concrete_fields]
    history_columns = {f.attname for f in history._meta.concrete_fields}
    assert set(columns) <= history_columns, "historical warning model lacks a column"
    qn = connection.ops.quote_name
    select = ", ".join(qn(c) for c in columns)
    user_id = actor.pk if getattr(actor, "is_authenticated", False) else None
    sql = (f"SELECT {select}, %s, %s, %s, %s FROM {qn(PersonWarning._meta.db_table)} WHERE {qn('run_id')} = %s")
    params = [timezone.now(), _("生成预警名单"), "+", user_id, run.pk]
    _insert_select(history._meta.db_table,
                   columns + ["history_date", "history_change_reason", "history_type", "history_user_id"],
                   sql, params)


def _endpoint_for(region: Region, department: str) -> PushEndpoint | None:
    """The active endpoint of the nearest region in ``region``'s chain (county before city)."""
    chain = region.ancestors_codes()
    found = list(PushEndpoint.objects.filter(region__code__in=chain, department=department, active=True)
                 .select_related("region"))
    found.sort(key=lambda e: chain.index(e.region.code), reverse=True)
    return found[0] if found else None


def _enqueue(delivery_ids: list[int]) -> None:
    """Queue the pushes; from inside a task, on the queue that task came from (the pool of
    workers serving this jurisdiction), otherwise on the default queue."""
    from celery import current_task

    from .tasks import push_delivery

    options = {}
    info = getattr(getattr(current_task, "request", None), "delivery_info", None) or {}
    if info.get("routing_key") and not info.get("is_eager"):
        options["queue"] = info["routing_key"]
    for pk in delivery_ids:
        try:
            push_delivery.apply_async((pk,), **options)
        except Exception:  # broker down: the sweeper picks the pending delivery up later
            log.exception("could not queue warning delivery %s", pk)


def validate_run_region(region: Region | None) -> Region:
    if region is None:
        raise _error("region", _("区划不存在。"))
    if region.level not in (RegionLevel.CITY, RegionLevel.COUNTY):
        raise _error("region", _("预警按市或县(区)运行,请选择市或县(区)级区划。"))
    return region


def validate_run_month(month: date, today: date | None = None) -> date:
    today = today or timezone.localdate()
    if month.day != 1:
        month = month.replace(day=1)
    if rules.month_end(month) >= today:
        raise _error("month", _("%(month)s 尚未结束,只能为已结束的月份生成名单。") % {"month": f"{month:%Y-%m}"})
    return month


@transaction.atomic
def warning_run(*, region: Region, month: date, actor=None, trigger: str = "api",
                today: date | None = None) -> tuple[WarningRun, bool]:
    """Build the double early-warning list of ``region`` for ``month`` and queue its pushes.

    Return ``(run, created)``; a month already run for the region is returned unchanged
    (``created`` false), so running twice changes nothing.  A region whose month is already
    covered by a run of a region above or below it is refused.
    """
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
        raise _error("region", _("%(month)s 已有覆盖本区划的预警批次(%(other)s),不能重复生成。")
                     % {"month": f"{month:%Y-%m}", "other": overlap.region.name})
    if connection.vendor == "postgresql":
        # A few set-based statements over a million rows: PostgreSQL's JIT would spend longer
        # compiling them (seconds) than running them.
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")
    units = _units(region, month)
    run = WarningRun(
        region=region, month=month, created_by=actor if getattr(actor, "is_authenticated", False) else None,
        trigger=trigger,
        thresholds={u.region.code: {"income": str(u.income), "income_year": u.income_year,
                                    WarningKind.RETURN_TO_POVERTY: str(u.return_line),
                                    "return_kinds": list(u.return_kinds),
                                    WarningKind.INTO_POVERTY: str(u.into_line)} for u in units},
        policy_used={u.region.code: u.used for u in units},
        policy_version="; ".join(sorted({u.version for u in units}))[:200],
    )
    audited_save(run, actor=actor, reason=_("生成预警名单"))
    _write_warnings(run, units)
    _write_history(run, actor)
    counts = PersonWarning.objects.filter(run=run).values("kind", "is_new").annotate(n=Count("id")).order_by()
    for row in counts:
        run.count += row["n"]
        if row["kind"] == WarningKind.RETURN_TO_POVERTY:
            run.return_count += row["n"]
        else:
            run.into_count += row["n"]
        if row["is_new"]:
            run.new_count += row["n"]
    audited_save(run, actor=actor, reason=_("统计预警人数"),
                 update_fields=["count", "return_count", "into_count", "new_count"])
    to_push = []
    for department in Department.values:
        endpoint = _endpoint_for(region, department)
        delivery = WarningDelivery(
            run=run, department=department, count=run.count, endpoint=endpoint,
            channel=Channel.PUSH if endpoint else Channel.DOWNLOAD,
            status=DeliveryStatus.PENDING if endpoint else DeliveryStatus.AWAITING_DOWNLOAD,
        )
        audited_save(delivery, actor=actor, reason=_("生成推送记录"))
        if endpoint:
            to_push.append(delivery.pk)
    transaction.on_commit(lambda: _enqueue(to_push))
    log.info("warning run %s: region %s month %s, %s warnings", run.pk, region.code, f"{month:%Y-%m}", run.count)
    return run, True


@dataclass
class ScheduledResult:
    region: str
    month: str
    run_id: int | None
    created: bool
    error: str = ""


def warning_run_scheduled(*, today: date | None = None, region_codes: list[str] | None = None) -> list[ScheduledResult]:
    """What beat runs each month: last month's list for each scheduled region.

    Each region runs in its own transaction, so one region's missing parameter does not stop
    the others; a region already run for the month is left as it is.
    """
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
            run, created = warning_run(region=region, month=month, trigger="schedule", today=today)
            results.append(ScheduledResult(region.code, f"{month:%Y-%m}", run.pk, created))
        except ValidationError as exc:
            log.warning("scheduled warning run for %s failed: %s", region.code, exc.messages)
            results.append(ScheduledResult(region.code, f"{month:%Y-%m}", None, False, "; ".join(exc.messages)))
    return results


def warning_runs_resume_missed(*, now: datetime | None = None) -> list[ScheduledResult]:
    """Run the lists this month's scheduled run should have made and did not (its worker died).

    A warning run is one transaction, so a killed worker leaves no half-made list: it leaves
    none.  Once this month's scheduled moment has passed, a scheduled region still without
    last month's list is run now (``tasks.resume_missed_runs``, every few minutes).
    """
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
    return warning_run_scheduled(today=now.date(), region_codes=missing)


# ── pushes ──────────────────────────────────────────────────────────────────────────────────

def delivery_payload(delivery: WarningDelivery) -> bytes:
    """The JSON body of a delivery: byte-identical on every attempt (no send time inside)."""
    run = delivery.run
    rows = (PersonWarning.objects.filter(run=run).order_by("kind", "township__code", "person__id_number")
            .values_list("id", "person__id_number", "person__name", "township__code", "township__name",
                         "person__village__code", "person__village__name", "kind", "out_of_pocket", "threshold",
                         "is_new"))
    warnings = [
        {"id": pk, "person": id_number, "name": name, "township": t_code, "township_name": t_name,
         "village": v_code, "village_name": v_name, "kind": kind, "month": f"{run.month:%Y-%m}",
         "out_of_pocket": str(rules.money(oop)), "threshold": str(rules.money(line)), "is_new": bool(is_new)}
        for pk, id_number, name, t_code, t_name, v_code, v_name, kind, oop, line, is_new in rows
    ]
    payload = {
        "idempotency_key": str(delivery.key),
        "department": delivery.department,
        "run": {"id": run.pk, "region": run.region.code, "region_name": run.region.name,
                "month": f"{run.month:%Y-%m}", "generated_at": run.created_at.isoformat(),
                "thresholds": run.thresholds, "policy_version": run.policy_version},
        "count": len(warnings),
        "warnings": warnings,
        "acknowledge_url": f"/api/v1/warning-deliveries/{delivery.key}/acknowledge/",
    }
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


@dataclass
class SendOutcome:
    status: str
    retry_in: float | None = None
    attempt: int = 0


def _claim(delivery_id: int) -> tuple[WarningDelivery, int] | None:
    """Take the delivery's lease for one attempt; ``None`` if there is nothing to send."""
    with transaction.atomic():
        delivery = (WarningDelivery.objects.select_for_update(of=("self",)).select_related("endpoint", "run__region")
                    .filter(pk=delivery_id).first())
        if delivery is None or delivery.channel != Channel.PUSH:
            return None
        now = timezone.now()
        if delivery.status == DeliveryStatus.SENDING and delivery.lease_until and delivery.lease_until > now:
            return None  # another worker is sending it right now
        if delivery.status not in (DeliveryStatus.PENDING, DeliveryStatus.SENDING):
            return None  # delivered (never twice) or failed (waits for a redelivery)
        if delivery.endpoint is None or not delivery.endpoint.active:
            delivery.status, delivery.last_error = DeliveryStatus.FAILED, _("推送接口不存在或已停用。")
            audited_save(delivery, reason=_("推送失败"), update_fields=["status", "last_error"])
            return None
        delivery.status = DeliveryStatus.SENDING
        delivery.attempts += 1
        delivery.round_attempts += 1
        delivery.lease_until = now + timedelta(seconds=settings.PUSH_TIMEOUT_SECONDS + 60)
        audited_save(delivery, reason=_("开始推送"),
                     update_fields=["status", "attempts", "round_attempts", "lease_until"])
        return delivery, delivery.attempts


def delivery_send(*, delivery_id: int) -> SendOutcome:
    """Make one attempt of a push delivery and record it; say whether and when to retry."""
    claimed = _claim(delivery_id)
    if claimed is None:
        status = WarningDelivery.objects.filter(pk=delivery_id).values_list("status", flat=True).first()
        return SendOutcome(status or "missing")
    delivery, number = claimed
    body = delivery_payload(delivery)
    digest = hashlib.sha256(body).hexdigest()
    stamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "Idempotency-Key": str(delivery.key),
        "X-Yibao-Timestamp": stamp,
        "X-Yibao-Signature": rules.sign(delivery.endpoint.secret, stamp, body),
        "X-Yibao-Department": delivery.department,
    }
    started, clock = timezone.now(), time.monotonic()
    status_code, text, error = None, "", ""
    try:
        response = requests.post(delivery.endpoint.url, data=body, headers=headers,
                                 timeout=settings.PUSH_TIMEOUT_SECONDS, allow_redirects=False)
        status_code, text = response.status_code, response.text[:RESPONSE_KEEP]
    except requests.RequestException as exc:
        error = f"{type(exc).__name__}: {exc}"[:300]
    duration = int((time.monotonic() - clock) * 1000)
    return _record(delivery.pk, number=number, started=started, duration=duration, status_code=status_code,
                   text=text, error=error, digest=digest)


@transaction.atomic
def _record(delivery_id: int, *, number: int, started: datetime, duration: int, status_code: int | None,
            text: str, error: str, digest: str) -> SendOutcome:
    delivery = WarningDelivery.objects.select_for_update().get(pk=delivery_id)
    DeliveryAttempt.objects.create(delivery=delivery, number=number, started_at=started, duration_ms=duration,
                                   status_code=status_code, response_body=text, error=error)
    now = timezone.now()
    delivery.last_status_code, delivery.last_response, delivery.last_error = status_code, text, error
    delivery.payload_sha256 = digest
    delivery.lease_until = None
    fields = ["status", "last_status_code", "last_response", "last_error", "payload_sha256", "lease_until",
              "next_attempt_at", "delivered_at"]
    if delivery.status == DeliveryStatus.DELIVERED:  # a racing attempt already succeeded
        return SendOutcome(delivery.status, attempt=number)
    if status_code is not None and 200 <= status_code < 300:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = DeliveryStatus.DELIVERED, now, None
        audited_save(delivery, reason=_("推送成功"), update_fields=fields)
        return SendOutcome(delivery.status, attempt=number)
    permanent = status_code is not None and 400 <= status_code < 500 and status_code not in RETRYABLE_4XX
    if permanent or delivery.round_attempts >= MAX_ATTEMPTS:
        delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED, None
        audited_save(delivery, reason=_("推送失败,等待重新推送"), update_fields=fields)
        return SendOutcome(delivery.status, attempt=number)
    wait = rules.backoff_seconds(delivery.round_attempts, BACKOFF_BASE, BACKOFF_CAP)
    delivery.status, delivery.next_attempt_at = DeliveryStatus.PENDING, now + timedelta(seconds=wait)
    audited_save(delivery, reason=_("推送失败,稍后重试"), update_fields=fields)
    return SendOutcome(delivery.status, retry_in=wait, attempt=number)


def deliveries_sweep(*, now: datetime | None = None) -> int:
    """Queue again every push delivery whose retry is overdue or whose sender vanished
    (a lost broker message, a worker killed mid-send): nothing is lost."""
    now = now or timezone.now()
    stale = now - SWEEP_GRACE
    ids = list(WarningDelivery.objects.filter(channel=Channel.PUSH).filter(
        Q(status=DeliveryStatus.PENDING, next_attempt_at__isnull=True, created_at__lt=stale)
        | Q(status=DeliveryStatus.PENDING, next_attempt_at__lt=stale)
        | Q(status=DeliveryStatus.SENDING, lease_until__lt=now)
    ).values_list("pk", flat=True))
    _enqueue(ids)
    return len(ids)


@transaction.atomic
def delivery_redeliver(*, delivery: WarningDelivery, actor=None) -> WarningDelivery:
    """Send a failed (or never downloaded) delivery again, through the endpoint configured now."""
    delivery = WarningDelivery.objects.select_for_update(of=("self",)).select_related("run__region").get(pk=delivery.pk)
    if delivery.status in (DeliveryStatus.DELIVERED, DeliveryStatus.SENDING) or delivery.acknowledged_at:
        raise _error("detail", _("该推送已送达或正在推送,不能重新推送。"))
    endpoint = _endpoint_for(delivery.run.region, delivery.department)
    if endpoint is None:
        if delivery.channel == Channel.DOWNLOAD:
            raise _error("detail", _("该部门未配置推送接口,请在后台下载名单。"))
        delivery.channel, delivery.status, delivery.endpoint = Channel.DOWNLOAD, DeliveryStatus.AWAITING_DOWNLOAD, None
    else:
        delivery.channel, delivery.status, delivery.endpoint = Channel.PUSH, DeliveryStatus.PENDING, endpoint
    delivery.round_attempts, delivery.next_attempt_at, delivery.lease_until = 0, None, None
    audited_save(delivery, actor=actor, reason=_("重新推送"),
                 update_fields=["channel", "status", "endpoint", "round_attempts", "next_attempt_at", "lease_until"])
    if delivery.channel == Channel.PUSH:
        pk = delivery.pk
        transaction.on_commit(lambda: _enqueue([pk]))
    return delivery


@transaction.atomic
def delivery_mark_downloaded(*, delivery: WarningDelivery, actor=None) -> WarningDelivery:
    """Record that the list of a department without an endpoint was downloaded."""
    delivery = WarningDelivery.objects.select_for_update().get(pk=delivery.pk)
    if delivery.status == DeliveryStatus.AWAITING_DOWNLOAD:
        delivery.status, delivery.downloaded_at = DeliveryStatus.DOWNLOADED, timezone.now()
        delivery.downloaded_by = actor if getattr(actor, "is_authenticated", False) else None
        audited_save(delivery, actor=actor, reason=_("下载名单"),
                     update_fields=["status", "downloaded_at", "downloaded_by"])
    return delivery


def partner_of(user) -> PartnerAccount | None:
    """The active partner-department binding of ``user``, if any."""
    if not getattr(user, "is_authenticated", False):
        return None
    try:
        account = user.partner_account
    except PartnerAccount.DoesNotExist:
        return None
    return account if account.active else None


@transaction.atomic
def delivery_acknowledge(*, delivery: WarningDelivery, actor, note: str = "") -> tuple[WarningDelivery, bool]:
    """A department confirms receipt (签收); a second acknowledgement changes nothing."""
    delivery = WarningDelivery.objects.select_for_update().get(pk=delivery.pk)
    partner = partner_of(actor)
    if partner is not None and partner.department != delivery.department:
        raise PermissionDenied(_("只能签收本部门的推送。"))
    if delivery.acknowledged_at:
        return delivery, False
    if delivery.status not in ACKNOWLEDGEABLE:
        raise _error("detail", _("该推送尚未送达或下载,不能签收。"))
    delivery.acknowledged_at = timezone.now()
    delivery.acknowledged_by = actor if getattr(actor, "is_authenticated", False) else None
    delivery.acknowledgement_note = (note or "")[:300]
    audited_save(delivery, actor=actor, reason=_("部门签收"),
                 update_fields=["acknowledged_at", "acknowledged_by", "acknowledgement_note"])
    return delivery, True


# ── determinations ─────────────────────────────────────────────────────────────────────────

@transaction.atomic
def warning_determine(*, warning: PersonWarning, department: str, outcome: str, actor, identity_kind: str = "",
                      valid_from: date | None = None, valid_to: date | None = None,
                      note: str = "") -> PersonWarning:
    """Record a department's determination on a warned person and close the loop.

    ``outcome="approved"``: the person is an assistance object — the identity is created
    (source = the department) and every open warning of the person is closed as determined.
    ``outcome="rejected"``: this warning is closed as not determined, with the reason.
    """
    partner = partner_of(actor)
    if partner is not None:
        department = partner.department
    if department not in Department.values:
        raise _error("department", _("核定部门应为 civil_affairs 或 rural_revitalization。"))
    warning = PersonWarning.objects.select_for_update(of=("self",)).select_related("person__township").get(pk=warning.pk)
    if warning.status != WarningStatus.OPEN:
        raise _error("detail", _("该预警已核定(%(status)s),不能重复登记。") % {"status": warning.get_status_display()})
    now = timezone.now()
    user = actor if getattr(actor, "is_authenticated", False) else None
    fields = ["status", "determined_department", "determined_at", "determined_by", "identity", "determination_note"]
    if outcome == "rejected":
        if not (note or "").strip():
            raise _error("note", _("不予认定时请填写理由。"))
        warning.status, warning.determined_department, warning.determined_at = WarningStatus.NOT_DETERMINED, department, now
        warning.determined_by, warning.determination_note = user, note.strip()[:300]
        audited_save(warning, actor=actor, reason=_("部门核定不予认定"), update_fields=fields)
        return warning
    if outcome != "approved":
        raise _error("outcome", _("核定结果应为 approved 或 rejected。"))
    valid_from = valid_from or timezone.localdate()
    snap = policy_snapshot(warning.person.township, valid_from)
    category = snap.value(f"assistance.category.{identity_kind}", None) if identity_kind else None
    if identity_kind not in IdentityKind.values or category is None:
        raise _error("identity_kind", _("请选择认定的救助对象身份(须为政策规定的医疗救助类别)。"))
    if valid_to is None and int(category) == 4:
        # 因病致贫重病患者: valid 12 months (parameter) from the determination (DOMAIN.md §6).
        from members.rules import add_months

        valid_to = add_months(valid_from, snap.integer("assistance.determination.valid_months")) - timedelta(days=1)
    identity = member_services.identity_add(person=warning.person, kind=identity_kind, valid_from=valid_from,
                                            valid_to=valid_to, source=department, actor=actor)
    others = list(PersonWarning.objects.select_for_update().filter(person_id=warning.person_id, status=WarningStatus.OPEN)
                  .order_by("pk"))
    for item in others:
        item.status, item.determined_department, item.determined_at = WarningStatus.DETERMINED, department, now
        item.determined_by, item.identity, item.determination_note = user, identity, (note or "").strip()[:300]
    bulk_update_audited(others, PersonWarning, fields, actor=actor, reason=_("部门认定为医疗救助对象"))
    warning.refresh_from_db()
    return warning


# ── partner accounts, endpoints, schedule ───────────────────────────────────────────────────

@transaction.atomic
def partner_account_save(*, username: str, department: str, region_code: str | None = None,
                         password: str | None = None, active: bool = True, actor=None) -> PartnerAccount:
    """Create or update a partner-department API account (no staff role, no admin access)."""
    from yibao_site.models import User

    if department not in Department.values:
        raise _error("department", _("部门应为 civil_affairs 或 rural_revitalization。"))
    region = None
    if region_code:
        region = Region.objects.filter(code=region_code).first()
        if region is None or region.level not in (RegionLevel.CITY, RegionLevel.COUNTY):
            raise _error("region", _("协作部门账号应绑定市或县(区)级区划。"))
    user = User.objects.select_for_update().filter(username=username).first()
    if user is not None and user.role:
        raise _error("username", _("该用户名已是工作人员账号,不能用作协作部门账号。"))
    user = user or User(username=username)
    user.role, user.region, user.is_staff, user.is_superuser = "", region, False, False
    if password:
        user.set_password(password)
    elif user.pk is None:
        user.set_unusable_password()
    audited_save(user, actor=actor, reason=_("保存协作部门账号"))
    account = PartnerAccount.objects.select_for_update().filter(user=user).first() or PartnerAccount(user=user)
    account.department, account.active = department, active
    audited_save(account, actor=actor, reason=_("保存协作部门账号"))
    return account


@transaction.atomic
def endpoint_save(*, region: Region, department: str, url: str, secret: str, active: bool = True, note: str = "",
                  actor=None) -> PushEndpoint:
    """Create or change a department's push endpoint for a region."""
    endpoint = (PushEndpoint.objects.select_for_update().filter(region=region, department=department).first()
                or PushEndpoint(region=region, department=department))
    endpoint.url, endpoint.secret, endpoint.active, endpoint.note = url, secret, active, note
    endpoint.full_clean(validate_unique=False)
    if region.level not in (RegionLevel.CITY, RegionLevel.COUNTY):
        raise _error("region", _("推送接口配置在市或县(区)级区划。"))
    if len(secret or "") < 16:
        raise _error("secret", _("签名密钥至少16个字符。"))
    audited_save(endpoint, actor=actor, reason=_("保存推送接口"))
    return endpoint


def _beat_models():
    from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

    return CrontabSchedule, IntervalSchedule, PeriodicTask


def sync_periodic_tasks(schedule: WarningSchedule, *, CrontabSchedule, IntervalSchedule, PeriodicTask) -> None:
    """Make beat's rows match ``schedule`` (also used by the data migration, with its
    historical models): the monthly run on the chosen day, the delivery sweeper every 15 min."""
    crontab, _c = CrontabSchedule.objects.get_or_create(
        minute=str(schedule.minute), hour=str(schedule.hour), day_of_month=str(schedule.day_of_month),
        month_of_year="*", day_of_week="*", timezone=settings.TIME_ZONE,
    )
    task = PeriodicTask.objects.filter(name=MONTHLY_TASK_NAME).first() or PeriodicTask(name=MONTHLY_TASK_NAME)
    task.task, task.crontab, task.interval = "early_warning.run_scheduled", crontab, None
    task.enabled, task.kwargs = schedule.enabled, "{}"
    task.description = "因病返贫/因病致贫双预警:每月运行上一个自然月的名单并推送(改日期请在“预警运行计划”中修改)"
    task.save()
    if getattr(schedule, "periodic_task_id", None) != task.pk:
        schedule.periodic_task_id = task.pk
        type(schedule).objects.filter(pk=schedule.pk).update(periodic_task_id=task.pk)
    interval, _i = IntervalSchedule.objects.get_or_create(every=15, period="minutes")
    sweep = PeriodicTask.objects.filter(name=SWEEP_TASK_NAME).first() or PeriodicTask(name=SWEEP_TASK_NAME)
    sweep.task, sweep.interval, sweep.crontab, sweep.enabled = "early_warning.sweep_deliveries", interval, None, True
    sweep.description = "重新排队逾期未重试或中断的预警推送"
    sweep.save()


@transaction.atomic
def schedule_save(*, day_of_month: int, hour: int = 2, minute: int = 0, enabled: bool = True,
                  region_codes: list[str] | None = None, actor=None) -> WarningSchedule:
    """Change when the monthly run happens; beat picks the change up on its next tick."""
    schedule = WarningSchedule.objects.select_for_update().order_by("pk").first() or WarningSchedule()
    schedule.day_of_month, schedule.hour, schedule.minute, schedule.enabled = day_of_month, hour, minute, enabled
    schedule.full_clean(exclude=["periodic_task", "regions"])
    audited_save(schedule, actor=actor, reason=_("修改预警运行计划"))
    if region_codes is not None:
        regions = list(Region.objects.filter(code__in=region_codes))
        if len(regions) != len(set(region_codes)) or any(
                r.level not in (RegionLevel.CITY, RegionLevel.COUNTY) for r in regions):
            raise _error("regions", _("运行区划应为已存在的市或县(区)。"))
        schedule.regions.set(regions)
    CrontabSchedule, IntervalSchedule, PeriodicTask = _beat_models()
    sync_periodic_tasks(schedule, CrontabSchedule=CrontabSchedule, IntervalSchedule=IntervalSchedule,
                        PeriodicTask=PeriodicTask)
    return schedule
