"""The township agent's chronic-disease pages (门诊慢特病认定), phone-friendly, at /agent/chronic/.

An agent finds a person of their township, files a certification with the diagnosis, uploads
the evidence, submits, follows the case, reads and prints a one-time notice, supplements and
resubmits.  Files and notices are served only to those who may see the case.
"""
from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from members.models import Person
from yibao_site.models import Role
from yibao_site.scoping import scope_queryset

from . import selectors, services
from .forms import FileCertificationForm, MaterialForm, NoteForm
from .models import CertificationMaterial, CertificationMaterialType, CertificationNotice, CertificationStatus

S = CertificationStatus


def agent_required(view):
    @wraps(view)
    @login_required
    def wrapper(request, *args, **kwargs):
        if request.user.role != Role.TOWNSHIP_AGENT:
            return redirect("admin:index")
        return view(request, *args, **kwargs)

    return wrapper


def _errors(request, exc: Exception) -> None:
    if isinstance(exc, ValidationError):
        for _field, msgs in (exc.message_dict.items() if hasattr(exc, "error_dict") else [("", exc.messages)]):
            for msg in msgs:
                messages.error(request, msg)
    else:
        messages.error(request, str(exc) or _("无权执行此操作。"))


def _form_errors(form) -> ValidationError:
    return ValidationError({k: [e["message"] for e in v] for k, v in form.errors.get_json_data().items()})


@agent_required
def home(request):
    user = request.user
    cases = selectors.certifications_for(user)
    query = request.GET.get("q", "").strip()
    persons = []
    if query:
        people = scope_queryset(Person.objects.select_related("village"), user)
        persons = list(people.filter(Q(id_number=query.upper()) | Q(name=query)).order_by("name")[:20])
    return render(request, "chronic/agent_home.html", {
        "q": query, "persons": persons,
        "returned": cases.filter(status=S.RETURNED).order_by("-id")[:50],
        "in_progress": cases.filter(status__in=[S.DRAFT, S.SUBMITTED, S.RESUBMITTED, S.ASSESSED]).order_by("-id")[:50],
        "closed": cases.filter(status__in=[S.APPROVED, S.REJECTED, S.REVOKED]).order_by("-decided_at", "-id")[:20],
        "overdue": selectors.queue_overdue(user, timezone.localdate()).count(),
    })


@agent_required
def person_detail(request, id_number: str):
    person = get_object_or_404(scope_queryset(Person.objects.select_related("township", "village"), request.user),
                               id_number=id_number.upper())
    today = timezone.localdate()
    diseases = selectors.catalogue_in_force(person.village, today)
    form = FileCertificationForm(request.POST if request.method == "POST" else None, diseases=diseases)
    if request.method == "POST" and form.is_valid():
        try:
            cert = services.certification_create(actor=request.user, person=person, disease=form.cleaned_data["disease"],
                                                 diagnosis=form.cleaned_data["diagnosis"],
                                                 note=form.cleaned_data["note"])
        except (ValidationError, PermissionDenied) as exc:
            _errors(request, exc)
        else:
            messages.success(request, _("已建立认定申请草稿,请上传材料后提交。"))
            return redirect("chronic_agent:case", pk=cert.pk)
    return render(request, "chronic/agent_person.html", {
        "person": person, "form": form, "in_force": selectors.person_certifications(person, today),
        "cases": selectors.certifications_for(request.user).filter(person=person).order_by("-id"),
    })


def _case(request, pk: int):
    return get_object_or_404(selectors.certifications_for(request.user), pk=pk)


@agent_required
def case_detail(request, pk: int):
    cert = _case(request, pk)
    user = request.user
    have = set(cert.materials.values_list("material_type", flat=True))
    notice = cert.notices.order_by("-issued_at", "-id").first()
    can_file = services.can_file(user, cert.township)
    return render(request, "chronic/agent_case.html", {
        "cert": cert,
        "checklist": [{"label": CertificationMaterialType(t).label, "ok": t in have} for t in services.REQUIRED_MATERIALS],
        "materials": cert.materials.select_related("uploaded_by"),
        "events": cert.events.select_related("actor"),
        "notice": notice, "notice_missing": notice.missing_items() if notice else [],
        "upload_form": MaterialForm(), "note_form": NoteForm(),
        "can_upload": can_file and cert.status in (S.DRAFT, S.RETURNED, S.SUBMITTED, S.RESUBMITTED),
        "can_submit": can_file and cert.status == S.DRAFT,
        "can_resubmit": can_file and cert.status == S.RETURNED,
    })


def _act(request, pk: int, run):
    cert = _case(request, pk)
    try:
        message = run(cert)
    except (ValidationError, PermissionDenied) as exc:
        _errors(request, exc)
    else:
        messages.success(request, message)
    return redirect("chronic_agent:case", pk=cert.pk)


@agent_required
@require_POST
def case_upload(request, pk: int):
    form = MaterialForm(request.POST, request.FILES)

    def run(cert):
        if not form.is_valid():
            raise _form_errors(form)
        material = services.material_add(actor=request.user, certification=cert,
                                         material_type=form.cleaned_data["material_type"],
                                         upload=form.cleaned_data["file"])
        return _("已上传:%(m)s") % {"m": material.get_material_type_display()}

    return _act(request, pk, run)


@agent_required
@require_POST
def case_submit(request, pk: int):
    def run(cert):
        services.certification_submit(actor=request.user, certification=cert)
        return _("已提交,办结时限已开始计算。")

    return _act(request, pk, run)


@agent_required
@require_POST
def case_resubmit(request, pk: int):
    form = NoteForm(request.POST)

    def run(cert):
        if not form.is_valid():
            raise _form_errors(form)
        services.certification_resubmit(actor=request.user, certification=cert, note=form.cleaned_data["note"])
        return _("已补正并重新提交。")

    return _act(request, pk, run)


@login_required
def notice(request, number: str):
    """The printable 一次性告知书 of a certification (print CSS; no external assets)."""
    found = get_object_or_404(scope_queryset(CertificationNotice.objects.select_related(
        "certification", "certification__person", "certification__township", "certification__disease",
        "issued_by"), request.user), number=number)
    return render(request, "chronic/notice.html", {"notice": found, "cert": found.certification,
                                                   "items": found.missing_items()})


@login_required
def material(request, pk: int):
    """Serve a material to someone who may see its case; 404 for everyone else."""
    try:
        found = services.material_for(request.user, pk)
    except CertificationMaterial.DoesNotExist:
        raise Http404 from None
    try:
        handle = found.file.open("rb")
    except FileNotFoundError:
        raise Http404 from None
    response = FileResponse(handle, content_type=found.content_type)
    response["Content-Disposition"] = f"inline; filename=\"chronic-material-{found.pk}{found.extension}\""
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response
