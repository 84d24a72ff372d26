"""Filing a case, accepting it (受理) and the township's verification (乡镇核实)."""
from __future__ import annotations

from datetime import date

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from members.models import Person
from yibao_site.actors import require_actor
from yibao_site.audit import audited_save
from yibao_site.models import Role

from .. import selectors
from ..models import (
    AWAITING_VERIFICATION, Application, ApplicationKind, Channel, DeterminationBasis, Material, MaterialType,
)
from .eligibility import MEANS_FIELDS, _determination_category, _means_test, _object_category, _retroactive_basis
from .guards import (
    VERIFIERS, Action, S, _event, _lock, _move, _not_own, _require_file, _see, _snapshot, _status, _today,
    can_verify,
)
from .materials import required_materials


@transaction.atomic
def application_create(*, actor, person: Person, kind: str, basis: str = "", category: int | None = None,
                       note: str = "", on: date | None = None) -> Application:
    """File a new application (草稿) for ``person``."""
    on = _today(on)
    _require_file(actor, person.township)
    if kind not in ApplicationKind.values:
        raise ValidationError({"kind": [_("申请类型应为 determination、tilt 或 retroactive。")]})
    Person.objects.select_for_update().filter(pk=person.pk).first()  # one filing per person at a time
    snap = _snapshot(person, on)
    app = Application(person=person, township=person.township, kind=kind, note=(note or "").strip(),
                      filed_by=actor, channel=Channel.TOWNSHIP if actor.role == Role.TOWNSHIP_AGENT else Channel.WINDOW)
    live = Application.objects.filter(person=person, kind=kind).exclude(status__in=[S.APPROVED, S.REJECTED])
    if kind == ApplicationKind.DETERMINATION:
        app.basis = basis
        app.category = _determination_category(person, basis, on, snap)
        if live.exists():
            raise ValidationError({"person": [_("该人员已有在办的对象认定申请。")]})
    elif kind == ApplicationKind.TILT:
        if basis:
            raise ValidationError({"basis": [_("只有对象认定申请需要认定依据。")]})
        if not snap.has("second_round.tilt.rate"):
            raise ValidationError({"kind": [_("本地区政策未设倾斜救助。")]})
        app.category = _object_category(person, on, snap)
        current = Application.objects.filter(person=person, kind=kind, status=S.APPROVED, valid_to__gte=on)
        if live.exists() or current.exists():
            raise ValidationError({"person": [_("该人员本年度已有在办或有效的倾斜救助申请。")]})
    else:
        if basis:
            raise ValidationError({"basis": [_("只有对象认定申请需要认定依据。")]})
        basis_app, determined_on, app.category = _retroactive_basis(person, on, snap)
        app.basis_application, app.determined_on = basis_app, determined_on
        if Application.objects.filter(person=person, kind=kind, determined_on=determined_on).exclude(
                status=S.REJECTED).exists():
            raise ValidationError({"person": [_("该人员本次认定的一次性追溯救助已申请过(只能申请一次)。")]})
    if category not in (None, "") and int(category) != app.category:
        raise ValidationError({"category": [_("救助类别应为%(cat)s类(由认定依据和身份确定)。") % {"cat": app.category}]})
    try:
        with transaction.atomic():
            audited_save(app, actor=actor, reason=_("填报救助申请"))
    except IntegrityError:
        raise ValidationError({"person": [_("该人员本次认定的一次性追溯救助已申请过(只能申请一次)。")]}) from None
    _event(app, action=Action.CREATE, actor=actor, reason=app.note)
    return app


@transaction.atomic
def application_submit(*, actor, application: Application, on: date | None = None) -> Application:
    """Accept the case (受理): the first receiver owns it (首问负责) and the deadline starts (限时办结)."""
    on = _today(on)
    app = _lock(application)
    _require_file(actor, app.township)
    _status(app, (S.DRAFT,), _("提交"))
    have = set(app.materials.values_list("material_type", flat=True))
    missing = [str(MaterialType(t).label) for t in required_materials(app) if t not in have]
    if missing:
        raise ValidationError({"materials": [_("缺少以下材料:%(list)s。") % {"list": "、".join(missing)}]})
    snap = _snapshot(app.person, on)
    app.owner = app.owner or actor
    app.submitted_at = timezone.now()
    app.applied_on = on
    app.deadline = selectors.deadline_from(on, snap.integer("assistance.case.deadline_working_days"))
    app.overdue = False
    fields = ["owner", "submitted_at", "applied_on", "deadline", "overdue", "policy_version"]
    data = {"deadline": app.deadline.isoformat()}
    if app.basis == DeterminationBasis.ILLNESS_POVERTY:
        result = _means_test(app, on, snap)
        fields += MEANS_FIELDS
        data["means_test"] = {"out_of_pocket": str(result.out_of_pocket), "threshold": str(result.threshold),
                              "passed": result.passed}
    app.policy_version = snap.version
    return _move(app, to=S.SUBMITTED, action=Action.SUBMIT, actor=actor, fields=fields, data=data)


# ── township verification ────────────────────────────────────────────────────────────────

@transaction.atomic
def application_verify(*, actor, application: Application, note: str = "",
                       property_check_passed: bool | None = None, property_evidence: Material | None = None,
                       property_note: str = "") -> Application:
    """Record the township's verification (乡镇核实); for 因病致贫, the household-property check
    with its evidence (a material of type 家庭财产状况核查材料)."""
    require_actor(actor, VERIFIERS, message=_("只有本乡镇(街道)的其他经办人员或审核人员可以核实。"))
    app = _lock(application)
    _see(actor, app.township)
    _not_own(actor, app, _("核实"))
    if not can_verify(actor, app):
        raise PermissionDenied(_("只有本乡镇(街道)的其他经办人员或审核人员可以核实。"))
    _status(app, AWAITING_VERIFICATION, _("核实"))
    fields = ["verified_by", "verified_at", "verification_note"]
    data = {}
    if app.basis == DeterminationBasis.ILLNESS_POVERTY:
        errors = {}
        if property_check_passed is None:
            errors["property_check_passed"] = [_("请填写家庭财产核查结论。")]
        if property_evidence is None or property_evidence.application_id != app.pk \
                or property_evidence.material_type != MaterialType.PROPERTY:
            errors["property_evidence"] = [_("请选择本申请中的“家庭财产状况核查材料”作为核查凭证。")]
        if not (property_note or "").strip():
            errors["property_note"] = [_("请填写财产核查说明(核查单位、结论依据)。")]
        if errors:
            raise ValidationError(errors)
        app.property_check_passed = bool(property_check_passed)
        app.property_evidence = property_evidence
        app.property_check_note = property_note.strip()
        fields += ["property_check_passed", "property_evidence", "property_check_note"]
        data = {"property_check_passed": app.property_check_passed, "property_evidence": property_evidence.pk}
    app.verified_by, app.verified_at, app.verification_note = actor, timezone.now(), (note or "").strip()
    return _move(app, to=S.VERIFIED, action=Action.VERIFY, actor=actor, reason=app.verification_note,
                 fields=fields, data=data)
