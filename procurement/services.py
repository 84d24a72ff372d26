"""Writes of procurement state (DOMAIN.md §8): master data, deliveries, acceptance,
reconciliation and the supplier payment run.

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
from yibao_site.audit import audited_save, bulk_create_audited, bulk_update_audited, history_from_rows
from yibao_site.inputs import parse_money
from yibao_site.models import Region, RegionLevel, Role
from yibao_site.money import to_fen
from yibao_site.policy import PolicyCache, policy_snapshot

from . import rules
from .models import (
    AgreedVolume, BatchLevel, Delivery, DeliveryAlert, DeliveryStatus, Hospital, HospitalDeduction, HospitalLevel,
    LineState, Order, PaymentLine, PaymentOrder, PaymentRun, ProcurementBatch, Product, ProductKind, Supplier, RunStatus,
    RunTrigger,
)

log = logging.getLogger(__name__)

PAYMENT_RUN_LOCK_KEY = zlib.crc32(b"procurement.payment_run")  # advisory lock id (a stable int32)
FINANCE_ROLES = frozenset({Role.FINANCE})
#: Who may approve a supplier's corrected bank details (payments' reviewers of a payee correction).
CORRECTION_REVIEWERS = frozenset({Role.FINANCE, Role.SUPERVISOR})
#: Accepted but no money received yet: the 30-day clock is still running.
UNPAID = [DeliveryStatus.ACCEPTED, DeliveryStatus.HELD, DeliveryStatus.INSTRUCTED, DeliveryStatus.RETURNED]


def _chunk_size() -> int:
    """Deliveries paid per transaction (tuning knob; env ``PROCUREMENT_PAYMENT_CHUNK_SIZE``)."""
    return int(getattr(settings, "PROCUREMENT_PAYMENT_CHUNK_SIZE", 0)
               or os.environ.get("PROCUREMENT_PAYMENT_CHUNK_SIZE", "5000"))


def _money(value, field: str) -> Decimal:
    try:
        return parse_money(value, allow_number=True)  # the kernel's one money rule and bound
    except ValidationError as exc:
        raise ValidationError({field: exc.messages}) from None


def _positive_int(value, field: str, *, allow_zero: bool = False) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValidationError({field: [_("请输入整数。")]}) from None
    if number < 0 or (number == 0 and not allow_zero) or number > 2_000_000_000 or str(number) != str(value).strip():
        raise ValidationError({field: [_("数量应为正整数。") if not allow_zero else _("数量应为不小于0的整数。")]})
    return number


# ── master data ────────────────────────────────────────────────────────────────────────────

def _upsert(model, code: str, fields: dict, *, actor, reason: str):
    obj = model.objects.select_for_update().filter(code=code).first() or model(code=code)
    created = obj.pk is None
    if not created and all(getattr(obj, k) == v for k, v in fields.items()):
        return obj
    for k, v in fields.items():
        setattr(obj, k, v)
    obj.full_clean(validate_unique=created)
    audited_save(obj, actor=actor, reason=reason)
    return obj


@transaction.atomic
def batch_save(*, code: str, name: str, level: str, starts_on: date | None = None, ends_on: date | None = None,
               actor=None) -> ProcurementBatch:
    """Create or update the procurement batch ``code``."""
    require_actor(actor, FINANCE_ROLES)
    if level not in BatchLevel.values:
        raise ValidationError({"level": [_("集采层级应为 national、provincial 或 inter_provincial。")]})
    if starts_on and ends_on and ends_on < starts_on:
        raise ValidationError({"ends_on": [_("结束日期不能早于开始日期。")]})
    return _upsert(ProcurementBatch, code, {"name": name, "level": level, "starts_on": starts_on, "ends_on": ends_on},
                   actor=actor, reason=_("保存集采批次"))


@transaction.atomic
def supplier_save(*, code: str, name: str, credit_code: str = "", bank_name: str = "", bank_account: str = "",
                  actor=None) -> Supplier:
    """Create or update the supplier ``code``."""
    require_actor(actor, FINANCE_ROLES)
    return _upsert(Supplier, code, {"name": name, "credit_code": credit_code, "bank_name": bank_name,
                                    "bank_account": bank_account}, actor=actor, reason=_("保存供应企业"))


@transaction.atomic
def supplier_bank_correct(*, code: str, bank_name: str, bank_account: str, actor) -> Supplier:
    """Record the supplier's corrected bank details once a payee correction was reviewed (the
    reviewer is finance or a supervisor: payments' ``correction_approve`` calls back here)."""
    require_actor(actor, CORRECTION_REVIEWERS)
    supplier = Supplier.objects.get(code=code)
    return _upsert(Supplier, code, {"name": supplier.name, "credit_code": supplier.credit_code,
                                    "bank_name": bank_name, "bank_account": bank_account},
                   actor=actor, reason=_("保存供应企业"))


