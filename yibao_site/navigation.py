"""The admin sidebar: each role's daily work one click away (unfold navigation).

Each app declares its own section in ``<app>/navigation.py`` with :func:`section` (found by
``autodiscover_modules("navigation")``, as Django finds ``admin.py``); the kernel names no app.
Permission callbacks take the request; a link a role cannot use is not shown.
"""
from __future__ import annotations

from django.urls import reverse_lazy
from django.utils.module_loading import autodiscover_modules
from django.utils.translation import gettext_lazy as _

from .models import Role


def _role(request, *roles) -> bool:
    user = request.user
    return user.is_active and user.is_staff and (user.is_superuser or getattr(user, "role", None) in roles)


def staff(request):
    return _role(request, Role.WINDOW_CLERK, Role.REVIEWER, Role.FINANCE, Role.SUPERVISOR)


def clerk(request):
    return _role(request, Role.WINDOW_CLERK, Role.SUPERVISOR)


def reviewer(request):
    return _role(request, Role.REVIEWER, Role.WINDOW_CLERK, Role.SUPERVISOR)


def finance(request):
    return _role(request, Role.FINANCE, Role.SUPERVISOR)


def supervisor(request):
    return _role(request, Role.SUPERVISOR)


ROLE_CHECKS = ("staff", "clerk", "reviewer", "finance", "supervisor")
_SECTIONS: dict[str, tuple[int, dict]] = {}
_discovered = False


def item(title, icon: str, url_name: str | None = None, permission: str = "staff", *, path: str | None = None) -> dict:
    """One sidebar link: ``url_name`` (reversed lazily) or a literal ``path``; ``permission`` is
    one of :data:`ROLE_CHECKS`."""
    if permission not in ROLE_CHECKS:
        raise ValueError(f"unknown navigation permission {permission!r}")
    link = path if path is not None else reverse_lazy(url_name)
    return {"title": title, "icon": icon, "link": link, "permission": f"yibao_site.navigation.{permission}"}


def section(key: str, title, *, order: int, items: list[dict]) -> None:
    """Register (or replace) the sidebar section ``key``; sections show in ``order``."""
    _SECTIONS[key] = (order, {"title": title, "separator": True, "items": list(items)})


def sections() -> list[dict]:
    global _discovered
    if not _discovered:
        autodiscover_modules("navigation")
        _discovered = True
    return [s for _order, s in sorted(_SECTIONS.values(), key=lambda pair: pair[0])]


def navigation(request):
    return sections()


# The kernel's own section: policy, regions, staff, audit.
section("system", _("系统"), order=900, items=[
    item(_("政策参数"), "tune", "admin:yibao_site_policyparameter_changelist", "staff"),
    item(_("行政区划"), "map", "admin:yibao_site_region_changelist", "staff"),
    item(_("工作人员"), "manage_accounts", "admin:yibao_site_user_changelist", "supervisor"),
    item(_("审计日志"), "history", path="/admin/audit/", permission="supervisor"),
])
