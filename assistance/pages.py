"""Township agent pages (乡镇经办页面): phone-friendly, outside the admin, mounted at /agent/.

An agent signs in, finds a person of their township, files an application with materials,
follows their township's cases, verifies cases filed by colleagues, reads a returned notice
and resubmits.  The printable notice and the material files are served to anyone who may see
the case (agents of the township and bureau staff), never through a public media URL.
"""
from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from members.models import Person
from yibao_site.models import Role
from yibao_site.scoping import scope_queryset

from . import selectors, services
from .display import category_label, status_label
from .forms import FileApplicationForm, MaterialForm, NoteForm, ReturnForm, VerifyForm
from .models import AWAITING_VERIFICATION, Application, ApplicationStatus, Material, MaterialType, SupplementNotice


def agent_required(view):
    """Township agents only; other staff work in the admin."""

    @wraps(view)
    @login_required
    def wrapper(request, *args, **kwargs):
        if request.user.role != Role.TOWNSHIP_AGENT:
            return redirect("admin:index")
        return view(request, *args, **kwargs)

    return wrapper


def _errors(request, exc: Exception) -> None:
    if isinstance(exc, ValidationError):
        for field, msgs in (exc.message_dict.items() if hasattr(exc, "error_dict") else [("", exc.messages)]):
            for msg in msgs:
                messages.error(request, msg)
    else:
        messages.error(request, str(exc) or _("无权执行此操作。"))


def _form_errors(form) -> ValidationError:
    return ValidationError({k: [e["message"] for e in v] for k, v in form.errors.get_json_data().items()})


def _case(request, pk: int) -> Application:
    return get_object_or_404(selectors.applications_for(request.user), pk=pk)


@agent_required
def home(request):
    user = request.user
    cases = selectors.applications_for(user)
    today = timezone.localdate()
    context = {
        "returned": cases.filter(status=ApplicationStatus.RETURNED).order_by("-id")[:50],
        "to_verify": selectors.queue_to_review(user).order_by("deadline", "id")[:50],
        "in_progress": cases.filter(status__in=[ApplicationStatus.DRAFT, ApplicationStatus.SUBMITTED,
                                                ApplicationStatus.RESUBMITTED, ApplicationStatus.VERIFIED])
        .order_by("-id")[:50],
        "closed": cases.filter(status__in=[ApplicationStatus.APPROVED, ApplicationStatus.REJECTED])
        .order_by("-decided_at", "-id")[:20],
        "overdue": selectors.queue_overdue(user, today).count(),
        "today": today,
    }
    return render(request, "agent/home.html", context)


@agent_required
def person_search(request):
    query = request.GET.get("q", "").strip()
    persons = list(selectors.find_persons(request.user, query)) if query else []
    return render(request, "agent/person_search.html", {"q": query, "persons": persons})


@agent_required
def person_detail(request, id_number: str):
    person = get_object_or_404(scope_queryset(Person.objects.select_related("township", "village"), request.user),
                               id_number=id_number.upper())
    form = FileApplicationForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            app = services.application_create(actor=request.user, person=person, kind=form.cleaned_data["kind"],
                                              basis=form.cleaned_data["basis"], note=form.cleaned_data["note"])
        except (ValidationError, PermissionDenied) as exc:
            _errors(request, exc)
        else:
            messages.success(request, _("已建立申请草稿,请上传材料后提交。"))
            return redirect("agent:case", pk=app.pk)
    today = timezone.localdate()
    return render(request, "agent/person.html", {
        "person": person, "form": form, "category": selectors.person_category(person, today),
        "cases": selectors.applications_for(request.user).filter(person=person).order_by("-id"),
    })


