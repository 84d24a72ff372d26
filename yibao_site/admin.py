from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group
from django.utils.translation import gettext_lazy as _
from rest_framework.authtoken.admin import TokenAdmin as DRFTokenAdmin
from rest_framework.authtoken.models import TokenProxy
from unfold.admin import ModelAdmin as UnfoldModelAdmin
from unfold.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm

from .admin_base import ScopedAdmin, ScopedImportExportAdmin
from .importers import RegionImporter
from .models import PolicyParameter, Region, RegionLevel, Role, User
from .services import policy_parameter_save, region_save

admin.site.unregister(Group)
admin.site.unregister(TokenProxy)


@admin.register(Region)
class RegionAdmin(ScopedImportExportAdmin):
    importer_class = RegionImporter
    import_roles = frozenset({Role.SUPERVISOR})
    list_display = ["code", "name", "level", "parent"]
    list_filter = ["level"]
    search_fields = ["code", "name"]
    autocomplete_fields = ["parent"]
    readonly_fields = ["path"]
    add_roles = change_roles = frozenset({Role.SUPERVISOR})
    view_roles = frozenset(Role.values) - {Role.TOWNSHIP_AGENT}

    # An autocomplete for a field named after a level offers only regions of that level (the
    # person form's 村(社区) box no longer offers a township that saving then refuses).
    LEVEL_FIELDS = {"village": RegionLevel.VILLAGE, "township": RegionLevel.TOWNSHIP, "county": RegionLevel.COUNTY,
                    "city": RegionLevel.CITY}

    def get_search_results(self, request, queryset, search_term):
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        level = self.LEVEL_FIELDS.get(request.GET.get("field_name", ""))
        if level is not None and request.path.endswith("/autocomplete/"):
            queryset = queryset.filter(level=level)
        return queryset, may_have_duplicates

    def save_model(self, request, obj, form, change):
        saved = region_save(code=obj.code, name=obj.name, level=obj.level,
                            parent_code=obj.parent.code if obj.parent_id else None, actor=request.user,
                            reason=_("后台修改区划"))
        obj.pk, obj.path = saved.pk, saved.path


@admin.register(PolicyParameter)
class PolicyParameterAdmin(ScopedAdmin):
    list_display = ["key", "region", "value", "effective_from", "pack", "illustrative", "source"]
    list_filter = ["pack", "illustrative", "region"]
    search_fields = ["key", "source", "note"]
    list_select_related = ["region"]
    date_hierarchy = "effective_from"
    add_roles = change_roles = frozenset({Role.SUPERVISOR})
    readonly_fields = ["pack"]

    def save_model(self, request, obj, form, change):
        if change and ("effective_from" in form.changed_data or "region" in form.changed_data or "key" in form.changed_data):
            messages.warning(request, _("修改生效日期、区划或键会新增一条参数;原参数保留以便追溯。"))
        saved, _changed = policy_parameter_save(
            region=obj.region, key=obj.key, value=obj.value, effective_from=obj.effective_from,
            source=obj.source, pack=obj.pack, illustrative=obj.illustrative, note=obj.note,
            actor=request.user, reason=_("管理员在后台修改"),
        )
        obj.pk = saved.pk


@admin.register(User)
class StaffAdmin(DjangoUserAdmin, ScopedAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    change_password_form = AdminPasswordChangeForm
    list_display = ["username", "first_name", "role", "region", "is_active", "last_login"]
    list_filter = ["role", "is_active"]
    search_fields = ["username", "first_name", "last_name"]
    autocomplete_fields = ["region"]
    fieldsets = DjangoUserAdmin.fieldsets + ((_("岗位"), {"fields": ("role", "region", "phone")}),)
    add_fieldsets = DjangoUserAdmin.add_fieldsets + ((_("岗位"), {"fields": ("role", "region")}),)
    view_roles = add_roles = change_roles = frozenset({Role.SUPERVISOR})

    def get_queryset(self, request):
        return super(ScopedAdmin, self).get_queryset(request)  # staff are not township-scoped

    def save_model(self, request, obj, form, change):
        obj.full_clean(exclude=["password"])
        obj.is_staff = obj.role != Role.TOWNSHIP_AGENT
        super().save_model(request, obj, form, change)


@admin.register(TokenProxy)
class TokenAdmin(DRFTokenAdmin, UnfoldModelAdmin):
    """API tokens: a supervisor revokes one by deleting it."""

    def has_module_permission(self, request):
        user = request.user
        return user.is_active and (user.is_superuser or getattr(user, "role", None) == Role.SUPERVISOR)

    has_view_permission = has_delete_permission = lambda self, request, obj=None: self.has_module_permission(request)

    def has_add_permission(self, request):
        return self.has_module_permission(request)
