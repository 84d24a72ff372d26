"""Writes of the eligibility review (DOMAIN.md §6): one atomic service per transition.

Who may do what (DOMAIN.md §1, API.md "Roles"):

* **file / submit / supplement / resubmit** — a township agent for persons of their own
  township, or a window clerk (窗口受理);
* **township verification** (乡镇核实) — a township agent *of the case's township other than the
  filer*, or a reviewer (审核) of the bureau: the township checks the household and the
  materials; a reviewer may do it where the township cannot (e.g. a case received at the
  window and investigated by the bureau);
* **return for supplement** (退回补正, 一次性告知) — whoever may verify, and a window clerk while the
  case awaits verification; nobody returns their own filing;
* **approve / reject** — a reviewer only (窗口无否决权: a clerk never rejects); never one's own
  filing — superusers included;
* **pay** — finance, once.

Every transition locks the application row, checks its guard, saves with ``update_fields``
through ``audited_save`` and writes an :class:`~assistance.models.ApplicationEvent` in the same
transaction.
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from members.models import EntitlementKind, Identity, Person
from yibao_site.audit import audited_save, bulk_update_audited
from yibao_site.models import Role
from yibao_site.policy import PolicySnapshot, policy_snapshot
from yibao_site.scoping import can_see_township
from yibao_site.workflow import clean_missing

from . import rules, selectors

ZERO = Decimal("0.00")
from .materials import inspect_upload
from .models import (
    AWAITING_VERIFICATION, OPEN_STATUSES, Application, ApplicationEvent, ApplicationKind, ApplicationStatus,
    Channel, DeterminationBasis, Holiday, Material, MaterialType, Payout, SupplementNotice,
)

Action = ApplicationEvent.Action
S = ApplicationStatus

#: The materials a case must carry before it is accepted (受理). Not a policy number: the
#: checklist the bureau prints on its application form.
REQUIRED_MATERIALS: dict[tuple[str, str], tuple[str, ...]] = {
    (ApplicationKind.DETERMINATION, DeterminationBasis.ILLNESS_POVERTY): (
        MaterialType.APPLICATION_FORM, MaterialType.ID_CARD, MaterialType.MEDICAL_BILLS, MaterialType.DIAGNOSIS),
    (ApplicationKind.DETERMINATION, DeterminationBasis.MARGINAL): (MaterialType.APPLICATION_FORM, MaterialType.ID_CARD),
    (ApplicationKind.DETERMINATION, DeterminationBasis.MONITORED): (MaterialType.APPLICATION_FORM, MaterialType.ID_CARD),
    (ApplicationKind.DETERMINATION, DeterminationBasis.OTHER_SPECIAL): (
        MaterialType.APPLICATION_FORM, MaterialType.ID_CARD, MaterialType.DESIGNATION),
    (ApplicationKind.TILT, ""): (MaterialType.APPLICATION_FORM, MaterialType.ID_CARD, MaterialType.MEDICAL_BILLS,
                                 MaterialType.REFERRAL),
    (ApplicationKind.RETROACTIVE, ""): (MaterialType.APPLICATION_FORM, MaterialType.ID_CARD, MaterialType.MEDICAL_BILLS),
}

#: Bases confirmed by a department's identity list (a valid identity of that kind is required).
IDENTITY_BASES = (DeterminationBasis.MARGINAL, DeterminationBasis.MONITORED)


#: Materials the case needs before it can be verified, on top of those needed to submit:
#: 因病致贫 is verified on the household-property check (家庭财产状况核查材料).
VERIFICATION_MATERIALS = {
    (ApplicationKind.DETERMINATION, DeterminationBasis.ILLNESS_POVERTY): (MaterialType.PROPERTY,),
}


def required_materials(application: Application, *, through: str = "submit") -> tuple[str, ...]:
    """The one rule for a case's materials: what it needs to be submitted (``through="submit"``)
    or, with the verification evidence, to be verified (``through="verify"``).  The agent's
    checklist, the reviewer's 尚缺 list, the pre-ticked items of a one-time notice and the
    verification itself all read it, so a notice cannot leave out what verification demands."""
    key = (application.kind, application.basis or "")
    needed = REQUIRED_MATERIALS.get(key, ())
    if through == "verify":
        needed = needed + tuple(m for m in VERIFICATION_MATERIALS.get(key, ()) if m not in needed)
    return needed


def missing_materials(application: Application, *, through: str = "verify") -> list[str]:
    have = set(application.materials.values_list("material_type", flat=True))
    return [m for m in required_materials(application, through=through) if m not in have]


# ── guards ───────────────────────────────────────────────────────────────────────────────

def _role(actor, *roles: str) -> bool:
    return bool(actor and actor.is_authenticated and actor.is_active and (actor.is_superuser or actor.role in roles))


def _see(actor, township) -> None:
    if not can_see_township(actor, township):
        raise PermissionDenied(_("该人员不属于您所在的乡镇(街道),无权办理。"))


def can_file(actor, township) -> bool:
    """A township agent of ``township`` or a window clerk who can see it (or a superuser)."""
    if not _role(actor, Role.TOWNSHIP_AGENT, Role.WINDOW_CLERK):
        return False
    if actor.role == Role.TOWNSHIP_AGENT and not actor.is_superuser:
        return actor.region_id == getattr(township, "pk", None)
    return can_see_township(actor, township)


def _require_file(actor, township) -> None:
    if not _role(actor, Role.TOWNSHIP_AGENT, Role.WINDOW_CLERK):
        raise PermissionDenied(_("只有乡镇经办或窗口经办可以填报、补正申请。"))
    _see(actor, township)
    if not can_file(actor, township):
        raise PermissionDenied(_("乡镇经办只能为本乡镇(街道)的居民办理。"))


def _not_own(actor, application: Application, what: str) -> None:
    if application.filed_by_id == actor.pk:
        raise PermissionDenied(_("不能%(what)s自己填报的申请。") % {"what": what})


def can_verify(actor, application: Application) -> bool:
    if application.filed_by_id == getattr(actor, "pk", None) or not can_see_township(actor, application.township):
        return False
    if _role(actor, Role.REVIEWER):
        return True
    return _role(actor, Role.TOWNSHIP_AGENT) and actor.region_id == application.township_id


def can_return(actor, application: Application) -> bool:
    if application.filed_by_id == getattr(actor, "pk", None) or not can_see_township(actor, application.township):
        return False
    if _role(actor, Role.REVIEWER):
        return application.status in OPEN_STATUSES
    if application.status not in AWAITING_VERIFICATION:
        return False
    if _role(actor, Role.WINDOW_CLERK):
        return True
    return _role(actor, Role.TOWNSHIP_AGENT) and actor.region_id == application.township_id


def can_decide(actor, application: Application) -> bool:
    return (_role(actor, Role.REVIEWER) and application.filed_by_id != actor.pk
            and can_see_township(actor, application.township))


def _status(application: Application, allowed: tuple[str, ...], doing: str) -> None:
    if application.status not in allowed:
        raise ValidationError({"detail": [
            _("申请当前状态为“%(status)s”,不能%(doing)s。") % {"status": application.get_status_display(), "doing": doing}]})


def _lock(application: Application) -> Application:
    return (Application.objects.select_for_update()
            .select_related("person", "person__village", "township").get(pk=application.pk))


def _event(application: Application, *, action: str, actor, from_status: str = "", reason: str = "",
           data: dict | None = None) -> ApplicationEvent:
    return ApplicationEvent.objects.create(
        application=application, action=action, from_status=from_status, to_status=application.status,
        actor=actor if getattr(actor, "is_authenticated", False) else None, reason=reason or "", data=data or {})


def _move(application: Application, *, to: str, action: str, actor, reason: str = "", fields: list[str],
          data: dict | None = None) -> Application:
    before = application.status
    application.status = to
    audited_save(application, actor=actor, reason=reason or str(Action(action).label),
                 update_fields=["status", *fields])
    _event(application, action=action, actor=actor, from_status=before, reason=reason, data=data)
    return application


def _snapshot(person: Person, on: date) -> PolicySnapshot:
    return policy_snapshot(person.village, on)


def _today(on: date | None) -> date:
    return on or timezone.localdate()


# ── eligibility checks shared by filing and approval ─────────────────────────────────────

def _determination_category(person: Person, basis: str, on: date, snap: PolicySnapshot) -> int:
    """Return the category ``basis`` gives, or raise why the person cannot be determined."""
    if basis not in DeterminationBasis.values:
        raise ValidationError({"basis": [_("请选择认定依据:低保边缘、监测对象、因病致贫重病患者或其他特殊困难人员。")]})
    category = snap.value(f"assistance.category.{basis}", None)
    if not category:
        raise ValidationError({"basis": [_("本地区政策未设该身份对应的救助类别。")]})
    category = int(category)
    auto = [int(c) for c in (snap.value("assistance.auto_categories", None) or [])]
    if category in auto:
        raise ValidationError({"basis": [_("该类别自动享受救助,无需申请认定。")]})
    existing = selectors.identity_category(person, on, snap, exclude_kinds=(basis,))
    if existing is not None and existing in auto:
        raise ValidationError({"person": [_("该人员已是%(cat)s类救助对象,自动享受救助,无需申请认定。") % {"cat": existing}]})
    if basis == DeterminationBasis.ILLNESS_POVERTY and existing is not None and existing < category:
        raise ValidationError({"person": [
            _("该人员已属%(cat)s类救助对象,因病致贫重病患者认定不含前三类对象。") % {"cat": existing}]})
    determined = selectors.determination_category(person, on)
    if determined is not None and determined <= category:
        raise ValidationError({"person": [_("该人员已有有效期内的%(cat)s类救助对象认定。") % {"cat": determined}]})
    if basis in IDENTITY_BASES and not selectors.has_valid_identity(person, basis, on):
        raise ValidationError({"person": [
            _("该人员没有有效的“%(kind)s”身份(不存在或已过期),请先由相关部门认定。")
            % {"kind": DeterminationBasis(basis).label}]})
    return category


def _retroactive_basis(person: Person, on: date, snap: PolicySnapshot) -> tuple[Application | None, date, int]:
    """Return (the approved determination, the determination date, the category) the one-time
    assistance follows: an approved determination in force, else the highest identity in force."""
    approved = (Application.objects.filter(person=person, kind=ApplicationKind.DETERMINATION,
                                           status=S.APPROVED, valid_from__lte=on, valid_to__gte=on)
                .order_by("category", "-valid_from").first())
    if approved is not None:
        return approved, approved.valid_from, approved.category
    mapping = selectors.category_map(snap)
    identities = [i for i in Identity.objects.filter(person=person, valid_from__lte=on, kind__in=list(mapping))
                  if i.valid_to is None or i.valid_to >= on]
    if identities:
        best = min(mapping[i.kind] for i in identities)
        started = max(i.valid_from for i in identities if mapping[i.kind] == best)
        return None, started, best
    expired = Application.objects.filter(person=person, kind=ApplicationKind.DETERMINATION, status=S.APPROVED,
                                         valid_to__lt=on).exists()
    if expired:
        raise ValidationError({"person": [_("该人员的救助对象认定已过期,不能申请一次性追溯救助。")]})
    raise ValidationError({"person": [_("该人员不是救助对象,不能申请一次性追溯救助。")]})


def _object_category(person: Person, on: date, snap: PolicySnapshot) -> int:
    category = selectors.person_category(person, on, snap)
    if category is None:
        raise ValidationError({"person": [_("该人员不是有效期内的救助对象(身份不存在或已过期),不能申请倾斜救助。")]})
    return category


# ── filing ───────────────────────────────────────────────────────────────────────────────

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
def material_add(*, actor, application: Application, material_type: str, upload) -> Material:
    """Attach an uploaded image or PDF to the case (type sniffed from the bytes, size checked)."""
    app = _lock(application)
    _see(actor, app.township)
    if not (can_file(actor, app.township) or can_verify(actor, app)):
        raise PermissionDenied(_("您无权为该申请上传材料。"))
    _status(app, (S.DRAFT, S.RETURNED, S.SUBMITTED, S.RESUBMITTED), _("上传材料"))
    if material_type not in MaterialType.values:
        raise ValidationError({"material_type": [_("请选择材料类型。")]})
    facts = inspect_upload(upload)
    material = Material(application=app, material_type=material_type, uploaded_by=actor, **facts)
    material.file.save(f"upload{facts['extension']}", upload, save=False)
    try:
        audited_save(material, actor=actor, reason=_("上传申请材料"))
    except Exception:
        material.file.delete(save=False)
        raise
    _event(app, action=Action.MATERIAL, actor=actor, from_status=app.status,
           data={"material": material.pk, "type": material_type, "name": facts["original_name"]})
    return material


def _means_test(app: Application, on: date, snap: PolicySnapshot) -> rules.MeansTest:
    """Run the 因病致贫 means test over the months before the application date ``on``."""
    months = snap.integer("assistance.means_test.lookback_months")
    start, end = rules.lookback_window(on, months)
    income_snap = _snapshot(app.person, date(on.year - 1, 1, 1))
    income = income_snap.decimal("income.per_capita")
    ratio = snap.decimal("assistance.means_test.income_ratio")
    result = rules.means_test(out_of_pocket=selectors.out_of_pocket(app.person, start, end),
                              income_per_capita=income, ratio=ratio)
    app.means_oop, app.means_threshold, app.means_passed = result.out_of_pocket, result.threshold, result.passed
    app.means_window_from, app.means_window_to = start, end
    app.calculation = {**app.calculation, "means_test": {
        "window": [start.isoformat(), end.isoformat()], "out_of_pocket": str(result.out_of_pocket),
        "income_per_capita": str(income), "income_year": on.year - 1, "ratio": str(ratio),
        "threshold": str(result.threshold), "passed": result.passed,
        "policy": {**income_snap.used_record(), **snap.used_record()},
    }}
    return result


MEANS_FIELDS = ["means_oop", "means_threshold", "means_passed", "means_window_from", "means_window_to", "calculation"]


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


# ── 一次性告知 and resubmission ───────────────────────────────────────────────────────────

def _clean_missing(missing) -> list[dict]:
    return clean_missing(missing, types=MaterialType.values, other=MaterialType.OTHER)


@transaction.atomic
def application_return(*, actor, application: Application, missing, reason: str = "") -> SupplementNotice:
    """Return the case for supplement with the complete list of missing materials (一次性告知);
    return the printable notice."""
    app = _lock(application)
    _see(actor, app.township)
    _not_own(actor, app, _("退回"))
    _status(app, OPEN_STATUSES, _("退回补正"))
    if not can_return(actor, app):
        raise PermissionDenied(_("您无权退回该申请。"))
    items = _clean_missing(missing)
    number = f"YCXGZ-{app.pk:06d}-{app.notices.count() + 1:02d}"
    notice = SupplementNotice(application=app, number=number, missing=items, reason=(reason or "").strip(),
                              issued_by=actor)
    audited_save(notice, actor=actor, reason=_("一次性告知"))
    app.overdue = False
    _move(app, to=S.RETURNED, action=Action.RETURN, actor=actor, reason=notice.reason, fields=["overdue"],
          data={"notice": notice.number, "missing": items})
    return notice


@transaction.atomic
def application_resubmit(*, actor, application: Application, note: str = "", on: date | None = None) -> Application:
    """Resubmit after supplement: every listed material must have been uploaded since the notice."""
    on = _today(on)
    app = _lock(application)
    _require_file(actor, app.township)
    _status(app, (S.RETURNED,), _("重新提交"))
    notice = app.notices.select_for_update().filter(resolved_at__isnull=True).order_by("-issued_at", "-id").first()
    if notice is not None:
        fresh = set(app.materials.filter(uploaded_at__gte=notice.issued_at).values_list("material_type", flat=True))
        lacking = [item for item in notice.missing_items() if item["type"] not in fresh]
        if lacking:
            raise ValidationError({"materials": [
                _("告知书 %(no)s 所列材料尚未补齐:%(list)s。") % {
                    "no": notice.number, "list": "、".join(i["label"] for i in lacking)}]})
        notice.resolved_at = timezone.now()
        audited_save(notice, actor=actor, reason=_("补正完毕"), update_fields=["resolved_at"])
    snap = _snapshot(app.person, on)
    app.deadline = selectors.deadline_from(on, snap.integer("assistance.case.deadline_working_days"))
    app.overdue = False
    return _move(app, to=S.RESUBMITTED, action=Action.RESUBMIT, actor=actor, reason=(note or "").strip(),
                 fields=["deadline", "overdue"],
                 data={"notice": notice.number if notice else "", "deadline": app.deadline.isoformat()})


# ── decisions ────────────────────────────────────────────────────────────────────────────

def _approve_determination(app: Application, actor, on: date, snap: PolicySnapshot) -> tuple[list[str], dict]:
    from members.services import entitlement_grant

    category = _determination_category(app.person, app.basis, on, snap)
    fields: list[str] = []
    if app.basis == DeterminationBasis.ILLNESS_POVERTY:
        if app.property_check_passed is not True:
            raise ValidationError({"detail": [_("家庭财产核查未通过或未核查,不能认定为因病致贫重病患者。")]})
        result = _means_test(app, app.applied_on or on, snap)
        fields += MEANS_FIELDS
        if not result.passed:
            raise ValidationError({"detail": [
                _("申请前%(m)s个月自负医疗费用%(oop)s元,未超过认定标准%(t)s元(上年人均可支配收入×比例),不能认定。")
                % {"m": snap.integer("assistance.means_test.lookback_months"), "oop": result.out_of_pocket,
                   "t": result.threshold}]})
    valid_from, valid_to = rules.validity_window(on, snap.integer("assistance.determination.valid_months"))
    if app.basis in IDENTITY_BASES:
        ends = [i.valid_to for i in Identity.objects.filter(person=app.person, kind=app.basis, valid_from__lte=on)
                if i.valid_to is None or i.valid_to >= on]
        if ends and all(e is not None for e in ends):
            valid_to = min(valid_to, max(ends))  # the status never outlives the identity it confirms
    app.category, app.valid_from, app.valid_to = category, valid_from, valid_to
    entitlement_grant(person=app.person, kind=EntitlementKind.DETERMINATION, category=category,
                      valid_from=valid_from, valid_to=valid_to, application_id=app.pk, actor=actor)
    return fields + ["category", "valid_from", "valid_to"], {"category": category, "valid_to": valid_to.isoformat()}


def _one_time_payment(app: Application, actor, keys: set[tuple[int, int]], reason: str) -> tuple:
    """Re-settle the person-years an approval changes, with its entitlement now in force, and
    write the differences onto the claims ledger as this application's one-time payment
    (``payout`` entries, DOMAIN.md §5-§6): the thresholds and caps of every later claim see it."""
    from claims.models import EntryKind
    from claims.services import person_years_resettle

    result = person_years_resettle(keys=keys, actor=actor, reason=reason, kind=EntryKind.PAYOUT,
                                   application_id=app.pk)
    amount = sum((e.total for e in result.entries), ZERO)
    lines = [{"year": e.year, "claim": e.claim_id, "paid": str(e.total), "assistance": str(e.assistance),
              "second_round": str(e.second_round), "text": e.reason}
             for e in sorted(result.entries, key=lambda e: (e.year, e.claim_id or 0))]
    return amount, lines


def _approve_tilt(app: Application, actor, on: date, snap: PolicySnapshot) -> tuple[list[str], dict]:
    """倾斜救助: the entitlement runs on the calendar year's cumulative self-pay (valid for the
    year of approval); the year's claims so far are settled again with it, and the catch-up is
    what that adds."""
    from members.services import entitlement_grant

    category = _object_category(app.person, on, snap)
    app.category, app.valid_from, app.valid_to = category, date(on.year, 1, 1), date(on.year, 12, 31)
    entitlement_grant(person=app.person, kind=EntitlementKind.TILT, category=category, valid_from=app.valid_from,
                      valid_to=app.valid_to, application_id=app.pk, actor=actor)
    with translation.override("zh-hans"):
        reason = _("倾斜救助申请 #%(id)s 批准,%(year)s年已结算的费用追补倾斜救助") % {"id": app.pk, "year": on.year}
    amount, lines = _one_time_payment(app, actor, {(app.person_id, on.year)}, reason)
    app.amount = amount
    app.calculation = {**app.calculation, "tilt": {
        "year": on.year, "up_to": on.isoformat(), "amount": str(amount), "lines": lines,
        "threshold": str(snap.decimal("second_round.tilt.threshold")), "rate": str(snap.decimal("second_round.tilt.rate")),
        "cap": None if snap.decimal("second_round.tilt.cap", None) is None else str(snap.decimal("second_round.tilt.cap")),
        "policy": snap.used_record()}}
    return ["category", "valid_from", "valid_to", "amount", "calculation"], {"amount": str(amount)}


def _approve_retroactive(app: Application, actor, on: date, snap: PolicySnapshot) -> tuple[list[str], dict]:
    """一次性追溯救助: the determination's category applies to the eligible care of the look-back
    window before it (an entitlement settlement reads); the window's person-years are settled
    again with it, and the one-time assistance is what that adds."""
    from members.services import entitlement_grant

    if app.basis_application_id:
        basis = app.basis_application
        if basis.status != S.APPROVED or basis.valid_to is None or basis.valid_to < on:
            raise ValidationError({"detail": [_("所依据的救助对象认定已过期或已失效,不能批准一次性追溯救助。")]})
    elif selectors.person_category(app.person, on, snap) is None:
        raise ValidationError({"detail": [_("该人员已不是有效期内的救助对象,不能批准一次性追溯救助。")]})
    months = snap.integer("assistance.retroactive.lookback_months")
    start, end = rules.lookback_window(app.determined_on, months)
    entitlement_grant(person=app.person, kind=EntitlementKind.RETROACTIVE, category=app.category, valid_from=start,
                      valid_to=end, application_id=app.pk, actor=actor)
    with translation.override("zh-hans"):
        reason = _("一次性追溯救助申请 #%(id)s 批准(%(start)s 至 %(end)s 按%(cat)s类救助对象追溯)") % {
            "id": app.pk, "start": start.isoformat(), "end": end.isoformat(), "cat": app.category}
    amount, lines = _one_time_payment(app, actor, {(app.person_id, y) for y in range(start.year, end.year + 1)},
                                      reason)
    app.amount = amount
    app.calculation = {**app.calculation, "retroactive": {
        "window": [start.isoformat(), end.isoformat()], "category": app.category, "claims": len(lines),
        "lines": lines, "amount": str(amount), "policy": snap.used_record()}}
    return ["amount", "calculation"], {"amount": str(amount)}


@transaction.atomic
def application_approve(*, actor, application: Application, reason: str = "", on: date | None = None) -> Application:
    """Approve a verified case (批准). Never by its filer; grants the entitlement settlement reads."""
    on = _today(on)
    app = _lock(application)
    _see(actor, app.township)
    if not _role(actor, Role.REVIEWER):
        raise PermissionDenied(_("只有审核人员可以审批申请。"))
    _not_own(actor, app, _("审批"))
    _status(app, (S.VERIFIED,), _("批准"))
    snap = _snapshot(app.person, on)
    handler = {ApplicationKind.DETERMINATION: _approve_determination, ApplicationKind.TILT: _approve_tilt,
               ApplicationKind.RETROACTIVE: _approve_retroactive}[app.kind]
    fields, data = handler(app, actor, on, snap)
    app.decided_by, app.decided_at, app.decision_reason = actor, timezone.now(), (reason or "").strip()
    app.policy_version = snap.version
    app.overdue = False
    return _move(app, to=S.APPROVED, action=Action.APPROVE, actor=actor, reason=app.decision_reason,
                 fields=[*dict.fromkeys(fields), "decided_by", "decided_at", "decision_reason", "policy_version",
                         "overdue"], data=data)


@transaction.atomic
def application_reject(*, actor, application: Application, reason: str) -> Application:
    """Reject with a reason (不予批准). A window clerk never rejects (窗口无否决权)."""
    app = _lock(application)
    _see(actor, app.township)
    if not _role(actor, Role.REVIEWER):
        raise PermissionDenied(_("只有审核人员可以作出不予批准的决定(窗口无否决权)。"))
    _not_own(actor, app, _("审批"))
    _status(app, OPEN_STATUSES, _("不予批准"))
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": [_("不予批准必须说明理由。")]})
    app.decided_by, app.decided_at, app.decision_reason = actor, timezone.now(), reason
    app.overdue = False
    return _move(app, to=S.REJECTED, action=Action.REJECT, actor=actor, reason=reason,
                 fields=["decided_by", "decided_at", "decision_reason", "overdue"])


# ── payouts ──────────────────────────────────────────────────────────────────────────────

@transaction.atomic
def payout_create(*, actor, application: Application, reference: str = "") -> Payout:
    """Pay an approved retroactive or tilt amount, exactly once (财务支付)."""
    app = _lock(application)  # the row lock serialises concurrent payment attempts
    if not _role(actor, Role.FINANCE):
        raise PermissionDenied(_("只有财务人员可以支付救助金。"))
    _see(actor, app.township)
    if app.kind not in (ApplicationKind.RETROACTIVE, ApplicationKind.TILT):
        raise ValidationError({"application": [_("只有一次性追溯救助和倾斜救助需要支付。")]})
    if app.status != S.APPROVED:
        raise ValidationError({"application": [_("申请尚未批准,不能支付。")]})
    if Payout.objects.filter(application=app).exists():
        raise ValidationError({"application": [_("该申请已支付,不能重复支付。")]})
    if not app.amount or app.amount <= 0:
        raise ValidationError({"application": [_("核定金额为零,无需支付。")]})
    payout = Payout(application=app, amount=app.amount, reference=(reference or "").strip()[:60], paid_by=actor)
    try:
        with transaction.atomic():
            audited_save(payout, actor=actor, reason=_("支付救助金"))
    except IntegrityError:
        raise ValidationError({"application": [_("该申请已支付,不能重复支付。")]}) from None
    from claims.services import ledger_entries_settle_cash

    ledger_entries_settle_cash(application_id=app.pk, reference=payout.reference or f"PAYOUT-{payout.pk}",
                               actor=actor)
    _event(app, action=Action.PAYOUT, actor=actor, from_status=app.status,
           data={"amount": str(payout.amount), "reference": payout.reference})
    return payout


# ── deadlines ────────────────────────────────────────────────────────────────────────────

@transaction.atomic
def applications_flag_overdue(*, on: date | None = None, actor=None) -> dict:
    """Flag open cases past their deadline and unflag the rest (限时办结); idempotent for a day."""
    on = _today(on)
    late = list(Application.objects.select_for_update().filter(
        status__in=OPEN_STATUSES, deadline__lt=on, overdue=False).order_by("pk"))
    for app in late:
        app.overdue = True
    bulk_update_audited(late, Application, ["overdue"], actor=actor, reason=_("超过办结时限"))
    ApplicationEvent.objects.bulk_create([
        ApplicationEvent(application=app, action=Action.OVERDUE, from_status=app.status, to_status=app.status,
                         reason=_("超过办结时限 %(d)s") % {"d": app.deadline.isoformat()},
                         data={"as_of": on.isoformat()}) for app in late])
    cleared = list(Application.objects.select_for_update().filter(overdue=True).exclude(
        status__in=OPEN_STATUSES, deadline__lt=on).order_by("pk"))
    for app in cleared:
        app.overdue = False
    bulk_update_audited(cleared, Application, ["overdue"], actor=actor, reason=_("不再超期"))
    return {"as_of": on.isoformat(), "flagged": len(late), "cleared": len(cleared)}


@transaction.atomic
def holiday_save(*, actor, day: date, name: str, is_workday: bool = False) -> Holiday:
    """Set one day of the working calendar (节假日或调休上班日); a supervisor's job."""
    if not _role(actor, Role.SUPERVISOR):
        raise PermissionDenied(_("只有管理员可以维护节假日。"))
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": [_("请填写节假日名称。")]})
    holiday = Holiday.objects.select_for_update().filter(date=day).first() or Holiday(date=day)
    holiday.name, holiday.is_workday = name[:40], bool(is_workday)
    audited_save(holiday, actor=actor, reason=_("维护节假日"))
    return holiday


def material_for(actor, material_id: int) -> Material:
    """Return a material the actor may see (404 otherwise, via the scoped queryset)."""
    from yibao_site.scoping import scope_queryset

    return scope_queryset(Material.objects.select_related("application"), actor).get(pk=material_id)