@transaction.atomic
def product_save(*, code: str, name: str, kind: str, unit_price, specification: str = "", unit: str = "",
                 batch: ProcurementBatch | None = None, supplier: Supplier | None = None, actor=None) -> Product:
    """Create or update the product ``code`` and its selected unit price.

    Deliveries copy the price when they are registered, so a new price applies to later
    deliveries only.
    """
    require_actor(actor, FINANCE_ROLES)
    if kind not in ProductKind.values:
        raise ValidationError({"kind": [_("类别应为 drug 或 consumable。")]})
    price = _money(unit_price, "unit_price")
    if price <= 0:
        raise ValidationError({"unit_price": [_("中选单价必须大于0。")]})
    return _upsert(Product, code, {"name": name, "kind": kind, "unit_price": price, "specification": specification,
                                   "unit": unit, "batch": batch, "supplier": supplier},
                   actor=actor, reason=_("保存集采产品"))


@transaction.atomic
def hospital_save(*, code: str, name: str, level: int, township: Region, actor=None) -> Hospital:
    """Create or update the designated hospital ``code`` in a township."""
    require_actor(actor, FINANCE_ROLES)
    if township is None or township.level != RegionLevel.TOWNSHIP:
        raise ValidationError({"township": [_("所在区划必须是乡镇(街道)。")]})
    if str(level) not in {str(v) for v in HospitalLevel.values}:
        raise ValidationError({"level": [_("医院等级应为1、2或3。")]})
    return _upsert(Hospital, code, {"name": name, "level": int(level), "township": township},
                   actor=actor, reason=_("保存定点医疗机构"))


@transaction.atomic
def agreed_volume_save(*, hospital: Hospital, product: Product, year: int, quantity, actor=None) -> AgreedVolume:
    """Set the agreed yearly volume of ``hospital`` for ``product`` (约定采购量)."""
    require_actor(actor, FINANCE_ROLES)
    qty = _positive_int(quantity, "quantity")
    if not 2000 <= int(year) <= 2100:
        raise ValidationError({"year": [_("年度不正确。")]})
    vol = (AgreedVolume.objects.select_for_update().filter(hospital=hospital, product=product, year=year).first()
           or AgreedVolume(hospital=hospital, product=product, year=year))
    if vol.pk and vol.quantity == qty:
        return vol
    vol.quantity = qty
    audited_save(vol, actor=actor, reason=_("保存约定采购量"))
    return vol


@transaction.atomic
def order_create(*, hospital: Hospital, supplier: Supplier, product: Product, quantity, ordered_on: date,
                 number: str = "", actor=None) -> Order:
    """Register a purchase order from a hospital to a supplier."""
    require_actor(actor, FINANCE_ROLES)
    _check_supplier_of(product, supplier)
    order = Order(hospital=hospital, supplier=supplier, product=product,
                  quantity=_positive_int(quantity, "quantity"), ordered_on=ordered_on, number=number)
    audited_save(order, actor=actor, reason=_("登记采购订单"))
    return order


def _check_supplier_of(product: Product, supplier: Supplier) -> None:
    if product.supplier_id and product.supplier_id != supplier.pk:
        raise ValidationError({"supplier": [_("产品 %(product)s 的中选企业不是 %(supplier)s。")
                                            % {"product": product.code, "supplier": supplier.code}]})


# ── deliveries, acceptance, reconciliation ───────────────────────────────────────────────────

def delivery_check(*, hospital: Hospital, supplier: Supplier, product: Product, order: Order | None,
                   delivered_on: date, today: date) -> dict[str, list[str]]:
    """Return the field errors of a new delivery (shared by the service and the importer)."""
    errors: dict[str, list[str]] = {}
    if product.supplier_id and product.supplier_id != supplier.pk:
        errors.setdefault("supplier", []).append(
            _("产品 %(product)s 的中选企业不是 %(supplier)s。") % {"product": product.code, "supplier": supplier.code})
    if order is not None and (order.hospital_id, order.supplier_id, order.product_id) != (
            hospital.pk, supplier.pk, product.pk):
        errors.setdefault("order", []).append(_("订单的医疗机构、供应企业或产品与配送不一致。"))
    if delivered_on > today:
        errors.setdefault("delivered_on", []).append(_("配送日期不能晚于今天。"))
    return errors


