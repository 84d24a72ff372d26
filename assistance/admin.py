"""Admin of the eligibility review: queues (待我审核, 已超期, 退回补正, 待支付), the case page with
its one-click actions (each calls one service), assistance objects and their monthly dynamics,
payouts, and the holiday calendar."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from members.models import Person
from yibao_site.admin_base import STAFF_ROLES, ScopedAdmin
from yibao_site.formatting import format_money
from yibao_site.models import Role
from yibao_site.scoping import scope_queryset

from . import selectors, services
from .display import calculation_html, category_label, status_label
from .forms import (
    FileApplicationForm, MaterialForm, NoteForm, PayoutForm, ReasonForm, RejectForm, ReturnForm, VerifyForm,
)
from .models import (
    AWAITING_VERIFICATION, OPEN_STATUSES, Application, ApplicationKind, ApplicationStatus, AssistanceObject,
    DeterminationBasis, Holiday, MaterialType, Payout,
)


class QueueFilter(admin.SimpleListFilter):
    title = gettext_lazy("队列")
    parameter_name = "queue"

    def lookups(self, request, model_admin):
        return [("to_review", _("待我审核")), ("overdue", _("已超期")), ("returned", _("退回补正")),
                ("to_pay", _("待支付"))]

    def queryset(self, request, queryset):
        user = request.user
        chosen = {
            "to_review": lambda: selectors.queue_to_review(user),
            "overdue": lambda: selectors.queue_overdue(user, timezone.localdate()),
            "returned": lambda: selectors.queue_returned(user),
            "to_pay": lambda: selectors.queue_to_pay(user),
        }.get(self.value())
        return queryset.filter(pk__in=chosen().values("pk")) if chosen else queryset


class WindowFileForm(FileApplicationForm):
    id_number = forms.CharField(label=gettext_lazy("申请人身份证号"), max_length=18, min_length=18)
    field_order = ["id_number", "kind", "basis", "note"]


@dataclass(frozen=True)
class CaseAction:
    label: str
    form: type[forms.Form]
    style: str = "primary"


ACTIONS: dict[str, CaseAction] = {
    "upload": CaseAction(gettext_lazy("上传材料"), MaterialForm, "secondary"),
    "submit": CaseAction(gettext_lazy("受理(提交)"), NoteForm),
    "verify": CaseAction(gettext_lazy("核实"), VerifyForm),
    "approve": CaseAction(gettext_lazy("批准"), ReasonForm),
    "return": CaseAction(gettext_lazy("退回补正"), ReturnForm, "danger"),
    "reject": CaseAction(gettext_lazy("不予批准"), RejectForm, "danger"),
    "resubmit": CaseAction(gettext_lazy("补正后重新提交"), NoteForm),
    "payout": CaseAction(gettext_lazy("支付"), PayoutForm),
}


def available_actions(user, app: Application) -> list[str]:
    """The actions the case page offers this user now (the services check again)."""
    found = []
    editable = app.status in (ApplicationStatus.DRAFT, ApplicationStatus.RETURNED, *AWAITING_VERIFICATION)
    if editable and (services.can_file(user, app.township) or services.can_verify(user, app)):
        found.append("upload")
    if app.status == ApplicationStatus.DRAFT and services.can_file(user, app.township):
        found.append("submit")
    if app.status == ApplicationStatus.RETURNED and services.can_file(user, app.township):
        found.append("resubmit")
    if app.status in AWAITING_VERIFICATION and services.can_verify(user, app):
        found.append("verify")
    # 批准 only when it can succeed: not after the means test or the property check failed.
    refused = app.basis == DeterminationBasis.ILLNESS_POVERTY and (
        app.means_passed is False or app.property_check_passed is False)
    if app.status == ApplicationStatus.VERIFIED and services.can_decide(user, app) and not refused:
        found.append("approve")
    if services.can_return(user, app):
        found.append("return")
    if app.status in OPEN_STATUSES and services.can_decide(user, app):
        found.append("reject")
    if (app.status == ApplicationStatus.APPROVED and app.kind in (ApplicationKind.RETROACTIVE, ApplicationKind.TILT)
            and app.amount and not hasattr(app, "payout") and (user.is_superuser or user.role == Role.FINANCE)):
        found.append("payout")
    return found


def _run(name: str, request, app: Application, form: forms.Form) -> str:
    user, data = request.user, form.cleaned_data
    if name == "upload":
        material = services.material_add(actor=user, application=app, material_type=data["material_type"],
                                         upload=data["file"])
        return _("已上传:%(m)s") % {"m": material.get_material_type_display()}
    if name == "submit":
        services.application_submit(actor=user, application=app)
        return _("已受理,办结时限已开始计算。")
    if name == "verify":
        services.application_verify(actor=user, application=app, note=data["note"],
                                    property_check_passed=data["property_check_passed"],
                                    property_evidence=data["property_evidence"], property_note=data["property_note"])
        return _("已核实。")
    if name == "approve":
        services.application_approve(actor=user, application=app, reason=data["reason"])
        return _("已批准。")
    if name == "reject":
        services.application_reject(actor=user, application=app, reason=data["reason"])
        return _("已作出不予批准决定。")
    if name == "return":
        notice = services.application_return(actor=user, application=app, missing=form.missing_items(),
                                             reason=data["reason"])
        return _("已退回补正,告知书编号 %(no)s。") % {"no": notice.number}
    if name == "resubmit":
        services.application_resubmit(actor=user, application=app, note=data["note"])
        return _("已重新提交。")
    if name == "payout":
        payout = services.payout_create(actor=user, application=app, reference=data["reference"])
        return _("已支付 %(amount)s 元。") % {"amount": payout.amount}
    raise PermissionDenied


@admin.register(Application)
class ApplicationAdmin(ScopedAdmin):
    list_display = ["id", "person_display", "kind", "category_display", "status_display", "township", "owner",
                    "deadline", "overdue_display", "filed_by", "amount_display"]
    list_filter = [QueueFilter, "status", "kind", "overdue", "channel"]
    list_select_related = ["person", "township", "owner", "filed_by"]
    search_fields = ["=person__id_number", "person__name"]
    search_help_text = gettext_lazy("按身份证号(完整)或姓名查找")
    date_hierarchy = "filed_at"
    ordering = ["-id"]
    readonly_fields = [*(f.name for f in Application._meta.fields if f.name not in ("calculation", "category")),
                       "category_display", "calculation_display"]
    exclude = ["calculation", "category"]
    view_roles = STAFF_ROLES
    add_roles = frozenset({Role.WINDOW_CLERK})
    change_roles = frozenset()
    actions = ["verify_selected", "approve_selected", "pay_selected"]
    change_form_template = "admin/assistance/application/change_form.html"

    @admin.display(description=gettext_lazy("申请人"), ordering="person__name")
    def person_display(self, obj):
        return f"{obj.person.name} {obj.person.masked_id}"

    @admin.display(description=gettext_lazy("救助类别"), ordering="category")
    def category_display(self, obj):
        return category_label(obj.category)

    @admin.display(description=gettext_lazy("已超期"), ordering="overdue")
    def overdue_display(self, obj):
        # Overdue is the bad case: red, worded; on time is a quiet dash (not a green tick).
        if obj.overdue:
            return format_html('<span style="color:#b91c1c;font-weight:600" data-overdue="1">{}</span>', _("已超期"))
        return format_html('<span style="color:#64748b" data-overdue="0">{}</span>', _("未超期"))

    @admin.display(description=gettext_lazy("金额(元)"), ordering="amount")
    def amount_display(self, obj):
        return format_money(obj.amount) if obj.amount is not None else "—"

    @admin.display(description=gettext_lazy("计算明细"))
    def calculation_display(self, obj):
        return calculation_html(obj.calculation)

    @admin.display(description=gettext_lazy("状态"), ordering="status")
    def status_display(self, obj):
        colour = {"returned": "#b91c1c", "rejected": "#b91c1c", "approved": "#166534"}.get(obj.status, "#1e40af")
        return format_html('<span style="color:{}">{}</span>', colour, status_label(obj))

    # ── adding: the window clerk files a case (then uploads materials and accepts it) ──
    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = WindowFileForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            person = scope_queryset(Person.objects.all(), request.user).filter(
                id_number=form.cleaned_data["id_number"].upper()).first()
            if person is None:
                form.add_error("id_number", _("没有找到该身份证号的参保人员。"))
            else:
                try:
                    app = services.application_create(actor=request.user, person=person,
                                                      kind=form.cleaned_data["kind"], basis=form.cleaned_data["basis"],
                                                      note=form.cleaned_data["note"])
                except (ValidationError, PermissionDenied) as exc:
                    _messages(request, exc)
                else:
                    messages.success(request, _("已建立申请草稿,请上传材料并受理。"))
                    return redirect("admin:assistance_application_change", app.pk)
        return TemplateResponse(request, "admin/assistance/application/action.html", {
            **self.admin_site.each_context(request), "opts": self.model._meta, "title": _("窗口受理:新建救助申请"),
            "form": form, "app": None, "multipart": False,
        })

    # ── the case page and its actions ──
    def get_urls(self):
        return [
            path("<int:object_id>/act/<str:name>/", self.admin_site.admin_view(self.action_view),
                 name="assistance_application_act"),
            *super().get_urls(),
        ]

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        extra_context = extra_context or {}
        if object_id:
            app = self.get_queryset(request).filter(pk=object_id).first()
            if app is not None:
                extra_context.update({
                    "case": app,
                    "case_actions": [(n, ACTIONS[n]) for n in available_actions(request.user, app)],
                    "case_materials": app.materials.select_related("uploaded_by"),
                    "case_events": app.events.select_related("actor"),
                    "case_notices": app.notices.select_related("issued_by"),
                    "case_missing": [MaterialType(m).label for m in services.missing_materials(app)],
                })
        return super().changeform_view(request, object_id, form_url, extra_context)

    def action_view(self, request, object_id: int, name: str):
        app = get_object_or_404(self.get_queryset(request), pk=object_id)
        spec = ACTIONS.get(name)
        if spec is None or not self.has_view_permission(request, app):
            raise PermissionDenied
        kwargs = {"application": app} if spec.form is VerifyForm else {}
        if spec.form is ReturnForm:  # pre-tick what the case lacks up to verification (one rule)
            kwargs["initial"] = {"missing": services.missing_materials(app)}
        form = spec.form(*((request.POST, request.FILES) if request.method == "POST" else ()), **kwargs)
        change_url = reverse("admin:assistance_application_change", args=[app.pk])
        if request.method == "POST" and form.is_valid():
            try:
                message = _run(name, request, app, form)
            except PermissionDenied as exc:
                messages.error(request, str(exc) or _("无权执行此操作。"))
                return HttpResponseRedirect(change_url)
            except ValidationError as exc:
                _messages(request, exc)
            else:
                messages.success(request, message)
                return HttpResponseRedirect(change_url)
        return TemplateResponse(request, "admin/assistance/application/action.html", {
            **self.admin_site.each_context(request), "opts": self.model._meta, "app": app, "form": form,
            "title": f"{spec.label} · #{app.pk} {app.person.name}", "action_name": name, "spec": spec,
            "multipart": name == "upload", "change_url": change_url,
        })

    # ── one-click bulk actions (each case through its own service call) ──
    def _bulk(self, request, queryset, run, done: str):
        ok, failed = 0, []
        for app in queryset.order_by("pk"):
            try:
                run(app)
                ok += 1
            except (ValidationError, PermissionDenied) as exc:
                failed.append(f"#{app.pk}: {'; '.join(getattr(exc, 'messages', [str(exc)]))}")
        if ok:
            messages.success(request, _("%(done)s %(n)s 件。") % {"done": done, "n": ok})
        for line in failed:
            messages.error(request, line)

    @admin.action(description=gettext_lazy("核实所选申请(不含需财产核查的因病致贫认定)"))
    def verify_selected(self, request, queryset):
        self._bulk(request, queryset, lambda app: services.application_verify(actor=request.user, application=app),
                   _("已核实"))

    @admin.action(description=gettext_lazy("批准所选申请"))
    def approve_selected(self, request, queryset):
        self._bulk(request, queryset, lambda app: services.application_approve(actor=request.user, application=app),
                   _("已批准"))

    @admin.action(description=gettext_lazy("支付所选申请的救助金"))
    def pay_selected(self, request, queryset):
        self._bulk(request, queryset, lambda app: services.payout_create(actor=request.user, application=app),
                   _("已支付"))

    def get_actions(self, request):
        found = super().get_actions(request)
        role = request.user.role
        if not request.user.is_superuser:
            if role != Role.REVIEWER:
                found.pop("verify_selected", None)
                found.pop("approve_selected", None)
            if role != Role.FINANCE:
                found.pop("pay_selected", None)
        return found

    def has_change_permission(self, request, obj=None):
        return False


def _messages(request, exc: Exception) -> None:
    if isinstance(exc, ValidationError):
        items = exc.message_dict.items() if hasattr(exc, "error_dict") else [("", exc.messages)]
        for _field, msgs in items:
            for msg in msgs:
                messages.error(request, msg)
    else:
        messages.error(request, str(exc) or _("无权执行此操作。"))


class CategoryFilter(admin.SimpleListFilter):
    title = gettext_lazy("救助类别")
    parameter_name = "category"

    def lookups(self, request, model_admin):
        return [(str(c), _("%(c)s类") % {"c": c}) for c in (1, 2, 3, 4)]

    def queryset(self, request, queryset):
        return queryset.filter(category=int(self.value())) if self.value() in ("1", "2", "3", "4") else queryset


@admin.register(AssistanceObject)
class AssistanceObjectAdmin(ScopedAdmin):
    """救助对象: who is an assistance object today and in which category; the monthly dynamics."""

    list_display = ["name", "masked", "township", "village", "category_display"]
    list_filter = [CategoryFilter]
    search_fields = ["=id_number", "name"]
    list_select_related = ["township", "village"]
    view_roles = STAFF_ROLES
    change_list_template = "admin/assistance/assistanceobject/change_list.html"

    def get_queryset(self, request):
        on = timezone.localdate()
        return selectors.assistance_objects(request.user, on)

    @admin.display(description=gettext_lazy("身份证号"))
    def masked(self, obj):
        return obj.masked_id

    @admin.display(description=gettext_lazy("救助类别"), ordering="category")
    def category_display(self, obj):
        return obj.category

    def get_urls(self):
        return [
            path("dynamics/", self.admin_site.admin_view(self.dynamics_view), name="assistance_dynamics"),
            *super().get_urls(),
        ]

    def dynamics_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        today = timezone.localdate()
        raw = request.GET.get("month", "")
        try:
            year, month = (int(x) for x in raw.split("-")) if raw else (today.year, today.month)
            date(year, month, 1)
        except ValueError:
            messages.error(request, _("月份格式应为 YYYY-MM。"))
            year, month = today.year, today.month
        data = selectors.monthly_dynamics(request.user, year, month)
        which = request.GET.get("list")
        people = selectors.month_members(request.user, year, month, which)[:200] if which in ("added", "removed") else []
        return TemplateResponse(request, "admin/assistance/dynamics.html", {
            **self.admin_site.each_context(request), "opts": self.model._meta, "title": _("救助对象月度动态"),
            "data": data, "people": people, "which": which,
        })

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Payout)
class PayoutAdmin(ScopedAdmin):
    list_display = ["id", "application", "amount", "reference", "paid_by", "paid_at"]
    list_select_related = ["application", "application__person", "paid_by"]
    search_fields = ["=application__person__id_number", "reference"]
    date_hierarchy = "paid_at"
    readonly_fields = ["application", "amount", "reference", "paid_by", "paid_at"]
    view_roles = frozenset({Role.FINANCE, Role.REVIEWER, Role.SUPERVISOR})


@admin.register(Holiday)
class HolidayAdmin(ScopedAdmin):
    list_display = ["date", "name", "is_workday"]
    list_filter = ["is_workday"]
    date_hierarchy = "date"
    add_roles = change_roles = delete_roles = frozenset({Role.SUPERVISOR})

    def save_model(self, request, obj, form, change):
        saved = services.holiday_save(actor=request.user, day=obj.date, name=obj.name, is_workday=obj.is_workday)
        obj.pk = saved.pk

from .bank_payouts import admin as _bank_payouts_admin  # noqa: F401,E402  (救助金代发批次)
