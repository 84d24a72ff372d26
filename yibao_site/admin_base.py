"""Base classes every admin in the project uses: unfold's look, history, township scoping,
role checks and no full-table COUNT(*) on change lists."""
from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import ValidationError
from import_export.admin import ExportMixin, ImportExportMixin
from import_export.formats import base_formats
from simple_history.admin import SimpleHistoryAdmin
from unfold.admin import ModelAdmin as UnfoldModelAdmin
from unfold.contrib.import_export.forms import ExportForm, ImportForm

from django.utils.translation import gettext_lazy as _

from .idnumbers import display_id, id_display_for
from .imports import check_upload, check_upload_size, read_table
from .inputs import excel_safe
from .models import Region, RegionLevel, Role
from .paginator import EstimatedCountPaginator
from .scoping import scope_queryset

STAFF_ROLES = frozenset(Role.values) - {Role.TOWNSHIP_AGENT}


class ScopedAdmin(SimpleHistoryAdmin, UnfoldModelAdmin):
    """Admin scoped to the user's township/region, with role-based permissions.

    Subclasses declare which roles may view, add and change; nobody deletes domain data from
    the admin (reversals and state changes go through services).
    """

    view_roles: frozenset[str] = STAFF_ROLES
    add_roles: frozenset[str] = frozenset()
    change_roles: frozenset[str] = frozenset()
    delete_roles: frozenset[str] = frozenset()
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    list_per_page = 50
    # unfold
    warn_unsaved_form = True
    compressed_fields = True

    def get_queryset(self, request):
        return scope_queryset(super().get_queryset(request), request.user)

    def _role_ok(self, request, roles) -> bool:
        user = request.user
        return user.is_active and user.is_staff and (user.is_superuser or user.role in roles)

    def has_module_permission(self, request):
        return self._role_ok(request, self.view_roles)

    def has_view_permission(self, request, obj=None):
        return self._role_ok(request, self.view_roles | self.change_roles)

    def has_add_permission(self, request):
        return self._role_ok(request, self.add_roles)

    def has_change_permission(self, request, obj=None):
        return self._role_ok(request, self.change_roles)

    def has_delete_permission(self, request, obj=None):
        return self._role_ok(request, self.delete_roles)


class ExcelSafeExportMixin:
    """Every exported text cell that a spreadsheet would run as a formula is escaped
    (``inputs.excel_safe``), whatever the format (CSV, XLSX, …)."""

    def get_data_for_export(self, request, queryset, **kwargs):
        import tablib

        dataset = super().get_data_for_export(request, queryset, **kwargs)
        safe = tablib.Dataset(headers=dataset.headers, title=dataset.title)
        for row in dataset:
            safe.append([excel_safe(cell) for cell in row])
        return safe


def _as_dataset(rows):
    import tablib

    headers = list(rows[0].keys()) if rows else []
    dataset = tablib.Dataset(headers=headers)
    for row in rows:
        dataset.append([row.get(h) for h in headers])
    return dataset


class SafeCSV(base_formats.CSV):
    """CSV imports read by the import engine's reader: bounds before parsing, GB18030 too."""

    def create_dataset(self, in_stream, **kwargs):
        data = in_stream.encode("utf-8") if isinstance(in_stream, str) else in_stream
        return _as_dataset(read_table(data, filename="upload.csv"))

    def get_read_mode(self):
        return "rb"

    def is_binary(self):
        return True


class SafeXLSX(base_formats.XLSX):
    """XLSX imports read by the import engine's reader: size, unpacked size (zip bombs) and
    rows bounded before parsing; formula cells read as formulas (and refused)."""

    def create_dataset(self, in_stream, **kwargs):
        return _as_dataset(read_table(bytes(in_stream), filename="upload.xlsx"))


class BoundedImportForm(ImportForm):
    """The upload is refused by size (and, for XLSX, by unpacked size) before anything reads it."""

    def clean_import_file(self):
        upload = self.cleaned_data["import_file"]
        check_upload_size(upload.size)
        head = upload.read()
        upload.seek(0)
        check_upload(head, upload.name)
        return upload


class ScopedExportAdmin(ExcelSafeExportMixin, ExportMixin, ScopedAdmin):
    """Scoped admin with django-import-export's export (of the scoped queryset only)."""

    export_form_class = ExportForm

    def has_export_permission(self, request):
        return self.has_view_permission(request)


