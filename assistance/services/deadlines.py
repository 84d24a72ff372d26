"""Deadlines (限时办结): the daily overdue flagging and the working calendar it runs on."""
from __future__ import annotations

from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from yibao_site.actors import require_actor
from yibao_site.audit import audited_save, bulk_update_audited

from ..models import OPEN_STATUSES, Application, ApplicationEvent, Holiday
from .guards import SUPERVISORS, Action, _today


@transaction.atomic
def applications_flag_overdue(*, actor, on: date | None = None) -> dict:
    """Flag open cases past their deadline and unflag the rest (限时办结); idempotent for a day.
    The daily job runs it as ``system_actor("assistance.flag_overdue")``."""
    require_actor(actor, SUPERVISORS, system=True)
    on = _today(on)
    late = list(Application.objects.select_for_update().filter(
        status__in=OPEN_STATUSES, deadline__lt=on, overdue=False).order_by("pk"))
    for app in late:
        app.overdue = True
    bulk_update_audited(late, Application, ["overdue"], actor=actor, reason=_("超过办结时限"))
    ApplicationEvent.objects.bulk_create([
        ApplicationEvent(application=app, action=Action.OVERDUE, from_status=app.status, to_status=app.status,
                         reason=_("超过办结时限 %(d)s") % {"d": app.deadline.isoformat()},
                         data={"as_of": on.isoformat()}) for app in late])
    cleared = list(Application.objects.select_for_update().filter(overdue=True).exclude(
        status__in=OPEN_STATUSES, deadline__lt=on).order_by("pk"))
    for app in cleared:
        app.overdue = False
    bulk_update_audited(cleared, Application, ["overdue"], actor=actor, reason=_("不再超期"))
    return {"as_of": on.isoformat(), "flagged": len(late), "cleared": len(cleared)}


@transaction.atomic
def holiday_save(*, actor, day: date, name: str, is_workday: bool = False) -> Holiday:
    """Set one day of the working calendar (节假日或调休上班日); a supervisor's job."""
    require_actor(actor, SUPERVISORS, message=_("只有管理员可以维护节假日。"))
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": [_("请填写节假日名称。")]})
    holiday = Holiday.objects.select_for_update().filter(date=day).first() or Holiday(date=day)
    holiday.name, holiday.is_workday = name[:40], bool(is_workday)
    audited_save(holiday, actor=actor, reason=_("维护节假日"))
    return holiday
