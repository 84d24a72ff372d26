"""When the monthly run happens: the supervisor's 预警运行计划 and the beat rows it drives."""
from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from yibao_site.actors import require_actor
from yibao_site.audit import audited_save
from yibao_site.models import Region, RegionLevel

from ..beat import MONTHLY_TASK, ensure_warning_schedule, monthly_crontab
from ..models import WarningSchedule
from .common import SUPERVISOR, error


@transaction.atomic
def schedule_save(*, day_of_month: int, hour: int = 2, minute: int = 0, enabled: bool = True,
                  region_codes: list[str] | None = None, actor) -> WarningSchedule:
    """Change when the monthly run happens; beat picks the change up on its next tick.

    The supervisor's edit is the one thing that moves the monthly row's time; the sweeper's
    row (and anything else about the rows) is only created when missing, never reset.
    """
    require_actor(actor, SUPERVISOR)
    schedule = WarningSchedule.objects.select_for_update().order_by("pk").first() or WarningSchedule()
    schedule.day_of_month, schedule.hour, schedule.minute, schedule.enabled = day_of_month, hour, minute, enabled
    schedule.full_clean(exclude=["periodic_task", "regions"])
    audited_save(schedule, actor=actor, reason=_("修改预警运行计划"))
    if region_codes is not None:
        regions = list(Region.objects.filter(code__in=region_codes))
        if len(regions) != len(set(region_codes)) or any(
                r.level not in (RegionLevel.CITY, RegionLevel.COUNTY) for r in regions):
            raise error("regions", _("运行区划应为已存在的市或县(区)。"))
        schedule.regions.set(regions)
    task = ensure_warning_schedule(CrontabSchedule, PeriodicTask, schedule)
    task.crontab, _created = CrontabSchedule.objects.get_or_create(**monthly_crontab(schedule))
    task.task, task.interval, task.enabled = MONTHLY_TASK, None, schedule.enabled
    task.save()
    return schedule
