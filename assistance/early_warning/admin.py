"""Admin of the double early warning: runs, warnings, deliveries (with the XLSX download for
departments without an endpoint), endpoints, partner accounts, the schedule and the dashboard."""
from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from unfold.admin import TabularInline

from yibao_site.admin_base import ScopedAdmin, ScopedExportAdmin, page_context
from yibao_site.charts import chart
from yibao_site.forms import AdminStyledFormMixin
from yibao_site.models import Region, RegionLevel, Role, User

from . import rules, selectors, services
from .exports import run_xlsx_response
from .models import (
    DeliveryAttempt, PartnerAccount, PersonWarning, PushEndpoint, WarningDelivery, WarningRun,
    WarningSchedule,
)

SUPERVISOR = frozenset({Role.SUPERVISOR})


class RunForm(AdminStyledFormMixin, forms.Form):
    region = forms.ModelChoiceField(
        label=gettext_lazy("区划"), to_field_name="code",
        queryset=Region.objects.filter(level__in=[RegionLevel.CITY, RegionLevel.COUNTY]).order_by("code"))
    month = forms.CharField(label=gettext_lazy("月份"), help_text=gettext_lazy("YYYY-MM"), max_length=7)

    def clean_month(self):
        try:
            return rules.parse_month(self.cleaned_data["month"])
        except ValueError:
            raise forms.ValidationError(gettext_lazy("月份格式应为 YYYY-MM,如 2024-03。"))


