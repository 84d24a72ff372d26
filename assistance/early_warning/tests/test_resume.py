"""A scheduled month whose run a dead worker never made is made by the next watchdog tick."""
from datetime import datetime
from zoneinfo import ZoneInfo

from assistance.early_warning import services
from assistance.early_warning.models import WarningRun, WarningSchedule

from .helpers import SYSTEM

BEIJING = ZoneInfo("Asia/Shanghai")


def _schedule(**kw):
    schedule = WarningSchedule.objects.order_by("pk").first() or WarningSchedule.objects.create()
    for k, v in {"day_of_month": 5, "hour": 2, "minute": 0, "enabled": True, **kw}.items():
        setattr(schedule, k, v)
    schedule.save()
    return schedule


def test_before_the_scheduled_moment_nothing_runs(shiyan):
    _schedule()
    assert services.warning_runs_resume_missed(actor=SYSTEM, now=datetime(2024, 4, 5, 1, 59, tzinfo=BEIJING)) == []
    assert not WarningRun.objects.exists()


def test_after_the_scheduled_moment_a_missing_run_is_made_once(shiyan):
    schedule = _schedule()
    schedule.regions.set([shiyan.city])
    [result] = services.warning_runs_resume_missed(actor=SYSTEM, now=datetime(2024, 4, 5, 2, 10, tzinfo=BEIJING))
    assert result.created and result.region == shiyan.city.code and result.month == "2024-03"
    run = WarningRun.objects.get()
    assert run.trigger == "schedule" and f"{run.month:%Y-%m}" == "2024-03"
    # The next tick finds the month made: nothing to do, nothing changes.
    assert services.warning_runs_resume_missed(actor=SYSTEM, now=datetime(2024, 4, 5, 2, 20, tzinfo=BEIJING)) == []
    assert WarningRun.objects.count() == 1


def test_a_disabled_schedule_is_left_alone(shiyan):
    _schedule(enabled=False)
    assert services.warning_runs_resume_missed(actor=SYSTEM, now=datetime(2024, 4, 20, tzinfo=BEIJING)) == []