@agent_required
def case_detail(request, pk: int):
    app = _case(request, pk)
    user = request.user
    required = services.required_materials(app, through="verify")
    have = set(app.materials.values_list("material_type", flat=True))
    notice = app.notices.order_by("-issued_at", "-id").first()
    editable = app.status in (ApplicationStatus.DRAFT, ApplicationStatus.RETURNED,
                              ApplicationStatus.SUBMITTED, ApplicationStatus.RESUBMITTED)
    context = {
        "app": app, "category_label": category_label(app.category), "status_label": status_label(app),
        "checklist": [{"type": t, "label": MaterialType(t).label, "ok": t in have,
                       "at_verification": t not in services.required_materials(app)} for t in required],
        "materials": app.materials.select_related("uploaded_by"),
        "events": app.events.select_related("actor"),
        "notice": notice,
        "notice_missing": notice.missing_items() if notice else [],
        "upload_form": MaterialForm(),
        "can_upload": editable and (services.can_file(user, app.township) or services.can_verify(user, app)),
        "can_submit": app.status == ApplicationStatus.DRAFT and services.can_file(user, app.township),
        "can_resubmit": app.status == ApplicationStatus.RETURNED and services.can_file(user, app.township),
        "can_verify": app.status in AWAITING_VERIFICATION and services.can_verify(user, app),
        "can_return": services.can_return(user, app),
        "verify_form": VerifyForm(application=app),
        "return_form": ReturnForm(initial={"missing": services.missing_materials(app)}),
        "note_form": NoteForm(),
        "needs_property": app.basis == "illness_poverty",
    }
    return render(request, "agent/case.html", context)


def _act(request, pk: int, run):
    app = _case(request, pk)
    try:
        message = run(app)
    except (ValidationError, PermissionDenied) as exc:
        _errors(request, exc)
    else:
        messages.success(request, message)
    return redirect("agent:case", pk=app.pk)


@agent_required
@require_POST
def case_upload(request, pk: int):
    form = MaterialForm(request.POST, request.FILES)

    def run(app):
        if not form.is_valid():
            raise _form_errors(form)
        material = services.material_add(actor=request.user, application=app,
                                         material_type=form.cleaned_data["material_type"],
                                         upload=form.cleaned_data["file"])
        return _("已上传:%(m)s") % {"m": material.get_material_type_display()}

    return _act(request, pk, run)


@agent_required
@require_POST
def case_submit(request, pk: int):
    def run(app):
        services.application_submit(actor=request.user, application=app)
        return _("已提交,办结时限已开始计算。")

    return _act(request, pk, run)


@agent_required
@require_POST
def case_resubmit(request, pk: int):
    form = NoteForm(request.POST)

    def run(app):
        if not form.is_valid():
            raise _form_errors(form)
        services.application_resubmit(actor=request.user, application=app, note=form.cleaned_data["note"])
        return _("已补正并重新提交。")

    return _act(request, pk, run)


@agent_required
@require_POST
def case_verify(request, pk: int):
    def run(app):
        form = VerifyForm(request.POST, application=app)
        if not form.is_valid():
            raise _form_errors(form)
        data = form.cleaned_data
        services.application_verify(actor=request.user, application=app, note=data["note"],
                                    property_check_passed=data["property_check_passed"],
                                    property_evidence=data["property_evidence"], property_note=data["property_note"])
        return _("已核实,转医保局审核。")

    return _act(request, pk, run)


@agent_required
@require_POST
def case_return(request, pk: int):
    def run(app):
        form = ReturnForm(request.POST)
        if not form.is_valid():
            raise _form_errors(form)
        notice = services.application_return(actor=request.user, application=app, missing=form.missing_items(),
                                             reason=form.cleaned_data["reason"])
        return _("已退回补正,告知书编号 %(no)s。") % {"no": notice.number}

    return _act(request, pk, run)


@login_required
def notice(request, number: str):
    """The printable 一次性告知书 (print CSS; no external assets)."""
    found = get_object_or_404(
        scope_queryset(SupplementNotice.objects.select_related(
            "application", "application__person", "application__township", "issued_by"), request.user),
        number=number)
    return render(request, "assistance/notice.html", {"notice": found, "app": found.application,
                                                      "items": found.notice_lines()[0],
                                                      "common_note": found.notice_lines()[1]})


@login_required
def material(request, pk: int):
    """Serve a material to someone who may see its case; 404 for everyone else."""
    try:
        found = services.material_for(request.user, pk)
    except Material.DoesNotExist:
        raise Http404 from None
    try:
        handle = found.file.open("rb")
    except FileNotFoundError:
        raise Http404 from None
    response = FileResponse(handle, content_type=found.content_type)
    response["Content-Disposition"] = f"inline; filename=\"material-{found.pk}{found.extension}\""
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response