def invoice_taken(supplier: Supplier, invoice_number: str) -> bool:
    return bool(invoice_number) and Delivery.objects.filter(supplier=supplier, invoice_number=invoice_number).exists()


@transaction.atomic
def delivery_create(*, hospital: Hospital, supplier: Supplier, product: Product, quantity, amount,
                    delivered_on: date, order: Order | None = None, invoice_number: str = "",
                    actor=None) -> Delivery:
    """Register a delivery with the supplier's invoice amount; it waits for acceptance."""
    require_actor(actor, FINANCE_ROLES)
    errors = delivery_check(hospital=hospital, supplier=supplier, product=product, order=order,
                            delivered_on=delivered_on, today=timezone.localdate())
    if invoice_taken(supplier, invoice_number):
        errors["invoice_number"] = [_("该企业的发票号 %(no)s 已登记。") % {"no": invoice_number}]
    qty = amt = None
    try:
        qty = _positive_int(quantity, "quantity")
    except ValidationError as exc:
        errors.update(exc.message_dict)
    try:
        amt = _money(amount, "amount")
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    delivery = Delivery(hospital=hospital, supplier=supplier, product=product, order=order, quantity=qty,
                        unit_price=product.unit_price, amount=amt, delivered_on=delivered_on,
                        invoice_number=invoice_number)
    audited_save(delivery, actor=actor, reason=_("登记配送"))
    return delivery


def _settle_terms(delivery: Delivery, accepted_on: date) -> tuple[int, Decimal, dict, str]:
    snap = policy_snapshot(delivery.hospital.township, accepted_on)
    payment_days = snap.integer("procurement.payment_days")
    tolerance = snap.decimal("procurement.reconcile_tolerance")
    return payment_days, tolerance, snap.used_record(), snap.version


def acceptance_errors(delivery: Delivery, *, accepted_on: date, quantity: int, today: date) -> dict[str, list[str]]:
    """Return the field errors of accepting ``quantity`` of ``delivery`` on ``accepted_on``."""
    errors: dict[str, list[str]] = {}
    if quantity > delivery.quantity:
        errors["quantity"] = [_("验收数量不能超过配送数量 %(n)s。") % {"n": delivery.quantity}]
    if accepted_on < delivery.delivered_on:
        errors["accepted_on"] = [_("验收日期不能早于配送日期。")]
    elif accepted_on > today:
        errors["accepted_on"] = [_("验收日期不能晚于今天。")]
    return errors


def acceptance_apply(delivery: Delivery, *, accepted_on: date, quantity: int, snapshot) -> bool:
    """Set the acceptance and reconciliation fields of ``delivery`` in memory; return whether
    the invoice reconciled.  ``snapshot`` is the policy of the hospital's township on the
    acceptance date (the service and the importer both call this)."""
    delivery.accepted_on, delivery.accepted_quantity = accepted_on, quantity
    if quantity == 0:
        delivery.status, delivery.accepted_amount = DeliveryStatus.REJECTED, Decimal("0.00")
        delivery.mismatch = delivery.due_on = None
        return True
    payment_days = snapshot.integer("procurement.payment_days")
    tolerance = snapshot.decimal("procurement.reconcile_tolerance")
    delivery.accepted_amount = rules.accepted_value(quantity, delivery.unit_price)
    ok, delivery.mismatch = rules.reconcile(delivery.amount, delivery.accepted_amount, tolerance)
    delivery.status = DeliveryStatus.ACCEPTED if ok else DeliveryStatus.HELD
    delivery.due_on = rules.due_date(accepted_on, payment_days)
    delivery.policy_used, delivery.policy_version = snapshot.used_record(), snapshot.version
    return ok


@transaction.atomic
def delivery_accept(*, delivery_id: int, accepted_on: date, quantity, actor=None) -> Delivery:
    """Record the hospital's acceptance (验收) of a delivery, in full or in part, and reconcile.

    The accepted value is accepted quantity × the selected unit price; the invoice is compared
    with it: within ``procurement.reconcile_tolerance`` the delivery becomes payable, otherwise
    it is held for finance.  Either way the payment is due ``procurement.payment_days`` after
    acceptance.  Accepting nothing (quantity 0) rejects the whole delivery.
    """
    require_actor(actor, FINANCE_ROLES)
    delivery = (Delivery.objects.select_for_update(of=("self",)).select_related("hospital__township")
                .filter(pk=delivery_id).first())
    if delivery is None:
        raise ValidationError({"detail": [_("配送记录不存在。")]})
    if delivery.status != DeliveryStatus.DELIVERED:
        raise ValidationError({"detail": [_("该配送已验收(%(status)s),不能重复验收。")
                                          % {"status": delivery.get_status_display()}]})
    qty = _positive_int(quantity, "quantity", allow_zero=True)
    errors = acceptance_errors(delivery, accepted_on=accepted_on, quantity=qty, today=timezone.localdate())
    if errors:
        raise ValidationError(errors)
    ok = acceptance_apply(delivery, accepted_on=accepted_on, quantity=qty,
                          snapshot=policy_snapshot(delivery.hospital.township, accepted_on))
    if qty == 0:
        reason = _("全部拒收")
    else:
        reason = _("验收") if ok else _("验收:发票金额与验收金额不符,挂起待财务处理")
    audited_save(delivery, actor=actor, reason=reason)
    if not ok:
        log.warning("delivery %s held: invoice differs from accepted value by %s", delivery.pk, delivery.mismatch)
    return delivery


