"""Assistance's section of the admin sidebar (the early warning's board included)."""
from django.utils.translation import gettext_lazy as _

from yibao_site.navigation import item, section

section("assistance", _("医疗救助"), order=300, items=[
    item(_("救助申请"), "assignment", "admin:assistance_application_changelist", "reviewer"),
    item(_("救助对象"), "groups", "admin:assistance_assistanceobject_changelist", "staff"),
    item(_("救助金支付"), "payments", "admin:assistance_payout_changelist", "finance"),
    item(_("双预警看板"), "warning", "admin:early_warning_dashboard", "staff"),
])
