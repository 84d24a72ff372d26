"""Who may act on a certification, and the helpers every transition shares (row lock, event,
move, the policy snapshot of the person's village, the catalogue checks)."""
from __future__ import annotations

from datetime import date

from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from members.models import Person
from yibao_site.actors import require_actor
from yibao_site.models import Role
from yibao_site.policy import PolicySnapshot, policy_snapshot
from yibao_site.scoping import can_see_township
from yibao_site.workflow import has_role, move

from .. import rules, selectors
from ..models import (
    AWAITING_OPINION, OPEN_STATUSES, Certification, CertificationEvent, CertificationMaterialType,
    CertificationStatus, ChronicDisease,
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
