"""Role checks for the API (API.md "Roles").

A view declares who may read and who may write; an action (``approve``, ``reverse``…) may
name its own roles.  Township scope is applied separately to querysets (scoping.py), so an
object outside the caller's township is a 404 and an object in scope that the role may not
act on is a 403 — also for writes: on a detail route, a caller who may read the resource but
not act on it is refused only after the object has been found in their scope
(``has_object_permission``), so a guessed URL never reveals that an object exists.
"""
from __future__ import annotations

from django.utils.translation import gettext_lazy
from rest_framework.permissions import SAFE_METHODS, BasePermission

from .models import Role

ALL_ROLES = frozenset(Role.values)
STAFF_ROLES = ALL_ROLES - {Role.TOWNSHIP_AGENT}


def _allowed_roles(request, view):
    action = getattr(view, "action", None)
    action_roles = getattr(view, "action_roles", {}) or {}
    if action in action_roles:
        return action_roles[action]
    if request.method in SAFE_METHODS:
        return getattr(view, "read_roles", STAFF_ROLES)
    return getattr(view, "write_roles", frozenset({Role.SUPERVISOR}))


class RolePermission(BasePermission):
    message = gettext_lazy("您的角色无权执行此操作。")

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated and user.is_active):
            return False
        if user.is_superuser or user.role in _allowed_roles(request, view):
            return True
        lookup = getattr(view, "lookup_url_kwarg", None) or getattr(view, "lookup_field", None)
        is_detail = bool(lookup) and lookup in (getattr(view, "kwargs", None) or {})
        # Defer to has_object_permission: unseen → 404 from get_object, seen → 403 there.
        return is_detail and user.role in getattr(view, "read_roles", STAFF_ROLES)

    def has_object_permission(self, request, view, obj) -> bool:
        user = request.user
        return user.is_superuser or user.role in _allowed_roles(request, view)
