"""What the procurement admins share: service forms, scoped foreign keys, read-only inlines."""
from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse

from unfold.admin import TabularInline

from yibao_site.admin_base import ServiceFormMixin as BaseServiceFormMixin
from yibao_site.models import Role
from yibao_site.scoping import scope_queryset

FINANCE = frozenset({Role.FINANCE})


class ServiceFormMixin(BaseServiceFormMixin):
    """The service saves the object itself; there is nothing related left to save."""

    def save_related(self, request, form, formsets, change):
        return None


def _service_form(admin_obj, request, *, title: str, form: forms.Form, handle, done_url: str, obj=None,
                  intro: str = ""):
    """Render ``form``; on a valid POST call ``handle(cleaned_data)`` and redirect."""
    if request.method == "POST" and form.is_valid():
        try:
            message = handle(form.cleaned_data)
        except ValidationError as exc:
            items = exc.message_dict.items() if hasattr(exc, "error_dict") else [(None, exc.messages)]
            for name, msgs in items:
                for msg in msgs:
                    form.add_error(name if name in form.fields else None, msg)
        else:
            messages.success(request, message)
            return HttpResponseRedirect(done_url)
    context = {**admin_obj.admin_site.each_context(request), "title": title, "form": form, "object": obj,
               "intro": intro, "opts": admin_obj.model._meta}
    return TemplateResponse(request, "procurement/form.html", context)


def _scoped_fk(admin_obj, db_field, request, kwargs):
    if db_field.name in ("hospital", "order"):
        kwargs["queryset"] = scope_queryset(db_field.related_model.objects.all(), request.user)
    return kwargs


class ReadOnlyInline(TabularInline):
    """A read-only inline shown to whoever may view the parent (roles, not Django perms)."""

    extra = 0
    can_delete = False

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_staff

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
