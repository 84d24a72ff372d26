"""Home-page items (待办) of the double early warning, for staff who may see it."""
from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext as _

from yibao_site.dashboard import Item, register
from yibao_site.models import Role

from .models import DeliveryStatus, WarningStatus
from .selectors import unacknowledged_deliveries, warnings_for


@register
def warning_items(request) -> list[Item]:
    user = request.user
    if not getattr(user, "is_authenticated", False) or not user.is_staff or user.role == Role.TOWNSHIP_AGENT:
        return []
    group = str(_("双预警"))
    pending = unacknowledged_deliveries(user)
    failed = pending.filter(status=DeliveryStatus.FAILED).count()
    items = [
        Item(title=_("待核定的预警人员"), count=warnings_for(user).filter(status=WarningStatus.OPEN).count(),
             url=reverse("admin:early_warning_personwarning_changelist") + "?status__exact=open", group=group),
        Item(title=_("部门未签收的预警推送"), count=pending.count(),
             url=reverse("admin:early_warning_dashboard"), level="warning" if pending.exists() else "info",
             group=group),
    ]
    if failed:
        items.append(Item(title=_("推送失败待重新推送"), count=failed, level="danger", group=group,
                          url=reverse("admin:early_warning_warningdelivery_changelist") + "?status__exact=failed"))
    return items
