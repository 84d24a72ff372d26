"""Writes of chronic-disease certification (门诊慢特病认定, DOMAIN.md §11) and the catalogue.

Who may do what (the same workflow as assistance applications, ``yibao_site.workflow``):

* **file / upload / submit / resubmit** — a township agent for persons of their own township,
  or a window clerk (窗口受理);
* **return for supplement** (退回补正, 一次性告知: every missing item at once) — a reviewer while
  the case is open, a window clerk while it awaits the hospital's opinion; never one's own filing;
* **record the designated hospital's opinion** (医院认定意见) — a window clerk or reviewer, for
  a hospital the region's ``chronic.certification.hospitals`` lists; never one's own filing;
* **approve / reject** — a reviewer only (窗口无否决权), never one's own filing (superusers
  included); approval needs a supporting hospital opinion and starts the validity
  (``chronic.certification.valid_months`` from the approval date);
* **review (复审) / revoke (撤销)** — a reviewer; a revocation ends the validity the day before;
* **catalogue** — a supervisor (病种目录维护; also loaded from the policy packs).

Every transition locks the row, checks its guard, saves through ``audited_save`` and writes a
:class:`~chronic.models.CertificationEvent` in the same transaction.
"""
from __future__ import annotations

from datetime import date, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from members.models import Person
from yibao_site.actors import require_actor
from yibao_site.audit import audited_save, bulk_update_audited
from yibao_site.dates import validity_window
from yibao_site.models import Region, Role
from yibao_site.policy import PolicySnapshot, policy_snapshot
from yibao_site.scoping import can_see_township, scope_queryset
from yibao_site.uploads import inspect_upload
from yibao_site.workflow import (
    clean_missing, deadline_from, has_role, move, require_not_own, require_status, unresolved_items,
)

from . import rules, selectors
from .models import (
    AWAITING_OPINION, OPEN_STATUSES, Certification, CertificationChannel, CertificationEvent,
    CertificationMaterial, CertificationMaterialType, CertificationNotice, CertificationStatus, ChronicDisease,
)

Action = CertificationEvent.Action
S = CertificationStatus
M = CertificationMaterialType

#: The materials a certification must carry before it is accepted (the bureau's checklist).
REQUIRED_MATERIALS = (M.APPLICATION_FORM, M.ID_CARD, M.DIAGNOSIS)

#: Who may call each write service at all (``require_actor``, first); the finer rules — own
#: township, never one's own filing, the case's status — are checked after it.
FILE_ROLES = frozenset({Role.TOWNSHIP_AGENT, Role.WINDOW_CLERK})
MATERIAL_ROLES = frozenset({Role.TOWNSHIP_AGENT, Role.WINDOW_CLERK, Role.REVIEWER})
OPINION_ROLES = frozenset({Role.WINDOW_CLERK, Role.REVIEWER})
DECIDE_ROLES = frozenset({Role.REVIEWER})
CATALOGUE_ROLES = frozenset({Role.SUPERVISOR})
IMPORT_ROLES = frozenset({Role.REVIEWER, Role.SUPERVISOR})
JOB_ROLES = frozenset({Role.SUPERVISOR})


# ── guards ───────────────────────────────────────────────────────────────────────────────

def _see(actor, township) -> None:
    if not can_see_township(actor, township):
        raise PermissionDenied(_("该人员不属于您所在的乡镇(街道),无权办理。"))


def can_file(actor, township) -> bool:
    if not has_role(actor, Role.TOWNSHIP_AGENT, Role.WINDOW_CLERK):
        return False
    if actor.role == Role.TOWNSHIP_AGENT and not actor.is_superuser:
        return actor.region_id == getattr(township, "pk", None)
    return can_see_township(actor, township)


def _require_file(actor, township) -> None:
    require_actor(actor, FILE_ROLES, message=_("只有乡镇经办或窗口经办可以填报、补正申请。"))
    _see(actor, township)
    if not can_file(actor, township):
        raise PermissionDenied(_("乡镇经办只能为本乡镇(街道)的居民办理。"))


def can_return(actor, cert: Certification) -> bool:
    if cert.filed_by_id == getattr(actor, "pk", None) or not can_see_township(actor, cert.township):
        return False
    if has_role(actor, Role.REVIEWER):
        return cert.status in OPEN_STATUSES
    return has_role(actor, Role.WINDOW_CLERK) and cert.status in AWAITING_OPINION


def can_record_opinion(actor, cert: Certification) -> bool:
    return (has_role(actor, Role.REVIEWER, Role.WINDOW_CLERK) and cert.filed_by_id != getattr(actor, "pk", None)
            and can_see_township(actor, cert.township) and cert.status in AWAITING_OPINION)


