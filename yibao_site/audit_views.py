"""审计日志: the latest changes across every audited model, for supervisors (read-only)."""
from __future__ import annotations

from heapq import merge

from django.apps import apps
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _

from .models import Role

LIMIT = 200


def _history_models():
    for model in apps.get_models():
        history = getattr(model, "history", None)
        manager_model = getattr(history, "model", None)
        if manager_model is not None and hasattr(manager_model, "history_date"):
            yield model, manager_model


def can_read_audit_log(request) -> bool:
    user = request.user
    return user.is_active and (user.is_superuser or getattr(user, "role", None) == Role.SUPERVISOR)


def audit_log(request):
    if not can_read_audit_log(request):
        raise PermissionDenied
    selected = request.GET.get("model", "")
    who = request.GET.get("user", "").strip()
    streams, choices = [], []
    for model, history_model in _history_models():
        label = f"{model._meta.app_label}.{model._meta.model_name}"
        choices.append((label, model._meta.verbose_name))
        if selected and selected != label:
            continue
        qs = history_model.objects.select_related("history_user").order_by("-history_date")
        if who:
            qs = qs.filter(history_user__username=who)
        rows = [
            {"date": h.history_date, "model": model._meta.verbose_name, "object": str(h.instance)[:80],
             "type": h.get_history_type_display(),
             "user": h.history_user.username if h.history_user else _("系统"), "reason": h.history_change_reason or ""}
            for h in qs[:LIMIT]
        ]
        streams.append(rows)
    entries = list(merge(*streams, key=lambda r: r["date"], reverse=True))[:LIMIT]
    context = {
        **admin.site.each_context(request), "title": _("审计日志"), "entries": entries,
        "choices": sorted(choices, key=lambda c: str(c[1])), "selected": selected, "who": who,
    }
    return TemplateResponse(request, "admin/audit_log.html", context)
