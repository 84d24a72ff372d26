"""The designated hospital's opinion and the bureau's decisions: approve (认定), reject,
review (复审), revoke (撤销); certifications decided by hospitals (导入); the daily overdue flags
(限时办结)."""
from __future__ import annotations

from datetime import date, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from yibao_site.actors import require_actor
from yibao_site.audit import audited_save, bulk_update_audited
from yibao_site.dates import validity_window
from yibao_site.policy import PolicySnapshot
from yibao_site.workflow import require_not_own, require_status

from ..models import AWAITING_OPINION, OPEN_STATUSES, Certification, CertificationChannel, CertificationEvent
from .common import (
    DECIDE_ROLES, IMPORT_ROLES, JOB_ROLES, OPINION_ROLES, Action, S, _event, _lock, _move, _no_duplicate, _see,
    _snapshot, _today, can_record_opinion, hospitals,
)


@transaction.atomic
def certification_record_opinion(*, actor, certification: Certification, hospital_code: str, supports: bool,
                                 opinion: str, on: date | None = None) -> Certification:
    """Record the designated hospital's certification opinion (定点医院认定意见)."""
    require_actor(actor, OPINION_ROLES, message=_("只有窗口经办或审核人员可以录入医院认定意见。"))
    on = _today(on)
    cert = _lock(certification)
    _see(actor, cert.township)
    require_not_own(actor, cert.filed_by_id, _("录入意见于"))
    require_status(cert, AWAITING_OPINION, _("录入医院意见"))
    if not can_record_opinion(actor, cert):
        raise PermissionDenied(_("只有窗口经办或审核人员可以录入医院认定意见。"))
    allowed = hospitals(_snapshot(cert.person, on))
    code = (hospital_code or "").strip()
    if code not in allowed:
        raise ValidationError({"hospital": [_("%(code)s 不是本地区可出具门诊慢特病认定意见的定点医院(可选:%(list)s)。")
                                            % {"code": code or "—", "list": "、".join(allowed.values()) or "—"}]})
    opinion = (opinion or "").strip()
    if not opinion:
        raise ValidationError({"opinion": [_("请填写医院认定意见。")]})
    cert.hospital_code, cert.hospital_name = code, allowed[code]
    cert.hospital_supports, cert.hospital_opinion = bool(supports), opinion
    cert.opinion_by, cert.opinion_at = actor, timezone.now()
    return _move(cert, to=S.ASSESSED, action=Action.OPINION, actor=actor, reason=opinion,
                 fields=["hospital_code", "hospital_name", "hospital_supports", "hospital_opinion", "opinion_by",
                         "opinion_at"],
                 data={"hospital": code, "supports": cert.hospital_supports})


def _validity(cert: Certification, start: date, snap: PolicySnapshot) -> tuple[date, date]:
    return validity_window(start, snap.integer("chronic.certification.valid_months"))


@transaction.atomic
def certification_approve(*, actor, certification: Certification, reason: str = "",
                          on: date | None = None) -> Certification:
    """Certify (认定): valid from ``on`` for the pack's period. Never by the filer."""
    require_actor(actor, DECIDE_ROLES, message=_("只有审核人员可以审批申请。"))
    on = _today(on)
    cert = _lock(certification)
    _see(actor, cert.township)
    require_not_own(actor, cert.filed_by_id, _("审批"))
    require_status(cert, (S.ASSESSED,), _("批准"))
    if cert.hospital_supports is not True:
        raise ValidationError({"detail": [_("定点医院意见为不符合认定标准,不能认定;请作出不予认定的决定。")]})
    _no_duplicate(cert.person, cert.disease, on, exclude=cert.pk)
    snap = _snapshot(cert.person, on)
    cert.valid_from, cert.valid_to = _validity(cert, on, snap)
    cert.decided_by, cert.decided_at, cert.decision_reason = actor, timezone.now(), (reason or "").strip()
    cert.policy_version = snap.version
    cert.overdue = False
    return _move(cert, to=S.APPROVED, action=Action.APPROVE, actor=actor, reason=cert.decision_reason,
                 fields=["valid_from", "valid_to", "decided_by", "decided_at", "decision_reason", "policy_version",
                         "overdue"],
                 data={"valid_from": cert.valid_from.isoformat(), "valid_to": cert.valid_to.isoformat()})


@transaction.atomic
def certification_reject(*, actor, certification: Certification, reason: str) -> Certification:
    """Refuse with a reason (不予认定). A window clerk never refuses (窗口无否决权)."""
    require_actor(actor, DECIDE_ROLES, message=_("只有审核人员可以作出不予批准的决定(窗口无否决权)。"))
    cert = _lock(certification)
    _see(actor, cert.township)
    require_not_own(actor, cert.filed_by_id, _("审批"))
    require_status(cert, OPEN_STATUSES, _("不予批准"))
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": [_("不予批准必须说明理由。")]})
    cert.decided_by, cert.decided_at, cert.decision_reason = actor, timezone.now(), reason
    cert.overdue = False
    return _move(cert, to=S.REJECTED, action=Action.REJECT, actor=actor, reason=reason,
                 fields=["decided_by", "decided_at", "decision_reason", "overdue"])