def can_decide(actor, cert: Certification) -> bool:
    return (has_role(actor, Role.REVIEWER) and cert.filed_by_id != getattr(actor, "pk", None)
            and can_see_township(actor, cert.township))


def _lock(cert: Certification) -> Certification:
    return (Certification.objects.select_for_update()
            .select_related("person", "person__village", "township", "disease").get(pk=cert.pk))


def _event(cert: Certification, *, action: str, actor, from_status: str = "", reason: str = "",
           data: dict | None = None) -> CertificationEvent:
    return CertificationEvent.objects.create(
        certification=cert, action=action, from_status=from_status, to_status=cert.status,
        actor=actor if getattr(actor, "is_authenticated", False) else None, reason=reason or "", data=data or {})


def _move(cert: Certification, *, to: str, action: str, actor, reason: str = "", fields: list[str],
          data: dict | None = None) -> Certification:
    return move(cert, to=to, action=action, actor=actor, event_model=CertificationEvent,
                case_field="certification", reason=reason, fields=fields, data=data,
                label=str(Action(action).label))


def _snapshot(person: Person, on: date) -> PolicySnapshot:
    return policy_snapshot(person.village, on)


def _today(on: date | None) -> date:
    return on or timezone.localdate()


def hospitals(snap: PolicySnapshot) -> dict[str, str]:
    """The designated hospitals that may certify (code → name), as the region configures them."""
    found = {}
    for item in snap.value("chronic.certification.hospitals", None) or []:
        if isinstance(item, dict) and item.get("code"):
            found[str(item["code"])] = str(item.get("name") or item["code"])
    return found


def _check_diagnosis(disease: ChronicDisease, diagnosis: str) -> str:
    code = rules.normalize_icd10(diagnosis)
    if not rules.valid_icd10(code):
        raise ValidationError({"diagnosis": [_("诊断编码应为 ICD-10 编码,例如 I10 或 E11.9。")]})
    if disease.icd10 and not rules.icd10_in_ranges(code, disease.icd10):
        raise ValidationError({"diagnosis": [_("诊断编码 %(code)s 不属于病种“%(name)s”的编码范围(%(ranges)s)。")
                                             % {"code": code, "name": disease.name,
                                                "ranges": "、".join(disease.icd10)}]})
    return code


def _resolve_disease(person: Person, disease, on: date) -> ChronicDisease:
    code = disease.code if isinstance(disease, ChronicDisease) else str(disease or "").strip().upper()
    found = selectors.disease_in_force(person.village, code, on)
    if found is None:
        raise ValidationError({"disease": [_("病种 %(code)s 不在本地区现行门诊慢特病目录中。") % {"code": code or "—"}]})
    return found


def _no_duplicate(person: Person, disease: ChronicDisease, on: date, exclude: int | None = None) -> None:
    live = Certification.objects.filter(person=person, disease__code=disease.code).filter(
        Q(status__in=[S.DRAFT, S.SUBMITTED, S.RETURNED, S.RESUBMITTED, S.ASSESSED])
        | Q(status=S.APPROVED, valid_to__gte=on) | Q(status=S.APPROVED, valid_to__isnull=True))
    if exclude:
        live = live.exclude(pk=exclude)
    if live.exists():
        raise ValidationError({"disease": [_("该人员已有该病种在办或有效期内的认定。")]})


# ── filing ───────────────────────────────────────────────────────────────────────────────

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


# ── the designated hospital's opinion and the bureau's decision ──────────────────────────

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


def material_for(actor, material_id: int) -> CertificationMaterial:
    return scope_queryset(CertificationMaterial.objects.select_related("certification"), actor).get(pk=material_id)


# ── the catalogue ────────────────────────────────────────────────────────────────────────

CATALOGUE_FIELDS = ("name", "icd10", "criteria", "unified_criteria", "separate_drug_payment", "rate_key", "cap_key",
                    "valid_to", "illustrative", "source")


