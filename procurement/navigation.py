"""Procurement's section of the admin sidebar."""
from django.utils.translation import gettext_lazy as _

from yibao_site.navigation import item, section

section("procurement", _("集采结算"), order=400, items=[
    item(_("配送单"), "local_shipping", "admin:procurement_delivery_changelist", "staff"),
    item(_("支付批次"), "account_balance", "admin:procurement_paymentrun_changelist", "finance"),
    item(_("集采报表"), "bar_chart", "admin:procurement_reports", "staff"),
])