class ScopedImportExportAdmin(ExcelSafeExportMixin, ImportExportMixin, ScopedAdmin):
    """Scoped admin with import and export; imports go through the resource's validation."""

    import_form_class = BoundedImportForm
    import_formats = [SafeCSV, SafeXLSX]
    export_form_class = ExportForm
    import_roles: frozenset[str] = frozenset({Role.WINDOW_CLERK, Role.SUPERVISOR})
    importer_class = None  # a yibao_site.imports.BulkImporter subclass

    def get_import_resource_classes(self, request):
        return [self.importer_class]

    def get_import_resource_kwargs(self, request, **kwargs):
        return {"actor": request.user}

    def has_import_permission(self, request):
        return self._role_ok(request, self.import_roles)

    def get_urls(self):
        from django.urls import path

        from . import import_jobs

        meta = self.model._meta
        name = f"{meta.app_label}_{meta.model_name}_import"
        jobs = [(f"import-jobs/<int:job_id>/{suffix}", view, f"{name}_job{tail}") for suffix, view, tail in (
            ("", import_jobs.job_page, ""), ("status/", import_jobs.job_status, "_status"),
            ("report/", import_jobs.job_report, "_report"))]
        return [path("import-template/", self.admin_site.admin_view(self.import_template_view), name=f"{name}_template"),
                *(path(route, self.admin_site.admin_view(lambda r, job_id, v=view: v(self, r, job_id)), name=n)
                  for route, view, n in jobs),
                *super().get_urls()]

    def import_action(self, request, **kwargs):
        """A file of more than ``IMPORT_BACKGROUND_ROWS`` rows imports in the background with a
        progress page (``import_jobs``); a smaller one keeps the preview-then-confirm page."""
        from . import import_jobs

        background = import_jobs.maybe_background(self, request)
        if background is not None:
            return background
        response = super().import_action(request, **kwargs)
        if getattr(response, "context_data", None) is not None:
            response.context_data["import_jobs"] = import_jobs.recent_jobs(self, request)
            response.context_data["import_background_rows"] = import_jobs.background_threshold()
        return response

    def import_template_view(self, request):
        """The import's XLSX template: Chinese headers, an example row, a sheet of notes."""
        from django.core.exceptions import PermissionDenied
        from django.http import HttpResponse

        from .xlsx import XLSX_TYPE

        from urllib.parse import quote

        from .imports import BulkImporter

        importers = [c for c in self.get_import_resource_classes(request) if issubclass(c, BulkImporter)]
        if not self.has_import_permission(request) or not importers:
            raise PermissionDenied
        importer = importers[0]
        response = HttpResponse(importer.template_xlsx(), content_type=XLSX_TYPE)
        name = f"{importer.verbose_name or importer.name}-导入模板.xlsx"
        response["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(name)}"
        return response

    def has_export_permission(self, request):
        return self.has_view_permission(request)


class _ServiceRefused(Exception):
    """The service refused the form's data (carries its ``ValidationError``)."""

    def __init__(self, error: ValidationError):
        super().__init__(error)
        self.error = error


class ServiceFormMixin:
    """Add and change forms save through a service, run exactly once per submission.

    ``save_model`` runs the service; when it refuses (``ValidationError``) the request's
    transaction is rolled back and the form is shown again with the service's messages on
    its fields (the messages are kept on the request, not on the shared admin instance), so
    a rule the service enforces shows on the form without a second, rolled-back run.
    Subclasses implement ``save_via_service(request, obj_or_None, cleaned_data)`` returning
    the saved object."""

    def save_via_service(self, request, obj, data):  # pragma: no cover - abstract
        raise NotImplementedError

    def get_form(self, request, obj=None, **kwargs):
        base = super().get_form(request, obj, **kwargs)

        class ServiceCheckedForm(base):
            def clean(form):
                data = super().clean()
                refused = getattr(request, "_service_refused", None)
                if refused is not None and not form.errors:
                    items = refused.message_dict.items() if hasattr(refused, "error_dict") else [(None, refused.messages)]
                    for name, msgs in items:
                        for msg in msgs:
                            form.add_error(name if name in form.fields else None, msg)
                return data

        return ServiceCheckedForm

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except _ServiceRefused as refused:
            # The first pass's transaction is rolled back; the second shows the form again
            # with the service's messages (its ``clean`` adds them, so nothing is saved).
            request._service_refused = refused.error
            return super().changeform_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change):
        try:
            saved = self.save_via_service(request, obj if change else None, form.cleaned_data)
        except ValidationError as exc:
            raise _ServiceRefused(exc) from exc
        if saved is not None:
            obj.pk = saved.pk


def page_context(model_admin, request, title, **extra) -> dict:
    """Context for a custom admin page (a report, a form of our own): the admin frame, the
    model's breadcrumb and the page's own title as the last crumb (not the model's name)."""
    return {**model_admin.admin_site.each_context(request), "opts": model_admin.model._meta, "title": title,
            "page_crumb": title, **extra}


def township_filter(field_path: str):
    """A list filter over the townships the user may see, on ``field_path`` (an FK to a township)."""

    class TownshipFilter(admin.SimpleListFilter):
        title = _("乡镇(街道)")
        parameter_name = "township"

        def lookups(self, request, model_admin):
            qs = scope_queryset(Region.objects.filter(level=RegionLevel.TOWNSHIP), request.user)
            return [(r.code, r.name) for r in qs.order_by("code")]

        def queryset(self, request, queryset):
            if self.value():
                return queryset.filter(**{f"{field_path}__code": self.value()})
            return queryset

    return TownshipFilter


class MaskedIdAdminMixin:
    """A masked-ID column for the list (whole for roles that need it).

    The admin instance is shared by every request (and thread), so the viewer is never kept
    on it: ``get_list_display`` swaps the ``masked_id`` name for a column bound to this
    request's user.
    """

    id_attr = "person__id_number"

    def _id_of(self, obj) -> str:
        value = obj
        for part in self.id_attr.split("__"):
            value = getattr(value, part)
        return value

    @admin.display(description=_("公民身份号码"))
    def masked_id(self, obj):
        """Without a request (checks, other callers) the ID is always masked."""
        return display_id(None, self._id_of(obj))

    def get_list_display(self, request):
        columns = list(super().get_list_display(request))
        if "masked_id" not in columns:
            return columns
        show, id_of = id_display_for(request.user), self._id_of  # decided once for the page

        @admin.display(description=_("公民身份号码"))
        def masked_id(obj):
            return show(id_of(obj))

        return [masked_id if c == "masked_id" else c for c in columns]


class ImportExportRoles:
    def get_export_resource_kwargs(self, request, **kwargs):
        return {"user": request.user}

    def get_import_resource_kwargs(self, request, **kwargs):
        return {"user": request.user}
