"""A partner department's determination on a warned person, closing the loop (DOMAIN.md §7)."""
from __future__ import annotations

from datetime import date

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from members.models import IdentityKind
from members.public import identity_add
from yibao_site.audit import audited_save, bulk_update_audited
from yibao_site.dates import validity_window
from yibao_site.policy import policy_snapshot

from ..models import Department, PersonWarning, WarningStatus
from .common import SUPERVISOR, error, require_partner_or, user_or_none


@transaction.atomic
def warning_determine(*, warning: PersonWarning, department: str, outcome: str, actor, identity_kind: str = "",
                      valid_from: date | None = None, valid_to: date | None = None,
                      note: str = "") -> PersonWarning:
    """Record a department's determination on a warned person and close the loop.

    ``outcome="approved"``: the person is an assistance object — the identity is created
    (source = the department) and every open warning of the person is closed as determined.
    ``outcome="rejected"``: this warning is closed as not determined, with the reason.
    """
    partner = require_partner_or(actor, SUPERVISOR)
    if partner is not None:
        department = partner.department
    if department not in Department.values:
        raise error("department", _("核定部门应为 civil_affairs 或 rural_revitalization。"))
    warning = PersonWarning.objects.select_for_update(of=("self",)).select_related("person__township").get(pk=warning.pk)
    if warning.status != WarningStatus.OPEN:
        raise error("detail", _("该预警已核定(%(status)s),不能重复登记。") % {"status": warning.get_status_display()})
    now = timezone.now()
    user = user_or_none(actor)
    fields = ["status", "determined_department", "determined_at", "determined_by", "identity", "determination_note"]
    if outcome == "rejected":
        if not (note or "").strip():
            raise error("note", _("不予认定时请填写理由。"))
        warning.status, warning.determined_department, warning.determined_at = WarningStatus.NOT_DETERMINED, department, now
        warning.determined_by, warning.determination_note = user, note.strip()[:300]
        audited_save(warning, actor=actor, reason=_("部门核定不予认定"), update_fields=fields)
        return warning
    if outcome != "approved":
        raise error("outcome", _("核定结果应为 approved 或 rejected。"))
    valid_from = valid_from or timezone.localdate()
    snap = policy_snapshot(warning.person.township, valid_from)
    category = snap.value(f"assistance.category.{identity_kind}", None) if identity_kind else None
    if identity_kind not in IdentityKind.values or category is None:
        raise error("identity_kind", _("请选择认定的救助对象身份(须为政策规定的医疗救助类别)。"))
    if valid_to is None and int(category) == 4:
        # 因病致贫重病患者: valid 12 months (parameter) from the determination (DOMAIN.md §6).
        valid_to = validity_window(valid_from, snap.integer("assistance.determination.valid_months"))[1]
    identity = identity_add(person=warning.person, kind=identity_kind, valid_from=valid_from, valid_to=valid_to,
                            source=department, actor=actor)
    others = list(PersonWarning.objects.select_for_update().filter(person_id=warning.person_id, status=WarningStatus.OPEN)
                  .order_by("pk"))
    for item in others:
        item.status, item.determined_department, item.determined_at = WarningStatus.DETERMINED, department, now
        item.determined_by, item.identity, item.determination_note = user, identity, (note or "").strip()[:300]
    bulk_update_audited(others, PersonWarning, fields, actor=actor, reason=_("部门认定为医疗救助对象"))
    warning.refresh_from_db()
    return warning
