"""Members' section of the admin sidebar."""
from django.utils.translation import gettext_lazy as _

from yibao_site.navigation import item, section

section("members", _("参保"), order=100, items=[
    item(_("参保人员"), "person", "admin:members_person_changelist", "staff"),
    item(_("年度参保"), "badge", "admin:members_enrollment_changelist", "staff"),
    item(_("困难身份"), "diversity_3", "admin:members_identity_changelist", "staff"),
    item(_("资助参保批次"), "volunteer_activism", "admin:members_subsidybatch_changelist", "staff"),
    item(_("个人账户"), "account_balance_wallet", "admin:members_personalaccount_changelist", "staff"),
])
