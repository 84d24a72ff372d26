"""The push outbox: one delivery per run and department, sent over HTTP or downloaded.

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

The sending itself is the Celery task ``early_warning.push_delivery`` (``tasks.py``, which
calls :func:`delivery_send`).  This module never imports the tasks: :func:`enqueue` looks the
task up by name in the Celery app (and, where the web process has not loaded it, sends the
message by name) — so the tasks depend on the services and never the other way round.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import requests
from celery import current_app, current_task
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from yibao_site.actors import require_actor
from yibao_site.audit import audited_save
from yibao_site.money import to_fen
from yibao_site.permissions import STAFF_ROLES

from .. import rules
from ..models import Channel, DeliveryAttempt, DeliveryStatus, PersonWarning, WarningDelivery
from .common import SUPERVISOR, error, require_partner_or, user_or_none
from .partners import endpoint_for

log = logging.getLogger(__name__)

PUSH_TASK = "early_warning.push_delivery"


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


def enqueue(delivery_ids: list[int]) -> None:
    """Queue the pushes; from inside a task, on the queue that task came from (the pool of
    workers serving this jurisdiction), otherwise on the default queue."""
    options = {}
    info = getattr(getattr(current_task, "request", None), "delivery_info", None) or {}
    if info.get("routing_key") and not info.get("is_eager"):
        options["queue"] = info["routing_key"]
    task = current_app.tasks.get(PUSH_TASK)
    for pk in delivery_ids:
        try:
            if task is not None:
                task.apply_async((pk,), **options)
            else:  # a process that never loaded the tasks: the same message, by name
                current_app.send_task(PUSH_TASK, args=(pk,), **options)
        except Exception:  # broker down: the sweeper picks the pending delivery up later
            log.exception("could not queue warning delivery %s", pk)


def enqueue_on_commit(delivery_ids: list[int]) -> None:
    """Queue the pushes once the transaction that made them commits (never a push of a
    delivery that was rolled back)."""
    ids = list(delivery_ids)
    if ids:
        transaction.on_commit(lambda: enqueue(ids))


def delivery_payload(delivery: WarningDelivery) -> bytes:
    """The JSON body of a delivery: byte-identical on every attempt (no send time inside)."""
    run = delivery.run
    rows = (PersonWarning.objects.filter(month=run.month, run=run).order_by("kind", "township__code", "person__id_number")
            .values_list("id", "person__id_number", "person__name", "township__code", "township__name",
                         "person__village__code", "person__village__name", "kind", "out_of_pocket", "threshold",
                         "is_new"))
    warnings = [
        {"id": pk, "person": id_number, "name": name, "township": t_code, "township_name": t_name,
         "village": v_code, "village_name": v_name, "kind": kind, "month": f"{run.month:%Y-%m}",
         "out_of_pocket": str(to_fen(oop)), "threshold": str(to_fen(line)), "is_new": bool(is_new)}
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


def _claim(delivery_id: int, actor) -> tuple[WarningDelivery, int] | None:
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
            audited_save(delivery, actor=actor, reason=_("推送失败"), update_fields=["status", "last_error"])
            return None
        delivery.status = DeliveryStatus.SENDING
        delivery.attempts += 1
        delivery.round_attempts += 1
        delivery.lease_until = now + timedelta(seconds=settings.PUSH_TIMEOUT_SECONDS + 60)
        audited_save(delivery, actor=actor, reason=_("开始推送"),
                     update_fields=["status", "attempts", "round_attempts", "lease_until"])
        return delivery, delivery.attempts


def delivery_send(*, delivery_id: int, actor) -> SendOutcome:
    """Make one attempt of a push delivery and record it; say whether and when to retry
    (the push task, as ``common.SYSTEM``)."""
    require_actor(actor, SUPERVISOR, system=True)
    claimed = _claim(delivery_id, actor)
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
    status_code, text, error_text = None, "", ""
    try:
        response = requests.post(delivery.endpoint.url, data=body, headers=headers,
                                 timeout=settings.PUSH_TIMEOUT_SECONDS, allow_redirects=False)
        status_code, text = response.status_code, response.text[:RESPONSE_KEEP]
    except requests.RequestException as exc:
        error_text = f"{type(exc).__name__}: {exc}"[:300]
    duration = int((time.monotonic() - clock) * 1000)
    return _record(delivery.pk, actor=actor, number=number, started=started, duration=duration,
                   status_code=status_code, text=text, error=error_text, digest=digest)


@transaction.atomic
def _record(delivery_id: int, *, actor, number: int, started: datetime, duration: int, status_code: int | None,
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
        audited_save(delivery, actor=actor, reason=_("推送成功"), update_fields=fields)
        return SendOutcome(delivery.status, attempt=number)
    permanent = status_code is not None and 400 <= status_code < 500 and status_code not in RETRYABLE_4XX
    if permanent or delivery.round_attempts >= MAX_ATTEMPTS:
        delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED, None
        audited_save(delivery, actor=actor, reason=_("推送失败,等待重新推送"), update_fields=fields)
        return SendOutcome(delivery.status, attempt=number)
    wait = rules.backoff_seconds(delivery.round_attempts, BACKOFF_BASE, BACKOFF_CAP)
    delivery.status, delivery.next_attempt_at = DeliveryStatus.PENDING, now + timedelta(seconds=wait)
    audited_save(delivery, actor=actor, reason=_("推送失败,稍后重试"), update_fields=fields)
    return SendOutcome(delivery.status, retry_in=wait, attempt=number)


def deliveries_sweep(*, now: datetime | None = None) -> int:
    """Queue again every push delivery whose retry is overdue or whose sender vanished
    (a lost broker message, a worker killed mid-send): nothing is lost.  Writes nothing: the
    push task it queues does."""
    now = now or timezone.now()
    stale = now - SWEEP_GRACE
    ids = list(WarningDelivery.objects.filter(channel=Channel.PUSH).filter(
        Q(status=DeliveryStatus.PENDING, next_attempt_at__isnull=True, created_at__lt=stale)
        | Q(status=DeliveryStatus.PENDING, next_attempt_at__lt=stale)
        | Q(status=DeliveryStatus.SENDING, lease_until__lt=now)
    ).values_list("pk", flat=True))
    enqueue(ids)
    return len(ids)


@transaction.atomic
def delivery_redeliver(*, delivery: WarningDelivery, actor) -> WarningDelivery:
    """Send a failed (or never downloaded) delivery again, through the endpoint configured now."""
    require_actor(actor, SUPERVISOR)
    delivery = WarningDelivery.objects.select_for_update(of=("self",)).select_related("run__region").get(pk=delivery.pk)
    if delivery.status in (DeliveryStatus.DELIVERED, DeliveryStatus.SENDING) or delivery.acknowledged_at:
        raise error("detail", _("该推送已送达或正在推送,不能重新推送。"))
    endpoint = endpoint_for(delivery.run.region, delivery.department)
    if endpoint is None:
        if delivery.channel == Channel.DOWNLOAD:
            raise error("detail", _("该部门未配置推送接口,请在后台下载名单。"))
        delivery.channel, delivery.status, delivery.endpoint = Channel.DOWNLOAD, DeliveryStatus.AWAITING_DOWNLOAD, None
    else:
        delivery.channel, delivery.status, delivery.endpoint = Channel.PUSH, DeliveryStatus.PENDING, endpoint
    delivery.round_attempts, delivery.next_attempt_at, delivery.lease_until = 0, None, None
    audited_save(delivery, actor=actor, reason=_("重新推送"),
                 update_fields=["channel", "status", "endpoint", "round_attempts", "next_attempt_at", "lease_until"])
    if delivery.channel == Channel.PUSH:
        enqueue_on_commit([delivery.pk])
    return delivery


def _own_department(partner, delivery: WarningDelivery, message: str) -> None:
    if partner is not None and partner.department != delivery.department:
        raise PermissionDenied(message)


@transaction.atomic
def delivery_mark_downloaded(*, delivery: WarningDelivery, actor) -> WarningDelivery:
    """Record that the list of a department without an endpoint was downloaded (an explicit
    POST of the download; reading the list with GET records nothing)."""
    partner = require_partner_or(actor, STAFF_ROLES)
    delivery = WarningDelivery.objects.select_for_update().get(pk=delivery.pk)
    _own_department(partner, delivery, _("只能下载本部门的名单。"))
    if delivery.status == DeliveryStatus.AWAITING_DOWNLOAD:
        delivery.status, delivery.downloaded_at = DeliveryStatus.DOWNLOADED, timezone.now()
        delivery.downloaded_by = user_or_none(actor)
        audited_save(delivery, actor=actor, reason=_("下载名单"),
                     update_fields=["status", "downloaded_at", "downloaded_by"])
    return delivery


@transaction.atomic
def delivery_acknowledge(*, delivery: WarningDelivery, actor, note: str = "") -> tuple[WarningDelivery, bool]:
    """A department confirms receipt (签收); a second acknowledgement changes nothing.  A
    supervisor records it on a department's behalf (a paper receipt)."""
    partner = require_partner_or(actor, SUPERVISOR)
    delivery = WarningDelivery.objects.select_for_update().get(pk=delivery.pk)
    _own_department(partner, delivery, _("只能签收本部门的推送。"))
    if delivery.acknowledged_at:
        return delivery, False
    if delivery.status not in ACKNOWLEDGEABLE:
        raise error("detail", _("该推送尚未送达或下载,不能签收。"))
    delivery.acknowledged_at = timezone.now()
    delivery.acknowledged_by = user_or_none(actor)
    delivery.acknowledgement_note = (note or "")[:300]
    audited_save(delivery, actor=actor, reason=_("部门签收"),
                 update_fields=["acknowledged_at", "acknowledged_by", "acknowledgement_note"])
    return delivery, True
