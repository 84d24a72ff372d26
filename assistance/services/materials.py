"""The materials of a case: what it must carry, and uploads (type sniffed, size checked)."""
from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from yibao_site.actors import require_actor
from yibao_site.audit import audited_save
from yibao_site.scoping import scope_queryset

from ..materials import inspect_upload
from ..models import Application, ApplicationKind, DeterminationBasis, Material, MaterialType
from .guards import UPLOADERS, Action, S, _event, _lock, _see, _status, can_file, can_verify

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


@transaction.atomic
def material_add(*, actor, application: Application, material_type: str, upload) -> Material:
    """Attach an uploaded image or PDF to the case (type sniffed from the bytes, size checked)."""
    require_actor(actor, UPLOADERS, message=_("您无权为该申请上传材料。"))
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


def material_for(actor, material_id: int) -> Material:
    """Return a material the actor may see (404 otherwise, via the scoped queryset)."""
    return scope_queryset(Material.objects.select_related("application"), actor).get(pk=material_id)
