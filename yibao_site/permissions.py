"""Role checks for the API (API.md "Roles").

A view declares who may read and who may write; an action (``approve``, ``reverse``…) may
name its own roles.  Township scope is applied separately to querysets (scoping.py), so an
object outside the caller's township is a 404 and an object in scope that the role may not
act on is a 403.
"""
from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS, BasePermission

from .models import Role

ALL_ROLES = frozenset(Role.values)
STAFF_ROLES = ALL_ROLES - {Role.TOWNSHIP_AGENT}


class RolePermission(BasePermission):
    message = "您的角色无权执行此操作。"

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated and user.is_active):
            return False
        if user.is_superuser:
            return True
        action = getattr(view, "action", None)
        action_roles = getattr(view, "action_roles", {}) or {}
        if action in action_roles:
            allowed = action_roles[action]
        elif request.method in SAFE_METHODS:
            allowed = getattr(view, "read_roles", STAFF_ROLES)
        else:
            allowed = getattr(view, "write_roles", frozenset({Role.SUPERVISOR}))
        return user.role in allowed
