"""Chronic diseases' section of the admin sidebar (门诊慢特病)."""
from django.utils.translation import gettext_lazy as _

from yibao_site.navigation import item, section

section("chronic", _("门诊慢特病"), order=150, items=[
    item(_("病种目录"), "medical_information", "admin:chronic_chronicdisease_changelist", "staff"),
    item(_("病种认定"), "fact_check", "admin:chronic_certification_changelist", "reviewer"),
])