@admin.register(WarningRun)
class WarningRunAdmin(ScopedAdmin):
    list_display = ["month_label", "region", "count", "return_count", "into_count", "new_count", "trigger_display",
                    "created_at"]
    list_filter = ["trigger"]
    list_select_related = ["region"]
    search_fields = ["region__code", "region__name"]
    readonly_fields = ["region", "month", "count", "return_count", "into_count", "new_count", "thresholds",
                       "policy_version", "policy_used", "trigger", "created_by", "created_at"]
    date_hierarchy = "month"

    @admin.display(description=gettext_lazy("预警月份"), ordering="month")
    def month_label(self, obj):
        return f"{obj.month:%Y-%m}"

    TRIGGERS = {"api": gettext_lazy("接口"), "command": gettext_lazy("命令行"), "schedule": gettext_lazy("定时任务"),
                "admin": gettext_lazy("后台"), "task": gettext_lazy("后台任务"), "demo": gettext_lazy("演示数据")}

    @admin.display(description=gettext_lazy("触发方式"), ordering="trigger")
    def trigger_display(self, obj):
        return self.TRIGGERS.get(obj.trigger, obj.trigger)

    def get_urls(self):
        return [
            path("dashboard/", self.admin_site.admin_view(self.dashboard_view), name="early_warning_dashboard"),
            *super().get_urls(),
        ]

    def dashboard_view(self, request):
        """因病返贫/致贫预警看板: per month and township, the trend, unacknowledged deliveries;
        a supervisor can also run a month from here."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        month = None
        if request.GET.get("month"):
            try:
                month = rules.parse_month(request.GET["month"])
            except ValueError:
                messages.error(request, _("月份格式应为 YYYY-MM。"))
        can_run = self._role_ok(request, SUPERVISOR)
        form = RunForm(request.POST or None) if can_run else None
        if request.method == "POST":
            if not can_run:
                raise PermissionDenied
            if form.is_valid():
                try:
                    run, created = services.warning_run(region=form.cleaned_data["region"],
                                                        month=form.cleaned_data["month"], actor=request.user,
                                                        trigger="admin")
                except ValidationError as exc:
                    for message in exc.messages:
                        messages.error(request, message)
                else:
                    messages.success(request, (_("已生成 %(month)s 名单:%(count)s 人。") if created else
                                               _("%(month)s 名单已存在(%(count)s 人),未作修改。"))
                                     % {"month": f"{run.month:%Y-%m}", "count": run.count})
                    return HttpResponseRedirect(f"{request.path}?month={run.month:%Y-%m}")
        data = selectors.dashboard(request.user, month=month)
        month_chart = chart("bar", [bar.label for bar in data.months],
                            [(_("因病返贫预警"), [bar.return_count for bar in data.months]),
                             (_("因病致贫预警"), [bar.into_count for bar in data.months])],
                            title=_("每月预警人数"), money=False, stacked=True)
        month_chart.datasets.append({"type": "line", "label": str(_("本月新增")), "borderColor": "#dc2626",
                                     "backgroundColor": "#dc2626", "data": [bar.new_count for bar in data.months]})
        township_chart = chart("bar", [t.label for t in data.townships],
                               [(_("因病返贫预警"), [t.return_count for t in data.townships]),
                                (_("因病致贫预警"), [t.into_count for t in data.townships])],
                               title=_("各乡镇(街道)预警人数"), money=False, stacked=True) if data.townships else None
        return TemplateResponse(request, "early_warning/dashboard.html", page_context(
            self, request, _("双预警看板"), data=data, form=form, month_chart=month_chart,
            township_chart=township_chart))


@admin.register(PersonWarning)
class PersonWarningAdmin(ScopedExportAdmin):
    list_display = ["month_label", "kind", "person_name", "masked_id", "township", "out_of_pocket", "threshold",
                    "is_new", "status"]
    list_filter = ["kind", "status", "is_new", "determined_department"]
    list_select_related = ["person", "township"]
    search_fields = ["=person__id_number", "person__name"]
    date_hierarchy = "month"
    readonly_fields = [f.name for f in PersonWarning._meta.fields]

    @admin.display(description=gettext_lazy("预警月份"), ordering="month")
    def month_label(self, obj):
        return f"{obj.month:%Y-%m}"

    @admin.display(description=gettext_lazy("姓名"))
    def person_name(self, obj):
        return obj.person.name

    @admin.display(description=gettext_lazy("身份证号"))
    def masked_id(self, obj):
        return obj.person.masked_id


class DeliveryAttemptInline(TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    fields = ["number", "started_at", "duration_ms", "status_code", "error", "response_body"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(WarningDelivery)
class WarningDeliveryAdmin(ScopedAdmin):
    list_display = ["run", "department", "channel", "status", "attempts", "delivered_at", "acknowledged_at",
                    "download_link"]
    list_filter = ["department", "channel", "status", ("acknowledged_at", admin.EmptyFieldListFilter)]
    list_select_related = ["run__region"]
    readonly_fields = [f.name for f in WarningDelivery._meta.fields]
    inlines = [DeliveryAttemptInline]
    actions = ["redeliver", "acknowledge_on_behalf"]

    @admin.display(description=gettext_lazy("名单"))
    def download_link(self, obj):
        # A POST (the change list's own form and CSRF token): downloading records the delivery
        # as downloaded; a GET of the same address only reads the list.
        url = reverse("admin:early_warning_warningdelivery_xlsx", args=[obj.pk])
        return format_html('<button type="submit" form="changelist-form" formmethod="post" formaction="{}" '
                           'formnovalidate class="text-primary-600">{}</button>', url, _("下载XLSX"))

    def get_urls(self):
        return [
            path("<int:pk>/xlsx/", self.admin_site.admin_view(self.xlsx_view), name="early_warning_warningdelivery_xlsx"),
            *super().get_urls(),
        ]

    def xlsx_view(self, request, pk):
        """The list as XLSX, for a department without an endpoint: ``POST`` (the list's
        button) records the download; ``GET`` only reads."""
        delivery = self.get_queryset(request).select_related("run__region").filter(pk=pk).first()
        if delivery is None or not self.has_view_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            services.delivery_mark_downloaded(delivery=delivery, actor=request.user)
        return run_xlsx_response(delivery.run, delivery.department)

    def _supervisor(self, request):
        return self._role_ok(request, SUPERVISOR)

    @admin.action(description=gettext_lazy("重新推送所选(失败或待下载的)"), permissions=["supervisor"])
    def redeliver(self, request, queryset):
        done = 0
        for delivery in queryset.order_by("pk"):
            try:
                services.delivery_redeliver(delivery=delivery, actor=request.user)
                done += 1
            except ValidationError as exc:
                messages.warning(request, f"{delivery}: {'; '.join(exc.messages)}")
        messages.success(request, _("已重新安排 %(n)s 条推送。") % {"n": done})

    @admin.action(description=gettext_lazy("登记部门已签收(线下回执)"), permissions=["supervisor"])
    def acknowledge_on_behalf(self, request, queryset):
        done = 0
        for delivery in queryset.order_by("pk"):
            try:
                _d, changed = services.delivery_acknowledge(delivery=delivery, actor=request.user,
                                                            note=_("工作人员登记线下签收"))
                done += changed
            except ValidationError as exc:
                messages.warning(request, f"{delivery}: {'; '.join(exc.messages)}")
        messages.success(request, _("已登记 %(n)s 条签收。") % {"n": done})

    def has_supervisor_permission(self, request):
        return self._supervisor(request)


class EndpointForm(forms.ModelForm):
    url = forms.URLField(label=gettext_lazy("接收地址"), max_length=300, assume_scheme="https")

    class Meta:
        model = PushEndpoint
        fields = ["region", "department", "url", "secret", "active", "note"]
        widgets = {"secret": forms.PasswordInput(render_value=True)}


@admin.register(PushEndpoint)
class PushEndpointAdmin(ScopedAdmin):
    form = EndpointForm
    list_display = ["region", "department", "url", "active"]
    list_filter = ["department", "active"]
    list_select_related = ["region"]
    view_roles = add_roles = change_roles = SUPERVISOR

    def save_model(self, request, obj, form, change):
        try:
            saved = services.endpoint_save(region=obj.region, department=obj.department, url=obj.url,
                                           secret=obj.secret, active=obj.active, note=obj.note, actor=request.user)
        except ValidationError as exc:
            messages.error(request, "; ".join(exc.messages))
            raise
        obj.pk = saved.pk


class PartnerAccountForm(forms.ModelForm):
    username = forms.CharField(label=gettext_lazy("用户名"), max_length=150)
    region = forms.ModelChoiceField(
        label=gettext_lazy("所属区划"), required=False,
        queryset=Region.objects.filter(level__in=[RegionLevel.CITY, RegionLevel.COUNTY]).order_by("code"))
    password = forms.CharField(label=gettext_lazy("密码"), required=False, widget=forms.PasswordInput,
                               help_text=gettext_lazy("接口调用使用令牌(在“令牌”中为该账号创建);可留空。"))

    class Meta:
        model = PartnerAccount
        fields = ["department", "active"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["username"].initial = self.instance.user.username
            self.fields["username"].disabled = True
            self.fields["region"].initial = self.instance.user.region_id

    def clean_username(self):
        username = self.cleaned_data["username"]
        if not self.instance.pk and User.objects.filter(username=username).exclude(role="").exists():
            raise forms.ValidationError(gettext_lazy("该用户名已是工作人员账号,不能用作协作部门账号。"))
        return username


@admin.register(PartnerAccount)
class PartnerAccountAdmin(ScopedAdmin):
    """协作部门账号: API accounts of 民政 / 乡村振兴 (no staff role, no admin access)."""

    form = PartnerAccountForm
    list_display = ["user", "department", "active"]
    list_filter = ["department", "active"]
    view_roles = add_roles = change_roles = SUPERVISOR

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        region = data.get("region")
        account = services.partner_account_save(
            username=data["username"] if not change else obj.user.username, department=data["department"],
            region_code=region.code if region else None, password=data.get("password") or None,
            active=data["active"], actor=request.user)
        obj.pk, obj.user_id = account.pk, account.user_id


@admin.register(WarningSchedule)
class WarningScheduleAdmin(ScopedAdmin):
    """预警运行计划: the day of the month the job runs (beat reads it from django-celery-beat)."""

    list_display = ["__str__", "enabled", "periodic_task"]
    fields = ["day_of_month", "hour", "minute", "enabled", "regions", "periodic_task"]
    readonly_fields = ["periodic_task"]
    filter_horizontal = ["regions"]
    view_roles = change_roles = SUPERVISOR

    def has_add_permission(self, request):
        return super().has_add_permission(request) or (
            self._role_ok(request, SUPERVISOR) and not WarningSchedule.objects.exists())

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "regions":
            kwargs["queryset"] = Region.objects.filter(level__in=[RegionLevel.CITY, RegionLevel.COUNTY])
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        codes = [r.code for r in form.cleaned_data.get("regions", [])]
        schedule = services.schedule_save(day_of_month=obj.day_of_month, hour=obj.hour, minute=obj.minute,
                                          enabled=obj.enabled, region_codes=codes, actor=request.user)
        obj.pk = schedule.pk

    def save_related(self, request, form, formsets, change):
        pass  # the regions were saved by schedule_save, with the beat task
