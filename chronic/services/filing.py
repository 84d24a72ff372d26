"""Filing a certification: create, attach materials, submit (受理), return for supplement
(一次性告知) and resubmit."""
from __future__ import annotations

from datetime import date

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from members.models import Person
from yibao_site.actors import require_actor
from yibao_site.audit import audited_save
from yibao_site.models import Role
from yibao_site.scoping import scope_queryset
from yibao_site.uploads import inspect_upload
from yibao_site.workflow import clean_missing, deadline_from, require_not_own, require_status, unresolved_items

from ..models import (
    OPEN_STATUSES, Certification, CertificationChannel, CertificationMaterial, CertificationNotice,
)
from .common import (
    MATERIAL_ROLES, OPINION_ROLES, REQUIRED_MATERIALS, Action, M, S, _check_diagnosis, _event, _lock, _move,
    _no_duplicate, _require_file, _resolve_disease, _see, _snapshot, _today, can_file, can_return,
)


@transaction.atomic
def certification_create(*, actor, person: Person, disease, diagnosis: str, note: str = "",
                         on: date | None = None) -> Certification:
    """File a certification (草稿) of ``disease`` (catalogue code or row) for ``person``."""
    on = _today(on)
    _require_file(actor, person.township)
    Person.objects.select_for_update().filter(pk=person.pk).first()  # one filing per person at a time
    found = _resolve_disease(person, disease, on)
    code = _check_diagnosis(found, diagnosis)
    _no_duplicate(person, found, on)
    cert = Certification(person=person, township=person.township, disease=found, diagnosis=code,
                         note=(note or "").strip(), filed_by=actor,
                         channel=CertificationChannel.TOWNSHIP if actor.role == Role.TOWNSHIP_AGENT
                         else CertificationChannel.WINDOW)
    audited_save(cert, actor=actor, reason=_("填报门诊慢特病认定"))
    _event(cert, action=Action.CREATE, actor=actor, reason=cert.note,
           data={"disease": found.code, "diagnosis": code})
    return cert


@transaction.atomic
def material_add(*, actor, certification: Certification, material_type: str, upload) -> CertificationMaterial:
    """Attach a diagnosis, record or report (an image or PDF, type sniffed from its bytes)."""
    require_actor(actor, MATERIAL_ROLES, message=_("您无权为该申请上传材料。"))
    cert = _lock(certification)
    _see(actor, cert.township)
    if not (can_file(actor, cert.township) or can_return(actor, cert)):
        raise PermissionDenied(_("您无权为该申请上传材料。"))
    require_status(cert, (S.DRAFT, S.RETURNED, S.SUBMITTED, S.RESUBMITTED), _("上传材料"))
    if material_type not in M.values:
        raise ValidationError({"material_type": [_("请选择材料类型。")]})
    facts = inspect_upload(upload)
    material = CertificationMaterial(certification=cert, material_type=material_type, uploaded_by=actor, **facts)
    material.file.save(f"upload{facts['extension']}", upload, save=False)
    try:
        audited_save(material, actor=actor, reason=_("上传认定材料"))
    except Exception:
        material.file.delete(save=False)
        raise
    _event(cert, action=Action.MATERIAL, actor=actor, from_status=cert.status,
           data={"material": material.pk, "type": material_type, "name": facts["original_name"]})
    return material


@transaction.atomic
def certification_submit(*, actor, certification: Certification, on: date | None = None) -> Certification:
    """Accept the case (受理): the receiver owns it (首问负责) and the deadline starts (限时办结)."""
    on = _today(on)
    cert = _lock(certification)
    _require_file(actor, cert.township)
    require_status(cert, (S.DRAFT,), _("提交"))
    have = set(cert.materials.values_list("material_type", flat=True))
    missing = [str(M(t).label) for t in REQUIRED_MATERIALS if t not in have]
    if missing:
        raise ValidationError({"materials": [_("缺少以下材料:%(list)s。") % {"list": "、".join(missing)}]})
    snap = _snapshot(cert.person, on)
    cert.owner = cert.owner or actor
    cert.submitted_at = timezone.now()
    cert.deadline = deadline_from(on, snap.integer("chronic.certification.deadline_working_days"))
    cert.overdue = False
    cert.policy_version = snap.version
    return _move(cert, to=S.SUBMITTED, action=Action.SUBMIT, actor=actor,
                 fields=["owner", "submitted_at", "deadline", "overdue", "policy_version"],
                 data={"deadline": cert.deadline.isoformat()})


@transaction.atomic
def certification_return(*, actor, certification: Certification, missing, reason: str = "") -> CertificationNotice:
    """Return for supplement listing every missing item at once (一次性告知); return the notice."""
    require_actor(actor, OPINION_ROLES, message=_("您无权退回该申请。"))
    cert = _lock(certification)
    _see(actor, cert.township)
    require_not_own(actor, cert.filed_by_id, _("退回"))
    require_status(cert, OPEN_STATUSES, _("退回补正"))
    if not can_return(actor, cert):
        raise PermissionDenied(_("您无权退回该申请。"))
    items = clean_missing(missing, types=M.values, other=M.OTHER)
    number = f"MTB-{cert.pk:06d}-{cert.notices.count() + 1:02d}"
    notice = CertificationNotice(certification=cert, number=number, missing=items, reason=(reason or "").strip(),
                                 issued_by=actor)
    audited_save(notice, actor=actor, reason=_("一次性告知"))
    cert.overdue = False
    # a returned case needs the hospital's opinion again after the supplement
    cert.hospital_code = cert.hospital_name = cert.hospital_opinion = ""
    cert.hospital_supports = None
    _move(cert, to=S.RETURNED, action=Action.RETURN, actor=actor, reason=notice.reason,
          fields=["overdue", "hospital_code", "hospital_name", "hospital_opinion", "hospital_supports"],
          data={"notice": notice.number, "missing": items})
    return notice


@transaction.atomic
def certification_resubmit(*, actor, certification: Certification, note: str = "",
                           on: date | None = None) -> Certification:
    """Resubmit after supplement: every listed item must have been uploaded since the notice."""
    on = _today(on)
    cert = _lock(certification)
    _require_file(actor, cert.township)
    require_status(cert, (S.RETURNED,), _("重新提交"))
    notice = cert.notices.select_for_update().filter(resolved_at__isnull=True).order_by("-issued_at", "-id").first()
    if notice is not None:
        fresh = set(cert.materials.filter(uploaded_at__gte=notice.issued_at).values_list("material_type", flat=True))
        lacking = unresolved_items(notice.missing_items(), fresh)
        if lacking:
            raise ValidationError({"materials": [_("告知书 %(no)s 所列材料尚未补齐:%(list)s。") % {
                "no": notice.number, "list": "、".join(i["label"] for i in lacking)}]})
        notice.resolved_at = timezone.now()
        audited_save(notice, actor=actor, reason=_("补正完毕"), update_fields=["resolved_at"])
    snap = _snapshot(cert.person, on)
    cert.deadline = deadline_from(on, snap.integer("chronic.certification.deadline_working_days"))
    cert.overdue = False
    return _move(cert, to=S.RESUBMITTED, action=Action.RESUBMIT, actor=actor, reason=(note or "").strip(),
                 fields=["deadline", "overdue"],
                 data={"notice": notice.number if notice else "", "deadline": cert.deadline.isoformat()})


def material_for(actor, material_id: int) -> CertificationMaterial:
    return scope_queryset(CertificationMaterial.objects.select_related("certification"), actor).get(pk=material_id)
