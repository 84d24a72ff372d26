"""The beat rows of procurement's payment run and payments' reminder come from the kernel's
``ensure_periodic_task``: created once, never duplicated, never put back over a time a
supervisor has since edited in the admin."""
from django.core.management import call_command
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from payments.schedule import REMINDER_SCHEDULE_NAME, ensure_reminder_schedule
from procurement.schedule import PAYMENT_RUN_SCHEDULE_NAME, PAYMENT_RUN_TASK


def _edit(name: str, hour: str) -> None:
    task = PeriodicTask.objects.get(name=name)
    task.crontab, _ = CrontabSchedule.objects.get_or_create(minute="30", hour=hour, day_of_week="*", day_of_month="*",
                                                            month_of_year="*", timezone="Asia/Shanghai")
    task.save()


def test_setup_neither_duplicates_the_run_nor_overrides_an_edited_time(db):
    _edit(PAYMENT_RUN_SCHEDULE_NAME, "3")  # a supervisor moved the 02:00 run to 03:30
    call_command("setup_procurement_schedule")
    call_command("setup_procurement_schedule")
    [task] = PeriodicTask.objects.filter(task=PAYMENT_RUN_TASK)
    assert (task.crontab.hour, task.crontab.minute) == ("3", "30")


def test_the_reminder_schedule_keeps_an_edited_time_too(db):
    _edit(REMINDER_SCHEDULE_NAME, "10")  # 09:00 moved to 10:30
    task, created = ensure_reminder_schedule(CrontabSchedule, PeriodicTask)
    assert not created and (task.crontab.hour, task.crontab.minute) == ("10", "30")
    assert PeriodicTask.objects.filter(name=REMINDER_SCHEDULE_NAME).count() == 1
