"""Claims' section of the admin sidebar."""
from django.utils.translation import gettext_lazy as _

from yibao_site.navigation import item, section

section("claims", _("结算"), order=200, items=[
    item(_("结算单"), "receipt_long", "admin:claims_claim_changelist", "staff"),
    item(_("手工报销"), "edit_note", "admin:claims_claim_manual", "clerk"),
    item(_("基金运行"), "monitoring", "admin:claims_fund_report", "finance"),
    item(_("公布报表"), "summarize", "admin:claims_published_reports", "staff"),
])
