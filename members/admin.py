"""Admin of members: scoped lists with filters, forms and actions that call the services."""
from __future__ import annotations

from datetime import date

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from yibao_site.admin_base import ServiceFormMixin as BaseServiceFormMixin
from unfold.widgets import UnfoldAdminTextInputWidget
from yibao_site.admin_base import (
    STAFF_ROLES, ImportExportRoles, MaskedIdAdminMixin, ScopedAdmin, ScopedImportExportAdmin, township_filter,
)
from yibao_site.forms import AdminStyledFormMixin
from yibao_site.imports import read_table
from yibao_site.models import Role

from . import services
from .exports import subsidy_batch_xlsx
from .importers import EnrollmentImporter, IdentityImporter, PersonImporter, identity_list_rows
from .models import (
    AccountEntry, AssistanceEntitlement, BatchStatus, Enrollment, Identity, IdentityImport, IdentityKind, IdentitySource,
    OffsiteRegistration, PersonalAccount, Person, Relative, StudentLumpSum, SubsidyBatch,
)
from .resources import EnrollmentExportResource, IdentityExportResource, PersonExportResource
from .selectors import subsidy_batch_totals

CLERK = frozenset({Role.WINDOW_CLERK})


class CurrentIdentityFilter(admin.SimpleListFilter):
    """Persons holding an identity of a kind valid today (困难身份)."""

    title = _("困难身份(当前有效)")
    parameter_name = "identity"

    def lookups(self, request, model_admin):
        return IdentityKind.choices

    def queryset(self, request, queryset):
        if self.value() not in IdentityKind.values:
            return queryset
        today = date.today()
        # ``pk IN (holders)``: the planner can start from the identities' (kind, valid_from)
        # index for a rare kind instead of probing every person in id order.
        held = Identity.objects.filter(kind=self.value(), valid_from__lte=today).filter(
            Q(valid_to__isnull=True) | Q(valid_to__gte=today)).values("person_id")
        return queryset.filter(pk__in=held)


def _show_error(request, exc: ValidationError) -> None:
    for msg in getattr(exc, "messages", [str(exc)]):
        messages.error(request, msg)


class ServiceFormMixin(BaseServiceFormMixin):
    """Members' admins say how to create and how to change through the services."""

    def create_via_service(self, request, data):  # pragma: no cover - abstract
        raise NotImplementedError

    def change_via_service(self, request, obj, data):
        return None

    def save_via_service(self, request, obj, data):
        if obj is None:
            return self.create_via_service(request, data)
        return self.change_via_service(request, obj, data)

    def save_related(self, request, form, formsets, change):
        return None  # inlines are read-only; state changes go through services


# ── persons ────────────────────────────────────────────────────────────────────────────────

class PersonForm(forms.ModelForm):
    id_number = forms.CharField(label=_("公民身份号码"), max_length=18, widget=UnfoldAdminTextInputWidget)

    class Meta:
        model = Person
        fields = ["id_number", "name", "village", "phone", "household_no"]


