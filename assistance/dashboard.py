"""The admin home page's to-do items of the eligibility review (待办)."""
from __future__ import annotations

from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from yibao_site import dashboard
from yibao_site.models import Role

from . import selectors


@dashboard.register
def assistance_queues(request) -> list[dashboard.Item]:
    """待我审核 / 已超期 / 退回补正 for reviewers, clerks and supervisors; 待支付 for finance."""
    user = request.user
    if not user.is_authenticated or user.role == Role.TOWNSHIP_AGENT:
        return []
    base = reverse("admin:assistance_application_changelist")
    group = _("医疗救助申请")
    items = []
    role = Role.REVIEWER if user.is_superuser else user.role
    if role == Role.REVIEWER:
        items.append(dashboard.Item(_("待我审核"), selectors.queue_to_review(user).count(), f"{base}?queue=to_review",
                                    "info", group))
    if role in (Role.REVIEWER, Role.WINDOW_CLERK, Role.SUPERVISOR):
        overdue = selectors.queue_overdue(user, timezone.localdate()).count()
        items.append(dashboard.Item(_("已超期"), overdue, f"{base}?queue=overdue", "danger" if overdue else "info",
                                    group))
        items.append(dashboard.Item(_("退回补正"), selectors.queue_returned(user).count(), f"{base}?queue=returned",
                                    "warning", group))
    if user.is_superuser or user.role == Role.FINANCE:
        items.append(dashboard.Item(_("待支付救助金"), selectors.queue_to_pay(user).count(), f"{base}?queue=to_pay",
                                    "warning", group))
    return items
