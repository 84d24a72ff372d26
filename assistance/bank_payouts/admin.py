"""Finance's screens for assistance payout batches: the list and detail (with the lines, held
ones and their reasons, and the bank batch's sign-off, file and reconciliation), the actions
of the bank steps, the queue of what is owed per person, and the lines themselves."""
from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from payments import public as pay
from payments.models import BatchStatus
from yibao_site.admin_base import ScopedAdmin, ServiceFormMixin, page_context
from yibao_site.models import Region, RegionLevel, Role

from ..models import PayoutBatch, PayoutLine
from . import selectors, services

FINANCE = frozenset({Role.FINANCE})


def _report(request, fn, *args, **kwargs):
    """Run a service from an admin action; show its error instead of a 500."""
    try:
        return fn(*args, **kwargs)
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc))
        return None
SUPERVISOR = frozenset({Role.SUPERVISOR})
READERS = frozenset({Role.FINANCE, Role.SUPERVISOR})


class PayoutLineInline(admin.TabularInline):
    model = PayoutLine
    fields = ["person", "entry", "amount", "state", "instruction", "hold_reason"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_view_permission(self, request, obj=None):  # roles, not Django permissions
        return request.user.is_active and request.user.is_staff

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class PayoutBatchForm(forms.ModelForm):
    region = forms.ModelChoiceField(
        label=gettext_lazy("区划"),
        queryset=Region.objects.filter(level__in=[RegionLevel.CITY, RegionLevel.COUNTY, RegionLevel.TOWNSHIP]))

    class Meta:
        model = PayoutBatch
        fields = ["region", "on"]


@admin.register(PayoutBatch)
class PayoutBatchAdmin(ServiceFormMixin, ScopedAdmin):
    list_display = ["__str__", "region", "on", "bank_status", "count", "total_amount", "held_count", "held_amount",
                    "created_by", "created_at"]
    list_filter = ["instruction_batch__status"]
    date_hierarchy = "on"
    view_roles = READERS
    add_roles = FINANCE
    form = PayoutBatchForm
    inlines = [PayoutLineInline]
    actions = ["prepare", "approve", "produce_file", "mark_sent"]
    list_select_related = ["region", "created_by", "instruction_batch"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["region", "on", "bank_batch", "bank_status", "signoff", "count", "total_amount", "held_count",
                "held_amount", "created_by", "created_at", "reconciliation", "files"]

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not self._role_ok(request, FINANCE):
            for name in ("prepare", "produce_file", "mark_sent"):
                actions.pop(name, None)
        if not self._role_ok(request, SUPERVISOR):
            actions.pop("approve", None)
        return actions

    def save_via_service(self, request, obj, data):
        return services.payout_batch_create(region=data["region"], on=data["on"], actor=request.user)

    def save_related(self, request, form, formsets, change):
        return None

    @admin.display(description=gettext_lazy("银行状态"))
    def bank_status(self, obj):
        return obj.instruction_batch.get_status_display() if obj.instruction_batch else _("无可发送指令")

    @admin.display(description=gettext_lazy("支付指令批次"))
    def bank_batch(self, obj):
        if obj.instruction_batch is None:
            return "-"
        url = reverse("admin:payments_instructionbatch_change", args=[obj.instruction_batch_id])
        return format_html('<a href="{}">{}</a>', url, obj.instruction_batch.title)

    @admin.display(description=gettext_lazy("分级审批"))
    def signoff(self, obj):
        b = obj.instruction_batch
        if b is None:
            return "-"
        if not b.signoff_required:
            return _("%(total)s 元未超过 %(limit)s 元,财务制单即可") % {"total": b.total_amount, "limit": b.signoff_threshold}
        who = b.approved_by.username if b.approved_by else _("待主管审批")
        return _("%(total)s 元超过 %(limit)s 元,须主管审批:%(who)s") % {
            "total": b.total_amount, "limit": b.signoff_threshold, "who": who}

    @admin.display(description=gettext_lazy("对账"))
    def reconciliation(self, obj):
        if obj.instruction_batch is None:
            return "-"
        r = pay.batch_reconciliation(obj.instruction_batch)
        return _("指令 %(n)s 笔 %(a)s 元 = 已支付 %(cn)s 笔 %(ca)s 元 + 退回 %(fn)s 笔 %(fa)s 元 + 待确认 %(pn)s 笔 %(pa)s 元") % {
            "n": r["instructed"]["count"], "a": r["instructed"]["amount"], "cn": r["confirmed"]["count"],
            "ca": r["confirmed"]["amount"], "fn": r["failed"]["count"], "fa": r["failed"]["amount"],
            "pn": r["pending"]["count"], "pa": r["pending"]["amount"]}

    @admin.display(description=gettext_lazy("银行文件"))
    def files(self, obj):
        if obj.instruction_batch is None:
            return "-"
        items = [format_html('<a href="{}">{}</a>{}', reverse("admin:payments_bankfile_download", args=[f.pk]),
                             f.filename, _("(已发送)") if f.sent_at else "")
                 for f in obj.instruction_batch.files.defer("content").order_by("pk")]
        return format_html("<br>".join(["{}"] * len(items)), *items) if items else "-"

    def _bank(self, request, queryset, fn, done_text, **kwargs):
        done = 0
        for batch in queryset.select_related("instruction_batch").order_by("pk"):
            if batch.instruction_batch is None:
                messages.warning(request, _("%(b)s 没有可发送的指令(全部暂缓)。") % {"b": batch})
                continue
            if _report(request, fn, batch.instruction_batch, **kwargs):
                done += 1
        messages.success(request, done_text % {"n": done})

    @admin.action(description=gettext_lazy("财务制单"))
    def prepare(self, request, queryset):
        self._bank(request, queryset, lambda b: pay.batch_prepare(batch_id=b.pk, actor=request.user),
                   _("已制单 %(n)s 个批次。"))

    @admin.action(description=gettext_lazy("主管审批"))
    def approve(self, request, queryset):
        self._bank(request, queryset, lambda b: pay.batch_approve(batch_id=b.pk, actor=request.user),
                   _("已审批 %(n)s 个批次。"))

    @admin.action(description=gettext_lazy("生成银行文件"))
    def produce_file(self, request, queryset):
        self._bank(request, queryset, lambda b: pay.bank_file_produce(batch_id=b.pk, actor=request.user),
                   _("已生成 %(n)s 个银行文件。"))

    @admin.action(description=gettext_lazy("登记银行文件已发送"))
    def mark_sent(self, request, queryset):
        def send(b):
            f = b.files.filter(sent_at__isnull=True).order_by("-pk").first()
            if f is None:
                messages.warning(request, _("银行文件已发送。") if b.status == BatchStatus.SENT
                                 else _("批次尚无未发送的银行文件。"))
                return None
            return pay.bank_file_mark_sent(file_id=f.pk, actor=request.user)

        self._bank(request, queryset, send, _("已登记发送 %(n)s 个文件。"))

    def get_urls(self):
        return [path("queue/", self.admin_site.admin_view(self.queue_view), name="assistance_payout_queue"),
                *super().get_urls()]

    def queue_view(self, request):
        """待代发队列: per person of a region, what is owed and whether the next batch pays it."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        regions = Region.objects.filter(level__in=[RegionLevel.CITY, RegionLevel.COUNTY]).order_by("code")
        code = request.GET.get("region") or (regions[0].code if regions else "")
        region = Region.objects.filter(code=code).first()
        rows = selectors.payout_queue(region, limit=500, user=request.user) if region else []
        context = page_context(self, request, _("救助金待代发队列"), regions=regions, region=region, rows=rows,
                               payable=sum(1 for r in rows if not r["problem"]),
                               held=sum(1 for r in rows if r["problem"]),
                               returned=selectors.awaiting_correction(request.user)[:200],
                               today=timezone.localdate())
        return TemplateResponse(request, "assistance/payout_queue.html", context)


@admin.register(PayoutLine)
class PayoutLineAdmin(ScopedAdmin):
    list_display = ["batch", "person", "entry", "amount", "state", "instruction", "hold_reason"]
    list_filter = ["state"]
    search_fields = ["=person__id_number", "instruction__number"]
    view_roles = READERS
    readonly_fields = ["batch", "entry", "person", "amount", "state", "instruction", "hold_reason"]
    list_select_related = ["batch", "batch__region", "person", "entry", "instruction"]