@transaction.atomic
def certification_review(*, actor, certification: Certification, reason: str = "",
                         on: date | None = None) -> Certification:
    """Review (复审) an approved certification: a new period from the day after the current one
    ends (or from ``on`` if it has lapsed)."""
    require_actor(actor, DECIDE_ROLES, message=_("只有审核人员可以复审认定。"))
    on = _today(on)
    cert = _lock(certification)
    _see(actor, cert.township)
    require_status(cert, (S.APPROVED,), _("复审"))
    snap = _snapshot(cert.person, on)
    start = on if cert.valid_to is None or cert.valid_to < on else cert.valid_to + timedelta(days=1)
    before = cert.valid_to
    if cert.valid_to is None or cert.valid_to < on:
        cert.valid_from = on
    _start, cert.valid_to = _validity(cert, start, snap)
    cert.reviewed_at = timezone.now()
    cert.policy_version = snap.version
    return _move(cert, to=S.APPROVED, action=Action.REVIEW, actor=actor, reason=(reason or "").strip(),
                 fields=["valid_from", "valid_to", "reviewed_at", "policy_version"],
                 data={"valid_to_before": before.isoformat() if before else None,
                       "valid_to": cert.valid_to.isoformat()})


@transaction.atomic
def certification_revoke(*, actor, certification: Certification, reason: str, on: date | None = None
                         ) -> Certification:
    """Revoke (撤销) from ``on``: the certification covers service dates up to the day before."""
    require_actor(actor, DECIDE_ROLES, message=_("只有审核人员可以撤销认定。"))
    on = _today(on)
    cert = _lock(certification)
    _see(actor, cert.township)
    require_status(cert, (S.APPROVED,), _("撤销"))
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": [_("撤销认定必须说明理由。")]})
    ends = on - timedelta(days=1)
    if cert.valid_to is None or ends < cert.valid_to:
        cert.valid_to = ends
    cert.revoked_at = timezone.now()
    return _move(cert, to=S.REVOKED, action=Action.REVOKE, actor=actor, reason=reason,
                 fields=["valid_to", "revoked_at"], data={"effective": on.isoformat()})


# ── deadlines ────────────────────────────────────────────────────────────────────────────

@transaction.atomic
def certifications_flag_overdue(*, actor, on: date | None = None) -> dict:
    """Flag open cases past their deadline and unflag the rest (限时办结); idempotent for a day.
    The daily job (``system_actor("chronic.flag_overdue")``) or a supervisor."""
    require_actor(actor, JOB_ROLES, system=True)
    on = _today(on)
    late = list(Certification.objects.select_for_update().filter(
        status__in=OPEN_STATUSES, deadline__lt=on, overdue=False).order_by("pk"))
    for cert in late:
        cert.overdue = True
    bulk_update_audited(late, Certification, ["overdue"], actor=actor, reason=_("超过办结时限"))
    CertificationEvent.objects.bulk_create([
        CertificationEvent(certification=c, action=Action.OVERDUE, from_status=c.status, to_status=c.status,
                           reason=_("超过办结时限 %(d)s") % {"d": c.deadline.isoformat()},
                           data={"as_of": on.isoformat()}) for c in late])
    cleared = list(Certification.objects.select_for_update().filter(overdue=True).exclude(
        status__in=OPEN_STATUSES, deadline__lt=on).order_by("pk"))
    for cert in cleared:
        cert.overdue = False
    bulk_update_audited(cleared, Certification, ["overdue"], actor=actor, reason=_("不再超期"))
    return {"as_of": on.isoformat(), "flagged": len(late), "cleared": len(cleared)}


# ── certifications decided by hospitals (导入) ────────────────────────────────────────────

def certifications_import(*, rows: list[dict], actor) -> int:
    """Write hospital-decided certifications (cleaned by ``importers.CertificationImporter``):
    each is created approved, valid from its decision date, with its events."""
    require_actor(actor, IMPORT_ROLES, message=_("只有审核人员可以导入定点医院认定结果(命令行请用 --user 指定账号)。"))
    now = timezone.now()
    count = 0
    for row in rows:
        cert = Certification(
            person=row["person"], township=row["person"].township, disease=row["disease"],
            diagnosis=row["diagnosis"], status=S.APPROVED, channel=CertificationChannel.HOSPITAL, filed_by=actor,
            owner=actor, submitted_at=now, hospital_code=row["hospital_code"], hospital_name=row["hospital_name"],
            hospital_opinion=row["opinion"], hospital_supports=True, opinion_by=actor, opinion_at=now,
            decided_by=actor, decided_at=now, decision_reason=row["opinion"], valid_from=row["valid_from"],
            valid_to=row["valid_to"], policy_version=row["policy_version"], note=row.get("reference", ""))
        audited_save(cert, actor=actor, reason=_("定点医院认定导入"))
        _event(cert, action=Action.IMPORT, actor=actor, reason=row["opinion"],
               data={"hospital": row["hospital_code"], "reference": row.get("reference", ""),
                     "valid_from": row["valid_from"].isoformat(), "valid_to": row["valid_to"].isoformat()})
        count += 1
    return count
