"""Personal accounts (个人账户) and their entries: read-only, money moves through the services."""
from __future__ import annotations


from django.contrib import admin

from yibao_site.admin_base import ScopedAdmin, township_filter

from ..models import AccountEntry, PersonalAccount


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