class RelativeInline(admin.TabularInline):
    model = Relative
    fk_name = "person"
    extra = 0
    fields = ["relative", "relation"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class EnrollmentInline(admin.TabularInline):
    model = Enrollment
    extra = 0
    fields = ["year", "scheme", "employee_status", "paid_on", "amount", "benefit_start", "benefit_end",
              "waiting_period", "continuous_years", "critical_illness_cap", "active"]
    readonly_fields = fields
    can_delete = False
    ordering = ["-year"]

    def has_add_permission(self, request, obj=None):
        return False


class IdentityInline(admin.TabularInline):
    model = Identity
    extra = 0
    fields = ["kind", "valid_from", "valid_to", "source"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Person)
class PersonAdmin(ServiceFormMixin, MaskedIdAdminMixin, ImportExportRoles, ScopedImportExportAdmin):
    id_attr = "id_number"
    form = PersonForm
    list_display = ["masked_id", "name", "sex", "birth_date", "township", "village", "household_no", "id_outside_county"]
    list_filter = [township_filter("township"), CurrentIdentityFilter, "sex", "id_outside_county"]
    search_fields = ["^id_number", "^name", "=household_no"]
    list_select_related = ["township", "village"]
    autocomplete_fields = ["village"]
    inlines = [RelativeInline, EnrollmentInline, IdentityInline]
    add_roles = change_roles = CLERK
    readonly_fields = ["sex", "birth_date", "township", "id_outside_county"]

    def get_import_resource_classes(self, request):
        return [PersonImporter]

    def get_export_resource_classes(self, request):
        return [PersonExportResource]

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields + (["id_number"] if obj else [])

    def get_fields(self, request, obj=None):
        return ["id_number", "name", "village", "phone", "household_no"] + list(self.readonly_fields)

    def get_search_results(self, request, queryset, search_term):
        # A digits search is an ID prefix (6+ chars, indexed); never a full-table LIKE.
        term = search_term.strip()
        if term[:1].isdigit():
            return (queryset.filter(id_number__startswith=term.upper()) if len(term) >= 6 else queryset.none()), False
        if not term:
            return queryset, False
        # A name prefix (``LIKE 'x%'`` on the name's pattern index; Chinese names have no case)
        # or an exact household number — never ``UPPER(…) LIKE`` over the whole table.
        return queryset.filter(Q(name__startswith=term) | Q(household_no=term)), False

    def create_via_service(self, request, data):
        return services.person_register(id_number=data["id_number"], name=data["name"],
                                        village_code=data["village"].code, phone=data.get("phone", ""),
                                        household_no=data.get("household_no", ""), actor=request.user)

    def change_via_service(self, request, obj, data):
        return services.person_update(person=obj, name=data["name"], village_code=data["village"].code,
                                      phone=data.get("phone", ""), household_no=data.get("household_no", ""),
                                      actor=request.user)


# ── enrolments ────────────────────────────────────────────────────────────────────────────

class EnrollmentForm(forms.ModelForm):
    class Meta:
        model = Enrollment
        fields = ["person", "year", "scheme", "employee_status", "paid_on", "amount", "contribution_base", "via"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "amount" in self.fields:
            self.fields["amount"].required = False
            self.fields["amount"].help_text = _("留空则按政策应缴金额。")


@admin.register(Enrollment)
class EnrollmentAdmin(ServiceFormMixin, MaskedIdAdminMixin, ImportExportRoles, ScopedImportExportAdmin):
    form = EnrollmentForm
    list_display = ["masked_id", "person_name", "year", "scheme", "employee_status", "paid_on", "amount",
                    "benefit_start", "benefit_end", "waiting_period", "continuous_years", "critical_illness_cap",
                    "active", "via"]
    list_filter = ["year", "scheme", "employee_status", "waiting_period", "active", "via",
                   township_filter("person__township")]
    search_fields = ["=person__id_number", "^person__name"]
    list_select_related = ["person"]
    autocomplete_fields = ["person"]
    readonly_fields = ["benefit_start", "benefit_end", "waiting_period", "continuous_years", "break_years", "newborn",
                       "critical_illness_cap", "subsidy_amount", "active", "policy_version"]
    add_roles = CLERK
    actions = ["refresh_caps"]

    @admin.display(description=_("姓名"))
    def person_name(self, obj):
        return obj.person.name

    def get_import_resource_classes(self, request):
        return [EnrollmentImporter]

    def get_export_resource_classes(self, request):
        return [EnrollmentExportResource]

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:
            return list(EnrollmentForm.Meta.fields) + self.readonly_fields
        return self.readonly_fields

    def create_via_service(self, request, data):
        return services.enrollment_create(
            person=data["person"], year=data["year"], scheme=data["scheme"], paid_on=data["paid_on"],
            employee_status=data.get("employee_status") or "", amount=data.get("amount"),
            contribution_base=data.get("contribution_base"), via=data.get("via") or "window", actor=request.user)

    @admin.action(description=_("重算所选年度的大病保险封顶线"))
    def refresh_caps(self, request, queryset):
        if not request.user.has_role(Role.SUPERVISOR):
            raise PermissionDenied
        for year in sorted(set(queryset.values_list("year", flat=True))):
            n = services.enrollment_caps_refresh(year=year, actor=request.user)
            messages.success(request, _("%(year)s 年度:%(n)s 条封顶线已更新。") % {"year": year, "n": n})


@admin.register(StudentLumpSum)
class StudentLumpSumAdmin(ServiceFormMixin, ScopedAdmin):
    list_display = ["person", "school", "first_year", "years", "yearly_amount", "total_amount", "paid_on"]
    list_filter = ["first_year", township_filter("person__township")]
    search_fields = ["=person__id_number", "school"]
    autocomplete_fields = ["person"]
    fields = ["person", "school", "first_year", "years", "paid_on", "yearly_amount", "total_amount"]
    readonly_fields = ["yearly_amount", "total_amount"]
    add_roles = CLERK

    def get_readonly_fields(self, request, obj=None):
        return self.fields if obj else self.readonly_fields

    def create_via_service(self, request, data):
        return services.student_lump_sum_create(person=data["person"], school=data["school"],
                                                first_year=data["first_year"], years=data["years"],
                                                paid_on=data["paid_on"], actor=request.user)


# ── identities, entitlements ──────────────────────────────────────────────────────────────

@admin.register(Identity)
class IdentityAdmin(ServiceFormMixin, MaskedIdAdminMixin, ImportExportRoles, ScopedImportExportAdmin):
    list_display = ["masked_id", "person_name", "kind", "valid_from", "valid_to", "source"]
    list_filter = ["kind", "source", township_filter("person__township")]
    search_fields = ["=person__id_number", "^person__name"]
    list_select_related = ["person"]
    autocomplete_fields = ["person"]
    add_roles = CLERK
    actions = ["end_yesterday"]

    @admin.display(description=_("姓名"))
    def person_name(self, obj):
        return obj.person.name

    def get_import_resource_classes(self, request):
        return [IdentityImporter]

    def get_export_resource_classes(self, request):
        return [IdentityExportResource]

    def get_readonly_fields(self, request, obj=None):
        return ["person", "kind", "valid_from", "valid_to", "source"] if obj else []

    def create_via_service(self, request, data):
        return services.identity_add(person=data["person"], kind=data["kind"], valid_from=data["valid_from"],
                                     valid_to=data.get("valid_to"), source=data["source"], actor=request.user)

    @admin.action(description=_("终止所选身份(有效期止为昨天)"))
    def end_yesterday(self, request, queryset):
        if not request.user.has_role(Role.WINDOW_CLERK):
            raise PermissionDenied
        end = date.fromordinal(date.today().toordinal() - 1)
        done = 0
        for ident in queryset.filter(valid_to__isnull=True):
            try:
                services.identity_end(identity=ident, valid_to=end, actor=request.user)
                done += 1
            except ValidationError as exc:
                _show_error(request, exc)
        messages.success(request, _("已终止 %(n)s 条身份。") % {"n": done})


class IdentityListForm(AdminStyledFormMixin, forms.Form):
    source = forms.ChoiceField(label=_("来源部门"), choices=IdentitySource.choices)
    as_of = forms.DateField(label=_("名单日期"), initial=date.today)
    file = forms.FileField(label=_("名单文件(CSV 或 XLSX)"))
    dry_run = forms.BooleanField(label=_("仅比对,不写入"), required=False, initial=True)


@admin.register(IdentityImport)
class IdentityImportAdmin(ScopedAdmin):
    """Monthly department lists: upload, compare, apply (身份名单月度比对)."""

    list_display = ["source", "as_of", "file_name", "new_count", "changed_count", "ended_count", "unchanged_count",
                    "created_by", "created_at"]
    list_filter = ["source"]
    readonly_fields = list_display + ["report"]
    view_roles = STAFF_ROLES

    def get_urls(self):
        return [path("upload/", self.admin_site.admin_view(self.upload_view), name="members_identityimport_upload")] \
            + super().get_urls()

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "upload_url": reverse("admin:members_identityimport_upload")}
        return super().changelist_view(request, extra_context)

    def upload_view(self, request):
        if not request.user.has_role(Role.WINDOW_CLERK, Role.SUPERVISOR):
            raise PermissionDenied
        form = IdentityListForm(request.POST or None, request.FILES or None)
        report = errors = None
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                rows, errors = identity_list_rows(read_table(upload.read(), filename=upload.name))
            except ValidationError as exc:
                rows, errors = [], []
                _show_error(request, exc)
            if rows and not errors:
                report = services.identity_list_apply(
                    source=form.cleaned_data["source"], as_of=form.cleaned_data["as_of"], rows=rows,
                    file_name=upload.name, dry_run=form.cleaned_data["dry_run"], actor=request.user)
                errors = [f"第 {line} 行:{'; '.join(msgs)}" for line, msgs in sorted(report.errors.items())]
                if not errors and not form.cleaned_data["dry_run"]:
                    messages.success(request, _("已应用:新增 %(n)s,变更 %(c)s,终止 %(e)s,未变 %(u)s。") % {
                        "n": len(report.new), "c": len(report.changed), "e": len(report.ended), "u": report.unchanged})
            else:
                errors = [str(e) for e in errors]
        context = {**self.admin_site.each_context(request), "form": form, "report": report, "errors": errors,
                   "title": _("导入部门身份名单"), "opts": self.model._meta}
        return TemplateResponse(request, "members/identity_list_upload.html", context)


@admin.register(AssistanceEntitlement)
class AssistanceEntitlementAdmin(ScopedAdmin):
    list_display = ["person", "kind", "category", "valid_from", "valid_to", "application_id", "revoked_on"]
    list_filter = ["kind", "category", township_filter("person__township")]
    search_fields = ["=person__id_number"]
    list_select_related = ["person"]
    readonly_fields = list_display


# ── personal accounts, off-site registration ──────────────────────────────────────────────

class AccountEntryInline(admin.TabularInline):
    model = AccountEntry
    extra = 0
    fields = ["on", "kind", "amount", "balance_after", "relative", "memo"]
    readonly_fields = fields
    can_delete = False
    ordering = ["-id"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(PersonalAccount)
class PersonalAccountAdmin(ScopedAdmin):
    list_display = ["person", "balance", "opened_on", "closed_on"]
    list_filter = [township_filter("person__township")]
    search_fields = ["=person__id_number"]
    list_select_related = ["person"]
    readonly_fields = ["person", "balance", "opened_on", "closed_on"]
    inlines = [AccountEntryInline]


@admin.register(AccountEntry)
class AccountEntryAdmin(ScopedAdmin):
    list_display = ["account", "kind", "amount", "balance_after", "on", "month", "relative", "memo"]
    list_filter = ["kind", "month", township_filter("account__person__township")]
    search_fields = ["=account__person__id_number"]
    list_select_related = ["account__person", "relative"]
    readonly_fields = list_display + ["enrollment", "policy_version"]


@admin.register(OffsiteRegistration)
class OffsiteRegistrationAdmin(ServiceFormMixin, ScopedAdmin):
    list_display = ["person", "kind", "destination", "in_province", "hospital", "valid_from", "valid_to", "revoked_on"]
    list_filter = ["kind", "in_province", township_filter("person__township")]
    search_fields = ["=person__id_number", "destination", "hospital"]
    list_select_related = ["person"]
    autocomplete_fields = ["person"]
    fields = ["person", "kind", "destination", "in_province", "hospital", "valid_from", "valid_to", "revoked_on"]
    readonly_fields = ["revoked_on"]
    add_roles = CLERK
    actions = ["revoke_today"]

    def get_readonly_fields(self, request, obj=None):
        return self.fields if obj else self.readonly_fields

    def create_via_service(self, request, data):
        return services.offsite_register(person=data["person"], kind=data["kind"], destination=data["destination"],
                                         in_province=data.get("in_province", True), hospital=data.get("hospital", ""),
                                         valid_from=data["valid_from"], valid_to=data["valid_to"], actor=request.user)

    @admin.action(description=_("自今日起撤销所选备案"))
    def revoke_today(self, request, queryset):
        if not request.user.has_role(Role.WINDOW_CLERK):
            raise PermissionDenied
        for reg in queryset.filter(revoked_on__isnull=True):
            try:
                services.offsite_revoke(registration=reg, on=date.today(), actor=request.user)
            except ValidationError as exc:
                _show_error(request, exc)


# ── subsidy batches ───────────────────────────────────────────────────────────────────────

class SubsidyBatchForm(forms.ModelForm):
    class Meta:
        model = SubsidyBatch
        fields = ["region", "year"]


@admin.register(SubsidyBatch)
class SubsidyBatchAdmin(ServiceFormMixin, ScopedAdmin):
    form = SubsidyBatchForm
    list_display = ["region", "year", "status", "count", "total_amount", "built_at", "confirmed_by", "confirmed_at"]
    list_filter = ["year", "status"]
    list_select_related = ["region", "confirmed_by"]
    autocomplete_fields = ["region"]
    readonly_fields = ["status", "count", "total_amount", "policy_version", "built_at", "built_by", "confirmed_at",
                       "confirmed_by", "totals"]
    add_roles = CLERK | {Role.SUPERVISOR}
    actions = ["rebuild", "confirm", "export_xlsx"]

    def get_readonly_fields(self, request, obj=None):
        return ["region", "year"] + self.readonly_fields if obj else []

    @admin.display(description=_("汇总"))
    def totals(self, obj):
        t = subsidy_batch_totals(obj)
        kinds = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                                 ((row["kind"], row["count"], row["amount"]) for row in t["by_kind"]))
        towns = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                                 ((row["township__name"], row["count"], row["amount"]) for row in t["by_township"]))
        return format_html("<table>{}</table><br><table>{}</table>", kinds, towns)

    def create_via_service(self, request, data):
        return services.subsidy_batch_build(region=data["region"], year=data["year"], actor=request.user)

    @admin.action(description=_("重新生成名单(仅草稿)"))
    def rebuild(self, request, queryset):
        if not request.user.has_role(Role.WINDOW_CLERK, Role.SUPERVISOR):
            raise PermissionDenied
        for batch in queryset.select_related("region"):
            try:
                services.subsidy_batch_build(region=batch.region, year=batch.year, actor=request.user)
                messages.success(request, _("%(b)s 已重新生成。") % {"b": batch})
            except ValidationError as exc:
                _show_error(request, exc)

    @admin.action(description=_("确认并冻结(管理员)"))
    def confirm(self, request, queryset):
        for batch in queryset.filter(status=BatchStatus.DRAFT):
            try:
                services.subsidy_batch_confirm(batch=batch, actor=request.user)
                messages.success(request, _("%(b)s 已确认。") % {"b": batch})
            except (ValidationError, PermissionDenied) as exc:
                messages.error(request, str(exc) if isinstance(exc, PermissionDenied) else "; ".join(exc.messages))

    @admin.action(description=_("导出税务征收名单(XLSX)"))
    def export_xlsx(self, request, queryset):
        if not request.user.has_role(Role.WINDOW_CLERK, Role.FINANCE, Role.SUPERVISOR):
            raise PermissionDenied
        batch = queryset.select_related("region").first()
        if batch is None:
            return None
        response = HttpResponse(subsidy_batch_xlsx(batch),
                                content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        response["Content-Disposition"] = f'attachment; filename="subsidy-{batch.region.code}-{batch.year}.xlsx"'
        return response

