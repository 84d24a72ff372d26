"""Admin of chronic and special diseases: the catalogue (a supervisor edits and imports it),
certifications with their queue and one page of actions (each calls one service), and the
import of certifications decided by designated hospitals."""
from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from yibao_site.admin_base import STAFF_ROLES, ScopedImportExportAdmin, ServiceFormMixin
from yibao_site.models import Role

from . import selectors, services
from .importers import CertificationImporter, ChronicDiseaseImporter
from .models import (
    OPEN_STATUSES, Certification, CertificationMaterialType, CertificationStatus, ChronicDisease,
)


@admin.register(ChronicDisease)
class ChronicDiseaseAdmin(ServiceFormMixin, ScopedImportExportAdmin):
    list_display = ("code", "name", "region", "icd10", "unified_criteria", "separate_drug_payment", "valid_from",
                    "valid_to", "illustrative")
    list_filter = ("separate_drug_payment", "unified_criteria", "illustrative", "region")
    search_fields = ("code", "name")
    readonly_fields = ("pack",)
    view_roles = STAFF_ROLES
    add_roles = change_roles = frozenset({Role.SUPERVISOR})
    import_roles = frozenset({Role.SUPERVISOR})
    importer_class = ChronicDiseaseImporter

    def save_via_service(self, request, obj, data):
        disease = obj or ChronicDisease()
        for name, value in data.items():
            setattr(disease, name, value)
        return services.disease_save(actor=request.user, disease=disease)


class ActionForm(forms.Form):
    ACTIONS = [("opinion", gettext_lazy("录入定点医院认定意见")), ("approve", gettext_lazy("认定(批准)")),
               ("reject", gettext_lazy("不予认定")), ("return", gettext_lazy("退回补正(一次性告知)")),
               ("review", gettext_lazy("复审(延续有效期)")), ("revoke", gettext_lazy("撤销认定"))]
    action = forms.ChoiceField(label=gettext_lazy("操作"), choices=ACTIONS)
    hospital = forms.ChoiceField(label=gettext_lazy("认定医院"), required=False, choices=())
    supports = forms.TypedChoiceField(label=gettext_lazy("医院意见"), required=False, empty_value=None,
                                      coerce=lambda v: {"yes": True, "no": False}.get(v),
                                      choices=[("", "——"), ("yes", gettext_lazy("符合认定标准")),
                                               ("no", gettext_lazy("不符合认定标准"))])
    missing = forms.MultipleChoiceField(label=gettext_lazy("需补正的材料(一次性列全)"), required=False,
                                        choices=CertificationMaterialType.choices,
                                        widget=forms.CheckboxSelectMultiple)
    other = forms.CharField(label=gettext_lazy("“其他材料”是指"), required=False, max_length=200)
    text = forms.CharField(label=gettext_lazy("意见或理由"), required=False, max_length=2000,
                           widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, hospitals=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["hospital"].choices = [("", "——"), *sorted((hospitals or {}).items())]


class QueueFilter(admin.SimpleListFilter):
    title = gettext_lazy("队列")
    parameter_name = "queue"

    def lookups(self, request, model_admin):
        return [("to_decide", _("待我审核")), ("overdue", _("已超期")), ("expiring", _("30天内到期"))]

    def queryset(self, request, queryset):
        today = timezone.localdate()
        if self.value() == "to_decide":
            return queryset.filter(pk__in=selectors.queue_to_decide(request.user).values("pk"))
        if self.value() == "overdue":
            return queryset.filter(pk__in=selectors.queue_overdue(request.user, today).values("pk"))
        if self.value() == "expiring":
            return queryset.filter(status=CertificationStatus.APPROVED, valid_to__gte=today,
                                   valid_to__lte=today + timezone.timedelta(days=30))
        return queryset


@admin.register(Certification)
class CertificationAdmin(ScopedImportExportAdmin):
    list_display = ("id", "person", "disease", "diagnosis", "township", "status", "deadline", "overdue", "valid_from",
                    "valid_to", "act")
    list_filter = (QueueFilter, "status", "channel", "overdue", "disease__code")
    search_fields = ("person__id_number", "person__name", "disease__code", "disease__name")
    list_select_related = ("person", "disease", "township")
    raw_id_fields = ("person",)
    readonly_fields = [f.name for f in Certification._meta.fields]
    view_roles = STAFF_ROLES
    import_roles = frozenset({Role.REVIEWER, Role.SUPERVISOR})
    importer_class = CertificationImporter

    @admin.display(description=gettext_lazy("办理"))
    def act(self, obj):
        return format_html('<a href="{}">{}</a>', reverse("admin:chronic_certification_act", args=[obj.pk]), _("办理"))

    def get_urls(self):
        return [path("<int:pk>/act/", self.admin_site.admin_view(self.act_view), name="chronic_certification_act"),
                *super().get_urls()]

    def act_view(self, request, pk: int):
        cert = get_object_or_404(self.get_queryset(request).select_related("person__village"), pk=pk)
        snap_hospitals = services.hospitals(services._snapshot(cert.person, timezone.localdate()))
        form = ActionForm(request.POST or None, hospitals=snap_hospitals)
        if request.method == "POST" and form.is_valid():
            data, user = form.cleaned_data, request.user
            try:
                run = {
                    "opinion": lambda: services.certification_record_opinion(
                        actor=user, certification=cert, hospital_code=data["hospital"],
                        supports=bool(data["supports"]), opinion=data["text"]),
                    "approve": lambda: services.certification_approve(actor=user, certification=cert,
                                                                      reason=data["text"]),
                    "reject": lambda: services.certification_reject(actor=user, certification=cert, reason=data["text"]),
                    "return": lambda: services.certification_return(
                        actor=user, certification=cert, reason=data["text"],
                        missing=[{"type": t, "note": data["other"] if t == CertificationMaterialType.OTHER else ""}
                                 for t in data["missing"]]),
                    "review": lambda: services.certification_review(actor=user, certification=cert, reason=data["text"]),
                    "revoke": lambda: services.certification_revoke(actor=user, certification=cert, reason=data["text"]),
                }[data["action"]]
                run()
            except (ValidationError, PermissionDenied) as exc:
                for msg in (exc.messages if isinstance(exc, ValidationError) else [str(exc)]):
                    messages.error(request, msg)
            else:
                messages.success(request, _("已办理。"))
                return redirect("admin:chronic_certification_act", pk=cert.pk)
        context = {**self.admin_site.each_context(request), "title": _("门诊慢特病认定 #%(n)s") % {"n": cert.pk},
                   "cert": cert, "form": form, "events": cert.events.select_related("actor"),
                   "materials": cert.materials.all(), "notices": cert.notices.all(),
                   "is_open": cert.status in OPEN_STATUSES, "opts": self.model._meta}
        return TemplateResponse(request, "admin/chronic/act.html", context)
