"""The supplier payment run (DOMAIN.md §8): instructing accepted deliveries in chunks, the
payment orders and their bank instruction, due-soon and overdue flags, review, stale runs.

How a supplier is never paid twice for one delivery
---------------------------------------------------
1. **The database forbids it.**  ``PaymentLine.delivery`` is unique among live lines
   (``state <> 'failed'``): a second line for the same delivery cannot be inserted, whatever
   the code does; only a line the bank returned frees the delivery for a new one.
2. **A delivery is instructed and marked instructed in one transaction.**  Each chunk of the
   run locks the payable rows (``SELECT … FOR UPDATE SKIP LOCKED`` on ``status = 'accepted'``),
   inserts their payment lines and sets them ``instructed`` before it commits.  When the run
   finishes, one bank instruction per supplier (``payments``) carries its payment order to the
   bank; the delivery becomes ``paid`` only when the bank confirms it, on the bank's date
   (``payments_handlers``), and the hospital's deduction follows that confirmation.  A chunk that dies (worker killed,
   exception, lost connection) rolls back whole: its deliveries stay ``accepted`` and the next
   run pays them.  Committed chunks are final, so a rerun never sees them as payable again.
3. **One runner at a time.**  On PostgreSQL the run holds a session-level advisory lock
   (``pg_advisory_lock``) while it pays and totals; a second run started at the same moment
   waits for it, then finds the same date already completed (returns it unchanged) or pays only
   what is still payable.  A session lock dies with its connection, so a killed worker never
   leaves the lock behind.  ``SKIP LOCKED`` additionally lets the run pass over a delivery
   that finance is editing at that instant (it is paid by the next run) instead of waiting.
   SQLite (the embedded default) serialises writing transactions itself (``BEGIN IMMEDIATE``).
4. **Totals are recomputed, not accumulated.**  Order amounts, hospital deductions and the
   run's count/total are aggregated from the committed payment lines when the run finishes,
   so a run resumed after a crash ends with exactly the totals of what was paid.
5. **One run per date.**  ``PaymentRun.as_of`` is unique; starting a completed date again
   changes nothing (API.md: jobs are idempotent); starting an interrupted one resumes it.
"""
from __future__ import annotations

import logging
import os
import zlib
from contextlib import contextmanager
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.db.models import Count, F, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from payments.models import PayeeKind, Purpose
from payments.public import PayeeLine, batch_create
from yibao_site.actors import require_actor
from yibao_site.audit import (
    audited_save, bulk_create_audited, bulk_update_audited, history_from_rows, history_insert_sql,
)
from yibao_site.models import Region
from yibao_site.money import to_fen
from yibao_site.policy import PolicyCache

from .. import rules
from ..models import (
    Delivery, DeliveryAlert, DeliveryStatus, LineState, PaymentLine, PaymentOrder, PaymentRun, RunStatus, RunTrigger,
    Supplier,
)
from ._common import FINANCE_ROLES, UNPAID

log = logging.getLogger("procurement.services")

PAYMENT_RUN_LOCK_KEY = zlib.crc32(b"procurement.payment_run")  # advisory lock id (a stable int32)


def _chunk_size() -> int:
    """Deliveries paid per transaction (tuning knob; env ``PROCUREMENT_PAYMENT_CHUNK_SIZE``).

    PostgreSQL pays a chunk in one statement, so its chunks are larger (fewer commits)."""
    default = "20000" if connection.vendor == "postgresql" else "5000"
    return int(getattr(settings, "PROCUREMENT_PAYMENT_CHUNK_SIZE", 0)
               or os.environ.get("PROCUREMENT_PAYMENT_CHUNK_SIZE", default))


