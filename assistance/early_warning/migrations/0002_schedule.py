"""Create the monthly schedule and its beat tasks (idempotent: safe to run on any database;
a beat row a supervisor has since edited is left as it is)."""
from django.db import migrations


def create_schedule(apps, schema_editor):
    from assistance.early_warning.beat import ensure_warning_schedule

    WarningSchedule = apps.get_model("early_warning", "WarningSchedule")
    schedule = WarningSchedule.objects.order_by("pk").first() or WarningSchedule.objects.create()
    ensure_warning_schedule(apps.get_model("django_celery_beat", "CrontabSchedule"),
                            apps.get_model("django_celery_beat", "PeriodicTask"), schedule)


def remove_schedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=["early_warning.monthly_run", "early_warning.sweep_deliveries"]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("early_warning", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
