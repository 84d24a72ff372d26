"""Finance's screens for bank payments: batches (prepare, approve, produce and send the file),
instructions, bank files, bank results (import of the return file), payee corrections, the
bank file layouts, and the reconciliation with a chart of pending and failed by age."""
from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.http import HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from yibao_site.admin_base import ScopedAdmin, ScopedImportExportAdmin, ServiceFormMixin
from yibao_site.models import Role

from . import selectors, services
from .api import CONTENT_TYPES
from .importers import BankResultImporter
from .models import (
    BankFile, BankFileLayout, BankResult, BatchStatus, CorrectionStatus, Instruction, InstructionBatch,
    InstructionStatus, PayeeCorrection, PersonBankAccount,
)

FINANCE = frozenset({Role.FINANCE})
SUPERVISOR = frozenset({Role.SUPERVISOR})
READERS = frozenset({Role.FINANCE, Role.SUPERVISOR})


def _report(request, fn, *args, **kwargs):
    """Run a service from an admin action; show its error instead of a 500."""
    try:
        return fn(*args, **kwargs)
    except (ValidationError, PermissionDenied) as exc:
        text = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
        messages.error(request, text)
        return None


class InstructionInline(admin.TabularInline):
    model = Instruction
    fields = ["number", "payee_code", "payee_name", "account_number", "amount", "status", "result_on",
              "bank_reference", "failure_reason", "escalated_on"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_view_permission(self, request, obj=None):  # roles of the parent, not Django permissions
        return request.user.is_active and request.user.is_staff

    def has_add_permission(self, request, obj=None):
        return False


class BankFileInline(admin.TabularInline):
    model = BankFile
    fields = ["filename", "layout", "count", "total_amount", "sha256", "produced_by", "produced_at", "sent_by",
              "sent_at", "download"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_view_permission(self, request, obj=None):  # roles of the parent, not Django permissions
        return request.user.is_active and request.user.is_staff

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description=gettext_lazy("下载"))
    def download(self, obj):
        return format_html('<a href="{}">{}</a>', reverse("admin:payments_bankfile_download", args=[obj.pk]),
                           _("下载"))


@admin.register(InstructionBatch)
class InstructionBatchAdmin(ScopedAdmin):
    list_display = ["title", "purpose", "on", "status", "count", "total_amount", "signoff_required", "prepared_by",
                    "approved_by", "sent_by", "sent_at"]
    list_filter = ["purpose", "status", "signoff_required"]
    search_fields = ["source_ref", "title"]
    date_hierarchy = "on"
    view_roles = READERS
    readonly_fields = ["purpose", "source_ref", "title", "region", "on", "status", "count", "total_amount",
                       "signoff_threshold", "signoff_required", "policy_version", "prepared_by", "prepared_at",
                       "approved_by", "approved_at", "sent_by", "sent_at", "reconciliation"]
    exclude = ["policy_used"]
    inlines = [InstructionInline, BankFileInline]
    actions = ["prepare", "approve", "produce_file"]

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not self._role_ok(request, FINANCE):
            actions.pop("prepare", None)
            actions.pop("produce_file", None)
        if not self._role_ok(request, SUPERVISOR):
            actions.pop("approve", None)
        return actions

    @admin.display(description=gettext_lazy("对账"))
    def reconciliation(self, obj):
        r = selectors.batch_reconciliation(obj)
        return _("指令 %(n)s 笔 %(a)s 元 = 已支付 %(cn)s 笔 %(ca)s 元 + 退回 %(fn)s 笔 %(fa)s 元 + 待确认 %(pn)s 笔 %(pa)s 元") % {
            "n": r["instructed"]["count"], "a": r["instructed"]["amount"], "cn": r["confirmed"]["count"],
            "ca": r["confirmed"]["amount"], "fn": r["failed"]["count"], "fa": r["failed"]["amount"],
            "pn": r["pending"]["count"], "pa": r["pending"]["amount"]}

    @admin.action(description=gettext_lazy("财务制单"))
    def prepare(self, request, queryset):
        done = sum(1 for b in queryset.filter(status=BatchStatus.CREATED).order_by("pk")
                   if _report(request, services.batch_prepare, batch_id=b.pk, actor=request.user))
        messages.success(request, _("已制单 %(n)s 个批次。") % {"n": done})

    @admin.action(description=gettext_lazy("主管审批"))
    def approve(self, request, queryset):
        done = sum(1 for b in queryset.filter(status=BatchStatus.AWAITING_APPROVAL).order_by("pk")
                   if _report(request, services.batch_approve, batch_id=b.pk, actor=request.user))
        messages.success(request, _("已审批 %(n)s 个批次。") % {"n": done})

    @admin.action(description=gettext_lazy("生成银行文件"))
    def produce_file(self, request, queryset):
        done = sum(1 for b in queryset.order_by("pk")
                   if _report(request, services.bank_file_produce, batch_id=b.pk, actor=request.user))
        messages.success(request, _("已生成 %(n)s 个银行文件。") % {"n": done})

    def get_urls(self):
        return [path("reconciliation/", self.admin_site.admin_view(self.reconciliation_view),
                     name="payments_reconciliation"), *super().get_urls()]

    def reconciliation_view(self, request):
        """Per day: instructed = confirmed + failed + pending; a chart of pending and failed by age."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        days = selectors.daily_reconciliation(user=request.user)
        ages = selectors.open_by_age(user=request.user)
        top = max([b["pending"] + b["failed"] for b in ages] + [1])
        width, height, left, bar = 520, 200, 40, 60
        chart = []
        for i, b in enumerate(ages):
            x = left + 10 + i * (bar + 20)
            hp, hf = b["pending"] * (height - 40) // top, b["failed"] * (height - 40) // top
            chart.append({**b, "x": x, "label_x": x + bar // 2, "pending_y": height - 20 - hp, "pending_h": hp,
                          "failed_y": height - 20 - hp - hf, "failed_h": hf, "w": bar})
        context = {**self.admin_site.each_context(request), "title": _("支付对账"), "days": days, "ages": chart,
                   "chart": {"width": width, "height": height, "base": height - 20, "label_y": height - 5},
                   "opts": self.model._meta}
        return TemplateResponse(request, "payments/reconciliation.html", context)


class EscalatedFilter(admin.SimpleListFilter):
    title = gettext_lazy("超期未确认")
    parameter_name = "escalated"

    def lookups(self, request, model_admin):
        return [("1", _("已升级"))]

    def queryset(self, request, queryset):
        if self.value() == "1":
            return queryset.filter(status=InstructionStatus.PENDING, escalated_on__isnull=False)
        return queryset


@admin.register(Instruction)
class InstructionAdmin(ScopedAdmin):
    list_display = ["number", "purpose", "payee_name", "account_number", "amount", "status", "result_on",
                    "bank_reference", "failure_reason", "escalated_on", "released_at"]
    list_filter = ["status", "purpose", EscalatedFilter]
    search_fields = ["number", "payee_code", "payee_name", "account_number"]
    view_roles = READERS
    readonly_fields = ["batch", "purpose", "source_ref", "number", "payee_kind", "payee_code", "payee_name",
                       "account_name", "bank_name", "account_number", "evidence", "amount", "memo", "status",
                       "bank_reference", "result_on", "failure_reason", "result_at", "escalated_on", "released_at"]
    list_select_related = ["batch"]


@admin.register(BankFile)
class BankFileAdmin(ScopedAdmin):
    list_display = ["filename", "batch", "layout", "count", "total_amount", "produced_by", "produced_at", "sent_by",
                    "sent_at", "download"]
    view_roles = READERS
    exclude = ["content"]
    readonly_fields = ["batch", "layout", "filename", "sha256", "count", "total_amount", "produced_by", "produced_at",
                       "sent_by", "sent_at"]
    actions = ["mark_sent"]
    list_select_related = ["batch", "layout", "produced_by", "sent_by"]

    def get_queryset(self, request):
        return super().get_queryset(request).defer("content")

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not self._role_ok(request, FINANCE):
            actions.pop("mark_sent", None)
        return actions

    @admin.display(description=gettext_lazy("下载"))
    def download(self, obj):
        return format_html('<a href="{}">{}</a>', reverse("admin:payments_bankfile_download", args=[obj.pk]),
                           _("下载"))

    @admin.action(description=gettext_lazy("登记已发送银行"))
    def mark_sent(self, request, queryset):
        done = sum(1 for f in queryset.filter(sent_at__isnull=True).order_by("pk")
                   if _report(request, services.bank_file_mark_sent, file_id=f.pk, actor=request.user))
        messages.success(request, _("已登记发送 %(n)s 个文件。") % {"n": done})

    def get_urls(self):
        return [path("<int:pk>/download/", self.admin_site.admin_view(self.download_view),
                     name="payments_bankfile_download"), *super().get_urls()]

    def download_view(self, request, pk):
        if not self._role_ok(request, FINANCE):
            raise PermissionDenied
        f = BankFile.objects.select_related("layout").get(pk=pk)
        response = HttpResponse(bytes(f.content), content_type=CONTENT_TYPES[f.layout.file_format])
        response["Content-Disposition"] = f'attachment; filename="{f.filename}"'
        return response


@admin.register(BankResult)
class BankResultAdmin(ScopedImportExportAdmin):
    list_display = ["instruction", "outcome", "bank_reference", "result_on", "reason", "channel", "recorded_by",
                    "recorded_at"]
    list_filter = ["outcome", "channel"]
    search_fields = ["instruction__number", "bank_reference"]
    view_roles = READERS
    import_roles = FINANCE
    importer_class = BankResultImporter
    readonly_fields = list_display
    list_select_related = ["instruction", "recorded_by"]


class CorrectionForm(forms.ModelForm):
    instruction = forms.ModelChoiceField(
        label=gettext_lazy("退回的支付指令"),
        queryset=Instruction.objects.filter(status=InstructionStatus.FAILED, released_at__isnull=True))

    class Meta:
        model = PayeeCorrection
        fields = ["instruction", "payee_kind", "account_name", "bank_name", "account_number", "evidence"]


@admin.register(PayeeCorrection)
class PayeeCorrectionAdmin(ServiceFormMixin, ScopedAdmin):
    list_display = ["instruction", "account_name", "bank_name", "account_number", "status", "submitted_by",
                    "submitted_at", "reviewed_by", "reviewed_at"]
    list_filter = ["status"]
    search_fields = ["instruction__number", "account_number"]
    view_roles = READERS
    add_roles = FINANCE
    form = CorrectionForm
    actions = ["approve", "reject"]
    list_select_related = ["instruction", "submitted_by", "reviewed_by"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ["status"]
        return ["instruction", "payee_kind", "account_name", "bank_name", "account_number", "evidence", "status",
                "submitted_by", "submitted_at", "reviewed_by", "reviewed_at", "review_note"]

    def save_via_service(self, request, obj, data):
        return services.correction_submit(instruction_id=data["instruction"].pk, account_name=data["account_name"],
                                          bank_name=data["bank_name"], account_number=data["account_number"],
                                          evidence=data["evidence"], payee_kind=data.get("payee_kind"),
                                          actor=request.user)

    def save_related(self, request, form, formsets, change):
        return None

    @admin.action(description=gettext_lazy("复核通过(重回待支付队列)"))
    def approve(self, request, queryset):
        done = sum(1 for c in queryset.filter(status=CorrectionStatus.SUBMITTED).order_by("pk")
                   if _report(request, services.correction_approve, correction_id=c.pk, actor=request.user))
        messages.success(request, _("已复核通过 %(n)s 条更正。") % {"n": done})

    @admin.action(description=gettext_lazy("驳回"))
    def reject(self, request, queryset):
        done = sum(1 for c in queryset.filter(status=CorrectionStatus.SUBMITTED).order_by("pk")
                   if _report(request, services.correction_reject, correction_id=c.pk, note=_("后台驳回,请核实后重新提交"),
                              actor=request.user))
        messages.success(request, _("已驳回 %(n)s 条更正。") % {"n": done})


class LayoutForm(forms.ModelForm):
    class Meta:
        model = BankFileLayout
        fields = ["code", "name", "file_format", "encoding", "columns", "is_default"]

    def clean_columns(self):
        columns = self.cleaned_data["columns"]
        errors = services.layout_errors(columns)
        if errors:
            raise forms.ValidationError(errors)
        return columns


@admin.register(BankFileLayout)
class BankFileLayoutAdmin(ScopedAdmin):
    list_display = ["code", "name", "file_format", "encoding", "is_default"]
    view_roles = READERS
    add_roles = SUPERVISOR
    change_roles = SUPERVISOR
    form = LayoutForm


class PersonBankAccountForm(forms.ModelForm):
    class Meta:
        model = PersonBankAccount
        fields = ["person", "payee_kind", "account_name", "bank_name", "account_number", "relation", "evidence",
                  "evidence_file"]
        widgets = {"evidence_file": forms.FileInput}  # never a link into MEDIA: the proof is served below


@admin.register(PersonBankAccount)
class PersonBankAccountAdmin(ServiceFormMixin, ScopedAdmin):
    """救助金收款账户: the person's social-security card account, or a relative's with the
    relation and the uploaded proof; a bank return suspends it until a reviewed correction."""

    list_display = ["person", "payee_kind", "account_name", "bank_name", "account_number", "relation", "suspended_at"]
    list_filter = ["payee_kind", ("suspended_at", admin.EmptyFieldListFilter)]
    search_fields = ["person__id_number", "account_number"]
    view_roles = READERS | {Role.WINDOW_CLERK}
    add_roles = FINANCE | {Role.WINDOW_CLERK}
    change_roles = FINANCE | {Role.WINDOW_CLERK}
    autocomplete_fields = ["person"]
    list_select_related = ["person"]
    form = PersonBankAccountForm
    readonly_fields = ["evidence_link", "evidence_sha256", "suspended_at", "suspended_reason"]

    @admin.display(description=gettext_lazy("已上传的证明材料"))
    def evidence_link(self, obj):
        if not obj.evidence_file:
            return "-"
        return format_html('<a href="{}">{}</a>', reverse("admin:payments_personbankaccount_evidence", args=[obj.pk]),
                           obj.evidence_name or _("下载"))

    def get_urls(self):
        return [path("<int:pk>/evidence/", self.admin_site.admin_view(self.evidence_view),
                     name="payments_personbankaccount_evidence"), *super().get_urls()]

    def evidence_view(self, request, pk):
        from django.http import FileResponse, Http404

        if not self.has_view_permission(request):
            raise PermissionDenied
        account = self.get_queryset(request).filter(pk=pk).first()
        if account is None or not account.evidence_file:
            raise Http404
        return FileResponse(account.evidence_file.open("rb"), as_attachment=True,
                            filename=account.evidence_name or account.evidence_file.name.rsplit("/", 1)[-1])

    def save_model(self, request, obj, form, change):
        request._payee_account_store = True  # the real save: store the uploaded proof
        return super().save_model(request, obj, form, change)

    def save_via_service(self, request, obj, data):
        upload = data.get("evidence_file")
        upload = upload if isinstance(upload, UploadedFile) else None  # a new upload, not the stored file
        return services.person_account_save(person=data["person"] if obj is None else obj.person,
                                            account_name=data["account_name"], bank_name=data["bank_name"],
                                            account_number=data["account_number"], payee_kind=data["payee_kind"],
                                            evidence=data.get("evidence", ""), relation=data.get("relation", ""),
                                            evidence_upload=upload,
                                            store_file=getattr(request, "_payee_account_store", False),
                                            actor=request.user)

    def save_related(self, request, form, formsets, change):
        return None
