"""The admin home page's claims items: today's window settlements and the fund report."""
from __future__ import annotations

from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from yibao_site import dashboard
from yibao_site.models import Role
from yibao_site.scoping import scope_queryset

from .models import Claim, ClaimSource, LedgerCheck


@dashboard.register
def claims_items(request) -> list[dashboard.Item]:
    """手工报销 (today's count) for clerks; 基金运行报表 for finance and supervisors."""
    user = request.user
    if not user.is_authenticated or user.role == Role.TOWNSHIP_AGENT:
        return []
    group = _("结算与待遇")
    items = []
    if user.is_superuser or user.role in (Role.WINDOW_CLERK, Role.SUPERVISOR):
        today = timezone.localdate()
        count = scope_queryset(Claim.objects.filter(source=ClaimSource.MANUAL, settled_at__date=today), user).count()
        items.append(dashboard.Item(_("今日手工报销"), count, reverse("admin:claims_claim_manual"), "info", group))
    if user.is_superuser or user.role in (Role.FINANCE, Role.SUPERVISOR):
        items.append(dashboard.Item(_("基金运行报表"), None, reverse("admin:claims_fund_report"),
                                    "info", group))
    if user.is_superuser or user.role == Role.SUPERVISOR:
        latest = LedgerCheck.objects.order_by("-checked_on", "-year").first()
        if latest is not None and latest.mismatches:
            items.append(dashboard.Item(_("台账核对差异"), latest.mismatches,
                                        reverse("admin:claims_ledgercheck_changelist"), "danger", group))
    return items