@transaction.atomic
def delivery_reconcile(*, delivery_id: int, amount, reason: str = "", actor=None) -> Delivery:
    """Record the supplier's corrected invoice for a held delivery (finance) and release it.

    The corrected amount must reconcile with the accepted value (same tolerance as at
    acceptance); otherwise nothing is written and the difference is reported.
    """
    require_actor(actor, FINANCE_ROLES)
    delivery = (Delivery.objects.select_for_update(of=("self",)).select_related("hospital__township")
                .filter(pk=delivery_id).first())
    if delivery is None:
        raise ValidationError({"detail": [_("配送记录不存在。")]})
    if delivery.status != DeliveryStatus.HELD:
        raise ValidationError({"detail": [_("只有对账不符挂起的配送可以重新对账。")]})
    amt = _money(amount, "amount")
    _days, tolerance, _used, _version = _settle_terms(delivery, delivery.accepted_on)
    ok, difference = rules.reconcile(amt, delivery.accepted_amount, tolerance)
    if not ok:
        raise ValidationError({"amount": [_("更正后的发票金额与验收金额 %(value)s 仍相差 %(diff)s 元。")
                                          % {"value": delivery.accepted_amount, "diff": difference}]})
    delivery.amount, delivery.mismatch, delivery.status = amt, difference, DeliveryStatus.ACCEPTED
    audited_save(delivery, actor=actor, reason=(reason or _("更正发票金额,对账通过"))[:100])
    return delivery


# ── the payment run ──────────────────────────────────────────────────────────────────────────

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


@transaction.atomic
def _pay_chunk(run: PaymentRun, size: int, writer) -> int:
    """Instruct up to ``size`` payable deliveries in one transaction; return how many.

    A supplier without bank details cannot be paid: its deliveries wait (and are flagged due
    soon and overdue like any unpaid delivery) until its account is recorded.
    """
    rows = list(
        Delivery.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(status=DeliveryStatus.ACCEPTED, accepted_on__lte=run.as_of)
        .exclude(supplier__bank_account="").exclude(supplier__bank_name="")
        .order_by("id")
        .values_list("id", "supplier_id", "hospital_id", "amount", "accepted_on", "due_on")[:size]
    )
    if not rows:
        return 0
    supplier_ids = {r[1] for r in rows}
    orders = dict(PaymentOrder.objects.filter(run=run, supplier_id__in=supplier_ids).values_list("supplier_id", "id"))
    missing = supplier_ids - orders.keys()
    if missing:
        codes = dict(Supplier.objects.filter(pk__in=missing).values_list("pk", "code"))
        bulk_create_audited(
            [PaymentOrder(run=run, supplier_id=sid, number=f"ZF{run.as_of:%Y%m%d}-{codes[sid]}") for sid in missing],
            PaymentOrder, actor=writer, reason=_("供应商直接结算付款单"),
        )
        orders = dict(PaymentOrder.objects.filter(run=run, supplier_id__in=supplier_ids)
                      .values_list("supplier_id", "id"))
    as_of = run.as_of
    PaymentLine.objects.bulk_create(
        [PaymentLine(order_id=orders[sid], delivery_id=did, hospital_id=hid, amount=amount, accepted_on=accepted_on,
                     due_on=due_on, state=LineState.INSTRUCTED)
         for did, sid, hid, amount, accepted_on, due_on in rows],
        batch_size=2500,
    )
    ids = [r[0] for r in rows]
    Delivery.objects.filter(pk__in=ids).update(status=DeliveryStatus.INSTRUCTED)
    history_from_rows(Delivery, ids, actor=writer,
                      reason=_("支付批次 %(date)s 已发支付指令") % {"date": as_of.isoformat()})
    return len(rows)


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