def clean_catalogue_entry(entry: dict) -> dict:
    """Check one catalogue entry (pack, import or admin); return the model's field values."""
    errors: dict[str, list[str]] = {}
    code = str(entry.get("code") or "").strip().upper()
    if not code or len(code) > 20:
        errors["code"] = [_("请填写病种编码(不超过20个字符)。")]
    name = str(entry.get("name") or "").strip()
    if not name:
        errors["name"] = [_("请填写病种名称。")]
    icd = entry.get("icd10") or []
    if isinstance(icd, str):
        icd = [part.strip() for part in icd.replace(",", ";").replace("、", ";").split(";") if part.strip()]
    bad = [r for r in icd if not all(rules.valid_icd10(b) for b in str(r).split("-"))]
    if bad:
        errors["icd10"] = [_("ICD-10 编码范围格式不正确:%(bad)s(例如 I10-I15 或 B18)。") % {"bad": "、".join(map(str, bad))}]
    valid_from = entry.get("effective_from") or entry.get("valid_from")
    if not isinstance(valid_from, date):
        errors["valid_from"] = [_("请填写生效日期。")]
    valid_to = entry.get("valid_to")
    if valid_to is not None and not isinstance(valid_to, date):
        errors["valid_to"] = [_("日期格式应为 YYYY-MM-DD。")]
    elif valid_to is not None and isinstance(valid_from, date) and valid_to < valid_from:
        errors["valid_to"] = [_("失效日期不能早于生效日期。")]
    for key in ("rate_key", "cap_key"):
        if len(str(entry.get(key) or "")) > 80:
            errors[key] = [_("参数名过长。")]
    if errors:
        raise ValidationError(errors)
    return {"code": code, "valid_from": valid_from, "name": name[:80],
            "icd10": [rules.normalize_icd10(r) for r in icd], "criteria": str(entry.get("criteria") or "").strip(),
            "unified_criteria": bool(entry.get("unified_criteria", False)),
            "separate_drug_payment": bool(entry.get("separate_drug_payment", False)),
            "rate_key": str(entry.get("rate_key") or "").strip(), "cap_key": str(entry.get("cap_key") or "").strip(),
            "valid_to": valid_to, "illustrative": bool(entry.get("illustrative", False)),
            "source": str(entry.get("source") or "").strip()[:200]}


def catalogue_upsert(*, region: Region, entries: list[dict], actor, pack: str = "", overwrite: bool = True,
                     reason: str = "") -> tuple[int, int, int]:
    """Create or update catalogue rows by (region, code, valid_from); return (created, updated,
    unchanged).  With ``overwrite=False`` a row a supervisor changed is kept as it is.  A
    supervisor, or a job (a policy pack load, a command-line import)."""
    require_actor(actor, CATALOGUE_ROLES, system=True, message=_("只有管理员可以维护门诊慢特病目录。"))
    cleaned = [clean_catalogue_entry(e) for e in entries]
    existing = {(d.code, d.valid_from): d for d in ChronicDisease.objects.select_for_update().filter(region=region)}
    created = updated = unchanged = 0
    reason = reason or _("维护门诊慢特病目录")
    for values in cleaned:
        row = existing.get((values["code"], values["valid_from"]))
        if row is None:
            row = ChronicDisease(region=region, pack=pack, **values)
            row.full_clean(validate_unique=False, validate_constraints=False)
            audited_save(row, actor=actor, reason=reason)
            created += 1
            continue
        changes = [f for f in CATALOGUE_FIELDS if getattr(row, f) != values[f]]
        if not changes or (pack and not overwrite and row.pack != pack):
            unchanged += 1  # the same, or edited by a supervisor since the pack was loaded: kept
            continue
        for f in changes:
            setattr(row, f, values[f])
        row.pack = pack
        audited_save(row, actor=actor, reason=reason, update_fields=[*changes, "pack"])
        updated += 1
    return created, updated, unchanged


def catalogue_load_from_pack(*, region: Region, entries: list[dict], pack: str, actor, overwrite=False) -> None:
    """The ``chronic_diseases`` section of a policy pack, loaded with its parameters."""
    catalogue_upsert(region=region, entries=entries, actor=actor, pack=pack, overwrite=overwrite,
                     reason=_("载入政策包 %(name)s") % {"name": pack})


@transaction.atomic
def disease_save(*, actor, disease: ChronicDisease, reason: str = "") -> ChronicDisease:
    """Save a catalogue row edited in the admin (a supervisor's job)."""
    require_actor(actor, CATALOGUE_ROLES, message=_("只有管理员可以维护门诊慢特病目录。"))
    values = clean_catalogue_entry({**{f: getattr(disease, f) for f in CATALOGUE_FIELDS},
                                    "code": disease.code, "valid_from": disease.valid_from})
    for key, value in values.items():
        setattr(disease, key, value)
    disease.pack = ""  # no longer the pack's row: a later pack load keeps it (unless --overwrite)
    disease.full_clean()
    audited_save(disease, actor=actor, reason=reason or _("维护门诊慢特病目录"))
    return disease


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
