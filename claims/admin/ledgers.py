"""Year ledgers (重新结算 from the change page), their entries (finance works the 应补付 /
应追回 lists) and the nightly checks."""
from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from yibao_site.admin_base import STAFF_ROLES, MaskedIdAdminMixin, ScopedAdmin, township_filter
from yibao_site.models import Role
from yibao_site.scoping import scope_queryset

from .. import services
from ..models import CashStatus, LedgerCheck, LedgerEntry, PersonYearLedger
from .forms import SettleCashForm


@admin.register(PersonYearLedger)
class PersonYearLedgerAdmin(MaskedIdAdminMixin, ScopedAdmin):
    list_display = ["masked_id", "person_name", "year", "claims_count", "total_cost", "basic_total", "critical_paid",
                    "assistance_paid", "second_round_paid", "out_of_pocket"]
    list_filter = ["year", township_filter("person__township")]
    search_fields = ["=person__id_number", "^person__name"]
    list_select_related = ["person"]
    ordering = ["-year", "person_id"]

    def get_fields(self, request, obj=None):
        return ["person", "year", "claims_count", *[f.name for f in self.model._meta.fields
                                                    if f.name not in ("id", "person", "year", "claims_count")]]

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)

    @admin.display(description=_("姓名"))
    def person_name(self, obj):
        return obj.person.name

    @admin.display(description=_("基本医保支付累计"))
    def basic_total(self, obj):
        return obj.basic_paid

    def get_urls(self):
        return [path("<int:pk>/resettle/", self.admin_site.admin_view(self.resettle_view),
                     name="claims_personyearledger_resettle"), *super().get_urls()]

    def resettle_view(self, request, pk):
        """重新结算: preview the adjustments the facts known now call for, then confirm."""
        if request.user.role not in services.RESETTLE_ROLES and not request.user.is_superuser:
            raise PermissionDenied
        ledger = get_object_or_404(scope_queryset(PersonYearLedger.objects.select_related("person"), request.user),
                                   pk=pk)
        confirm = request.method == "POST" and request.POST.get("confirm") == "1"
        try:
            result = services.ledger_resettle(person=ledger.person, year=ledger.year, confirm=confirm,
                                              actor=request.user, reason=request.POST.get("reason", ""))
        except ValidationError as exc:
            messages.error(request, "; ".join(exc.messages))
            return HttpResponseRedirect(reverse("admin:claims_personyearledger_change", args=[pk]))
        if confirm:
            messages.success(request, _("已重新结算,写入 %(n)s 条调整分录。") % {"n": len(result.entries)})
        context = {**self.admin_site.each_context(request), "title": _("重新结算个人年度台账"), "ledger": ledger,
                   "entries": result.entries, "confirmed": result.confirmed, "opts": self.model._meta}
        return TemplateResponse(request, "claims/resettle.html", context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "resettle_url": reverse(
            "admin:claims_personyearledger_resettle", args=[object_id])}
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(LedgerEntry)
class LedgerEntryAdmin(MaskedIdAdminMixin, ScopedAdmin):
    """台账分录: one-time payments and adjustments; finance works the 应补付 / 应追回 lists
    (money owed back is listed as such, never netted against what is owed out)."""

    list_display = ["at", "masked_id", "year", "kind", "claim", "basic", "critical", "assistance", "second_round",
                    "cash_status", "cash_reference", "reason"]
    list_filter = ["cash_status", "kind", "year", township_filter("person__township")]
    search_fields = ["=person__id_number", "=batch"]
    list_select_related = ["person"]
    ordering = ["-at", "-id"]
    view_roles = STAFF_ROLES
    actions = ["settle_cash"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=_("登记已补付/已追回(需凭证号)"))
    def settle_cash(self, request, queryset):
        if "reference" in request.POST:
            form = SettleCashForm(request.POST)
            if form.is_valid():
                try:
                    n = services.ledger_entries_settle(entry_ids=list(queryset.values_list("pk", flat=True)),
                                                       reference=form.cleaned_data["reference"], actor=request.user)
                except (PermissionDenied, ValidationError) as exc:
                    messages.error(request, str(getattr(exc, "messages", [exc])[0]))
                    return None
                messages.success(request, _("已登记 %(n)s 条。") % {"n": n})
                return None
        else:
            form = SettleCashForm()
        context = {**self.admin_site.each_context(request), "title": _("登记已补付/已追回"), "form": form,
                   "queryset": queryset.filter(cash_status__in=[CashStatus.TO_PAY, CashStatus.TO_RECOVER]),
                   "opts": self.model._meta, "action": "settle_cash",
                   "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME}
        return TemplateResponse(request, "claims/settle_cash.html", context)


@admin.register(LedgerCheck)
class LedgerCheckAdmin(ScopedAdmin):
    list_display = ["checked_on", "year", "ledgers", "mismatches", "progress", "updated_at"]
    list_filter = ["year"]
    view_roles = frozenset({Role.SUPERVISOR, Role.FINANCE})
    readonly_fields = ["year", "checked_on", "ledgers", "mismatches", "progress", "details", "updated_at"]
    fields = readonly_fields

    @admin.display(description=_("完成分片"))
    def progress(self, obj: LedgerCheck) -> str:
        return f"{obj.shards_done}/{obj.shards}"
