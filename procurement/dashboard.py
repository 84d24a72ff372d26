"""The admin home page's procurement items for finance (and supervisors, who follow
escalations): deliveries due soon, overdue (escalated), held for reconciliation, runs to review."""
from __future__ import annotations

from django.db.models import Count, Q
from django.urls import reverse
from django.utils.translation import gettext as _

from yibao_site import dashboard
from yibao_site.models import Role
from yibao_site.scoping import scope_queryset

from . import selectors
from .models import Delivery, DeliveryAlert, DeliveryStatus


@dashboard.register
def procurement_items(request) -> list[dashboard.Item]:
    user = request.user
    if not user.is_authenticated or not (user.is_superuser or user.role in (Role.FINANCE, Role.SUPERVISOR)):
        return []
    group = _("集采与直接结算")
    unpaid = scope_queryset(Delivery.objects.filter(status__in=selectors.UNPAID), user)
    counts = unpaid.aggregate(
        due_soon=Count("id", filter=Q(alert=DeliveryAlert.DUE_SOON)),
        overdue=Count("id", filter=Q(alert=DeliveryAlert.OVERDUE)),
        held=Count("id", filter=Q(status=DeliveryStatus.HELD)),
    )
    deliveries = reverse("admin:procurement_delivery_changelist")
    items = [
        dashboard.Item(_("临期待付配送"), counts["due_soon"], f"{deliveries}?alert__exact=due_soon",
                       "warning" if counts["due_soon"] else "info", group),
        dashboard.Item(_("逾期未付配送(已升级)"), counts["overdue"], f"{deliveries}?alert__exact=overdue",
                       "danger" if counts["overdue"] else "info", group),
        dashboard.Item(_("对账不符挂起"), counts["held"], f"{deliveries}?status__exact=held",
                       "warning" if counts["held"] else "info", group),
    ]
    if user.is_superuser or user.role == Role.FINANCE:
        to_review = selectors.runs_to_review().count()
        items.append(dashboard.Item(_("待复核支付批次"), to_review,
                                    reverse("admin:procurement_paymentrun_changelist") + "?to_review=1",
                                    "warning" if to_review else "info", group))
    items.append(dashboard.Item(_("直接结算统计报表"), None, reverse("admin:procurement_reports"), "info", group))
    return items
