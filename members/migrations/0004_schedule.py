"""Beat rows of the members jobs (idempotent): personal-account credits on the 1st of every
month at 01:30; critical-illness caps refreshed on the 2nd of every month at 02:30 (the
previous year's zero-claim status settles in January, late claims and reversals after)."""
from django.conf import settings
from django.db import migrations

from yibao_site.schedule import ensure_periodic_task

JOBS = [
    ("members.account_credit_month", "members.account_credit_month", {"minute": "30", "hour": "1", "day_of_month": "1"},
     "个人账户按月划入(当月)"),
    ("members.enrollment_caps_refresh", "members.enrollment_caps_refresh",
     {"minute": "30", "hour": "2", "day_of_month": "2"}, "重算当年居民大病保险封顶线(零报销激励)"),
]


def create(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, task, cron, description in JOBS:
        # Created once; a time a supervisor has since changed in the admin is kept.
        ensure_periodic_task(CrontabSchedule, PeriodicTask, name=name, task=task, description=description,
                             crontab={"month_of_year": "*", "day_of_week": "*", "timezone": settings.TIME_ZONE, **cron})


def remove(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name__in=[j[0] for j in JOBS]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0003_subsidybatch_subsidyline_enrollment_break_years_and_more"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create, remove)]