@contextmanager
def _run_lock():
    """Hold the run-level advisory lock (PostgreSQL) for the duration of a run."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [PAYMENT_RUN_LOCK_KEY])
    try:
        yield
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [PAYMENT_RUN_LOCK_KEY])
        except DatabaseError:  # the connection is gone, and the session lock with it
            log.warning("payment run lock: connection lost before unlock")


def _after_chunk(run: PaymentRun, paid: int) -> None:
    """Called after each committed chunk (a seam for progress logging and crash tests)."""
    log.info("payment run %s: chunk of %s deliveries committed", run.as_of, paid)


def payment_run_start(*, as_of: date, trigger: str = RunTrigger.API, actor=None) -> PaymentRun:
    """Run (or resume) the supplier payment run for ``as_of``; return it once completed.

    Instructs every accepted, reconciled, unpaid delivery accepted on or before ``as_of`` whose
    supplier has bank details, grouped per supplier into payment orders, each carried to the
    bank by one payment instruction (``payments``), and flags deliveries due soon and overdue.
    A date already completed is returned unchanged.

    Finance starts it (API, admin) or the scheduled job does, passing its explicit
    :func:`~yibao_site.actors.system_actor`; nobody else.
    """
    require_actor(actor, FINANCE_ROLES, system=True)
    if not isinstance(as_of, date):
        raise ValidationError({"as_of": [_("请输入日期(YYYY-MM-DD)。")]})
    if as_of > timezone.localdate():
        raise ValidationError({"as_of": [_("结算日期不能晚于今天。")]})
    user = actor if getattr(actor, "is_authenticated", False) else None
    run, _created = PaymentRun.objects.get_or_create(as_of=as_of, defaults={"trigger": trigger, "started_by": user})
    if run.status == RunStatus.COMPLETED:
        return run
    return payment_run_execute(run_id=run.pk, actor=actor)


def payment_run_execute(*, run_id: int, actor) -> PaymentRun:
    """Instruct in chunks (one transaction each) under the run lock, then total, instruct and flag.

    The run's writes are recorded for whoever started it (a resumed run keeps its starter),
    for ``actor`` when a job started it."""
    require_actor(actor, FINANCE_ROLES, system=True)
    with _run_lock():
        run = PaymentRun.objects.select_related("started_by").get(pk=run_id)
        if run.status == RunStatus.COMPLETED:  # a concurrent start finished it while we waited
            return run
        writer = run.started_by or actor
        PaymentRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, attempts=F("attempts") + 1,
                                                    last_error="")
        try:
            size = _chunk_size()
            while True:
                paid = _pay_chunk(run, size, writer)
                if not paid:
                    break
                _after_chunk(run, paid)
            return _finish(run, writer, actor)
        except Exception as exc:
            PaymentRun.objects.filter(pk=run.pk).update(status=RunStatus.FAILED, last_error=repr(exc)[:2000])
            log.exception("payment run %s interrupted; starting it again resumes it", run.as_of)
            raise


def _keyed(table: str, ids: list[int]) -> tuple[str, str, list]:
    """``FROM`` and ``WHERE`` parts selecting the rows of ``table`` (alias ``d``) whose id is
    one of ``ids``: on PostgreSQL the ids are one array parameter unnested and joined by
    primary key (no 5 000-placeholder statement to build and parse, and no plan that tests
    each row against the whole list); elsewhere a plain ``IN`` list."""
    if connection.vendor == "postgresql":
        return f"unnest(%s::bigint[]) AS k(id) JOIN {table} d ON d.id = k.id", "1 = 1", [ids]
    return f"{table} d", f"d.id IN ({', '.join(['%s'] * len(ids))})", list(ids)


@transaction.atomic
def _pay_chunk(run: PaymentRun, size: int, writer) -> int:
    """Instruct up to ``size`` payable deliveries in one transaction; return how many.

    Set-based: the payable rows are locked and selected by key only (``SELECT id, supplier_id
    … FOR UPDATE SKIP LOCKED``); their payment lines are copied by the server from the
    deliveries (one ``INSERT … SELECT``), the deliveries are set ``instructed`` by one
    ``UPDATE`` and their history rows written by one ``INSERT … SELECT`` — no delivery, line
    or history row is built in Python.

    A supplier without bank details cannot be paid: its deliveries wait (and are flagged due
    soon and overdue like any unpaid delivery) until its account is recorded.

    On PostgreSQL all of it is one statement (:func:`_pay_chunk_pg`).
    """
    if connection.vendor == "postgresql":
        return _pay_chunk_pg(run, size, writer)
    rows = list(
        Delivery.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(status=DeliveryStatus.ACCEPTED, accepted_on__lte=run.as_of)
        .exclude(supplier__bank_account="").exclude(supplier__bank_name="")
        .order_by("id")
        .values_list("id", "supplier_id")[:size]
    )
    if not rows:
        return 0
    supplier_ids = {r[1] for r in rows}
    have = set(PaymentOrder.objects.filter(run=run, supplier_id__in=supplier_ids).values_list("supplier_id", flat=True))
    missing = supplier_ids - have
    if missing:
        codes = dict(Supplier.objects.filter(pk__in=missing).values_list("pk", "code"))
        bulk_create_audited(
            [PaymentOrder(run=run, supplier_id=sid, number=f"ZF{run.as_of:%Y%m%d}-{codes[sid]}")
             for sid in sorted(missing)],
            PaymentOrder, actor=writer, reason=_("供应商直接结算付款单"),
        )
    ids = [r[0] for r in rows]
    qn = connection.ops.quote_name
    deliveries, lines, orders = (qn(m._meta.db_table) for m in (Delivery, PaymentLine, PaymentOrder))
    pg = connection.vendor == "postgresql"
    source, where, keys = _keyed(deliveries, ids)
    with connection.cursor() as cursor:
        # What ``PaymentLine(order=…, delivery=d, hospital=d.hospital, amount=d.amount, …)``
        # would write, every other column at its default.
        cursor.execute(
            f"INSERT INTO {lines} (order_id, delivery_id, hospital_id, amount, accepted_on, due_on, state, paid_on, "
            f"bank_reference, days_to_pay, on_time) "
            f"SELECT o.id, d.id, d.hospital_id, d.amount, d.accepted_on, d.due_on, %s, NULL, '', NULL, NULL "
            f"FROM {source} JOIN {orders} o ON o.run_id = %s AND o.supplier_id = d.supplier_id "
            f"WHERE {where}",
            [LineState.INSTRUCTED, *keys, run.pk] if pg else [LineState.INSTRUCTED, run.pk, *keys])
        if cursor.rowcount != len(ids):  # every locked delivery has its supplier's order: by construction
            raise DatabaseError(f"payment run {run.as_of}: {cursor.rowcount} lines for {len(ids)} deliveries")
    Delivery.objects.filter(pk__any=ids).update(status=DeliveryStatus.INSTRUCTED)  # one array parameter
    history_from_rows(Delivery, ids, actor=writer,
                      reason=_("支付批次 %(date)s 已发支付指令") % {"date": run.as_of.isoformat()})
    return len(rows)


def _pay_chunk_pg(run: PaymentRun, size: int, writer) -> int:
    """The chunk as one statement (PostgreSQL), in the caller's transaction: data-modifying
    common table expressions lock the payable rows (``FOR UPDATE SKIP LOCKED``), set them
    ``instructed`` (``UPDATE … RETURNING``), add the payment orders of suppliers this run has
    not met yet, and write the payment lines and the history rows of the deliveries and of
    the new orders from what the ``UPDATE`` returned — each delivery is read once, and nothing
    comes back to Python but four counts.  It writes exactly what the portable path writes."""
    qn = connection.ops.quote_name
    deliveries, lines, orders, suppliers = (qn(m._meta.db_table) for m in (Delivery, PaymentLine, PaymentOrder, Supplier))
    now = timezone.now()
    delivery_history, dparams = history_insert_sql(
        Delivery, "paid", actor=writer, now=now, history_type="~",
        reason=_("支付批次 %(date)s 已发支付指令") % {"date": run.as_of.isoformat()})
    order_history, oparams = history_insert_sql(PaymentOrder, "new_orders", actor=writer, now=now,
                                                reason=_("供应商直接结算付款单"))
    sql = (
        f"WITH picked AS ("
        f"  SELECT d.id FROM {deliveries} d JOIN {suppliers} s ON s.id = d.supplier_id"
        f"  WHERE d.status = %s AND d.accepted_on <= %s AND s.bank_account <> '' AND s.bank_name <> ''"
        f"  ORDER BY d.id LIMIT %s FOR UPDATE OF d SKIP LOCKED), "
        f"paid AS (UPDATE {deliveries} d SET status = %s FROM picked WHERE d.id = picked.id RETURNING d.*), "
        # What ``PaymentOrder(run=run, supplier_id=…, number=f"ZF{date}-{code}")`` writes, in supplier order.
        f"new_orders AS (INSERT INTO {orders} (run_id, supplier_id, number, count, amount)"
        f"  SELECT %s, s.id, %s || s.code, 0, 0 FROM {suppliers} s"
        f"  WHERE s.id IN (SELECT supplier_id FROM paid)"
        f"  AND NOT EXISTS (SELECT 1 FROM {orders} o WHERE o.run_id = %s AND o.supplier_id = s.id)"
        f"  ORDER BY s.id RETURNING *), "
        f"run_orders AS (SELECT id, supplier_id FROM {orders} WHERE run_id = %s"
        f"  UNION ALL SELECT id, supplier_id FROM new_orders), "
        # What ``PaymentLine(order=…, delivery=d, hospital=d.hospital, amount=d.amount, …)``
        # would write, every other column at its default.
        f"new_lines AS (INSERT INTO {lines} (order_id, delivery_id, hospital_id, amount, accepted_on, due_on, state,"
        f"  paid_on, bank_reference, days_to_pay, on_time)"
        f"  SELECT o.id, d.id, d.hospital_id, d.amount, d.accepted_on, d.due_on, %s, NULL, '', NULL, NULL"
        f"  FROM paid d JOIN run_orders o ON o.supplier_id = d.supplier_id RETURNING 1), "
        f"delivery_history AS ({delivery_history} RETURNING 1), "
        f"order_history AS ({order_history} RETURNING 1) "
        f"SELECT (SELECT COUNT(*) FROM paid), (SELECT COUNT(*) FROM new_lines), "
        f"(SELECT COUNT(*) FROM delivery_history), (SELECT COUNT(*) FROM order_history)"
    )
    params = [DeliveryStatus.ACCEPTED.value, run.as_of, size, DeliveryStatus.INSTRUCTED.value,
              run.pk, f"ZF{run.as_of:%Y%m%d}-", run.pk, run.pk, LineState.INSTRUCTED.value, *dparams, *oparams]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        paid, written, histories, _orders = cursor.fetchone()
    if not (paid == written == histories):  # every paid delivery has its supplier's order: by construction
        raise DatabaseError(f"payment run {run.as_of}: {written} lines, {histories} history rows "
                            f"for {paid} deliveries")
    return paid


@transaction.atomic
def _finish(run: PaymentRun, writer, actor) -> PaymentRun:
    """Total the run from its committed lines, record deductions, flag due-soon and overdue."""
    run = PaymentRun.objects.select_for_update().get(pk=run.pk)
    lines = PaymentLine.objects.filter(order__run=run)

    def grouped(field):  # SQLite's SUM drops the scale: bring every total back to the fen
        return {r[field]: {"n": r["n"], "total": to_fen(r["total"] or 0)}
                for r in lines.values(field).annotate(n=Count("id"), total=Sum("amount"))}

    by_order = grouped("order_id")
    orders = list(PaymentOrder.objects.filter(run=run))
    changed = []
    for o in orders:
        r = by_order.get(o.pk, {"n": 0, "total": Decimal("0")})
        if (o.count, o.amount) != (r["n"], r["total"]):
            o.count, o.amount = r["n"], r["total"]
            changed.append(o)
    bulk_update_audited(changed, PaymentOrder, ["count", "amount"], actor=writer, reason=_("付款单合计"))

    _instruct(run, orders, actor)

    _flag_due(run.as_of)
    totals = lines.aggregate(n=Count("id"), total=Sum("amount"))
    unpaid = Delivery.objects.filter(status__in=UNPAID)
    flags = unpaid.aggregate(
        due_soon=Count("id", filter=Q(alert=DeliveryAlert.DUE_SOON)),
        overdue=Count("id", filter=Q(alert=DeliveryAlert.OVERDUE)),
        held=Count("id", filter=Q(status=DeliveryStatus.HELD)),
    )
    run.count, run.total_amount = totals["n"], to_fen(totals["total"] or 0)
    run.due_soon_count, run.overdue_count, run.held_count = flags["due_soon"], flags["overdue"], flags["held"]
    run.status, run.finished_at, run.last_error = RunStatus.COMPLETED, timezone.now(), ""
    audited_save(run, actor=writer, reason=_("支付批次完成"),
                 update_fields=["count", "total_amount", "due_soon_count", "overdue_count", "held_count", "status",
                                "finished_at", "last_error"])
    if flags["overdue"]:
        log.warning("payment run %s: %s accepted deliveries are past their payment deadline",
                    run.as_of, flags["overdue"])
    return run


def _instruct(run: PaymentRun, orders: list[PaymentOrder], actor) -> None:
    """Hand the run's payment orders to the bank: one instruction per supplier (``payments``).

    Idempotent (one batch per run), in the run's finishing transaction.  The graded sign-off
    threshold is the strictest in force in any township whose hospitals the run pays for.
    """
    live = [o for o in orders if o.count]
    if not live:
        return
    suppliers = {s.pk: s for s in Supplier.objects.filter(pk__in=[o.supplier_id for o in live])}
    townships = list(Region.objects.filter(pk__in=PaymentLine.objects.filter(order__run=run)
                                           .values("hospital__township")).order_by("code"))
    city = Region.objects.get(code=townships[0].ancestors_codes()[0])
    payees = [PayeeLine(source_ref=f"order:{o.pk}", payee_kind=PayeeKind.SUPPLIER, payee_code=suppliers[o.supplier_id].code,
                        payee_name=suppliers[o.supplier_id].name, account_name=suppliers[o.supplier_id].name,
                        bank_name=suppliers[o.supplier_id].bank_name, account_number=suppliers[o.supplier_id].bank_account,
                        amount=o.amount, memo=o.number) for o in live]
    batch_create(purpose=Purpose.SUPPLIER, source_ref=f"run:{run.pk}",
                 title=_("供应商直接结算 %(date)s") % {"date": run.as_of.isoformat()}, region=city, on=run.as_of,
                 payees=payees, policy_regions=townships, actor=actor)


def _flag_due(as_of: date) -> None:
    """Recompute the due-soon / overdue flags of unpaid accepted deliveries on ``as_of``.

    Flags are derived from ``due_on`` and the date, so they are recomputed set-based, one
    UPDATE per township (each township may have its own ``procurement.due_soon_days``).
    Overdue deliveries are escalated once: ``escalated_on`` keeps the first day they were late.
    A run for an earlier date than the latest completed one leaves the flags alone.
    """
    if PaymentRun.objects.filter(status=RunStatus.COMPLETED, as_of__gt=as_of).exists():
        return
    unpaid = Delivery.objects.filter(status__in=UNPAID)
    unpaid.filter(due_on__lt=as_of, escalated_on__isnull=True).update(escalated_on=as_of)
    unpaid.filter(due_on__lt=as_of).exclude(alert=DeliveryAlert.OVERDUE).update(alert=DeliveryAlert.OVERDUE)
    cache = PolicyCache()
    townships = Region.objects.filter(pk__in=unpaid.values("hospital__township")).only("code", "path")
    for township in townships:
        days = cache.get(township, as_of).integer("procurement.due_soon_days")
        mine = unpaid.filter(hospital__township=township, due_on__gte=as_of)
        threshold = rules.due_soon_threshold(as_of, days)
        mine.filter(due_on__lte=threshold).exclude(alert=DeliveryAlert.DUE_SOON).update(alert=DeliveryAlert.DUE_SOON)
        mine.filter(due_on__gt=threshold).exclude(alert=DeliveryAlert.NONE).update(alert=DeliveryAlert.NONE)


@transaction.atomic
def payment_run_review(*, run_id: int, note: str = "", actor) -> PaymentRun:
    """Record that finance reviewed a completed run (复核)."""
    require_actor(actor, FINANCE_ROLES)
    run = PaymentRun.objects.select_for_update().get(pk=run_id)
    if run.status != RunStatus.COMPLETED:
        raise ValidationError({"detail": [_("支付批次尚未完成,不能复核。")]})
    if run.reviewed_at is not None:
        raise ValidationError({"detail": [_("该支付批次已复核。")]})
    run.reviewed_by, run.reviewed_at, run.review_note = actor, timezone.now(), note
    audited_save(run, actor=actor, reason=_("复核支付批次"), update_fields=["reviewed_by", "reviewed_at", "review_note"])
    return run


# ── runs left behind by a dead worker ───────────────────────────────────────────────────────

def _stale_after_seconds() -> int:
    return int(getattr(settings, "JOBS_STALE_AFTER_SECONDS", 1800))


def payment_runs_stale() -> list[PaymentRun]:
    """Return the runs left ``running`` by a worker that died (killed, machine lost).

    On PostgreSQL a live run holds the run-level advisory lock for as long as it works, and
    PostgreSQL drops a dead session's lock: a ``running`` run whose lock is free is stale.
    Elsewhere (SQLite, one process) a run still ``running`` after ``JOBS_STALE_AFTER_SECONDS``
    is taken for stale.
    """
    running = PaymentRun.objects.filter(status=RunStatus.RUNNING).order_by("as_of")
    if connection.vendor != "postgresql":
        cutoff = timezone.now() - timedelta(seconds=_stale_after_seconds())
        return list(running.filter(started_at__lt=cutoff))
    if not running.exists():
        return []
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [PAYMENT_RUN_LOCK_KEY])
        free = cursor.fetchone()[0]
        if free:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [PAYMENT_RUN_LOCK_KEY])
    return list(running) if free else []


def payment_runs_resume_stale(*, actor) -> list[PaymentRun]:
    """Resume every stale run (the scheduled tick); each completes paying nothing twice."""
    require_actor(actor, FINANCE_ROLES, system=True)
    resumed = []
    for run in payment_runs_stale():
        log.warning("payment run %s was left running by a dead worker: resuming it", run.as_of)
        resumed.append(payment_run_execute(run_id=run.pk, actor=actor))
    return resumed
