"""一次性告知: returning a case for supplement with the complete list, and resubmission."""
from __future__ import annotations

from datetime import date

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from yibao_site.actors import require_actor
from yibao_site.audit import audited_save
from yibao_site.workflow import clean_missing

from .. import selectors
from ..models import OPEN_STATUSES, Application, MaterialType, SupplementNotice
from .guards import (
    RETURNERS, Action, S, _lock, _move, _not_own, _require_file, _see, _snapshot, _status, _today, can_return,
)


def _clean_missing(missing) -> list[dict]:
    return clean_missing(missing, types=MaterialType.values, other=MaterialType.OTHER)


@transaction.atomic
def application_return(*, actor, application: Application, missing, reason: str = "") -> SupplementNotice:
    """Return the case for supplement with the complete list of missing materials (一次性告知);
    return the printable notice."""
    require_actor(actor, RETURNERS, message=_("您无权退回该申请。"))
    app = _lock(application)
    _see(actor, app.township)
    _not_own(actor, app, _("退回"))
    _status(app, OPEN_STATUSES, _("退回补正"))
    if not can_return(actor, app):
        raise PermissionDenied(_("您无权退回该申请。"))
    items = _clean_missing(missing)
    number = f"YCXGZ-{app.pk:06d}-{app.notices.count() + 1:02d}"
    notice = SupplementNotice(application=app, number=number, missing=items, reason=(reason or "").strip(),
                              issued_by=actor)
    audited_save(notice, actor=actor, reason=_("一次性告知"))
    app.overdue = False
    _move(app, to=S.RETURNED, action=Action.RETURN, actor=actor, reason=notice.reason, fields=["overdue"],
          data={"notice": notice.number, "missing": items})
    return notice


@transaction.atomic
def application_resubmit(*, actor, application: Application, note: str = "", on: date | None = None) -> Application:
    """Resubmit after supplement: every listed material must have been uploaded since the notice."""
    on = _today(on)
    app = _lock(application)
    _require_file(actor, app.township)
    _status(app, (S.RETURNED,), _("重新提交"))
    notice = app.notices.select_for_update().filter(resolved_at__isnull=True).order_by("-issued_at", "-id").first()
    if notice is not None:
        fresh = set(app.materials.filter(uploaded_at__gte=notice.issued_at).values_list("material_type", flat=True))
        lacking = [item for item in notice.missing_items() if item["type"] not in fresh]
        if lacking:
            raise ValidationError({"materials": [
                _("告知书 %(no)s 所列材料尚未补齐:%(list)s。") % {
                    "no": notice.number, "list": "、".join(i["label"] for i in lacking)}]})
        notice.resolved_at = timezone.now()
        audited_save(notice, actor=actor, reason=_("补正完毕"), update_fields=["resolved_at"])
    snap = _snapshot(app.person, on)
    app.deadline = selectors.deadline_from(on, snap.integer("assistance.case.deadline_working_days"))
    app.overdue = False
    return _move(app, to=S.RESUBMITTED, action=Action.RESUBMIT, actor=actor, reason=(note or "").strip(),
                 fields=["deadline", "overdue"],
                 data={"notice": notice.number if notice else "", "deadline": app.deadline.isoformat()})
