from django.db import migrations


def create_schedule(apps, schema_editor):
    from claims.schedule import ensure_ledger_check_schedule

    ensure_ledger_check_schedule(apps.get_model("django_celery_beat", "CrontabSchedule"),
                                 apps.get_model("django_celery_beat", "PeriodicTask"))


def remove_schedule(apps, schema_editor):
    from claims.schedule import LEDGER_CHECK_SCHEDULE_NAME

    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=LEDGER_CHECK_SCHEDULE_NAME).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("claims", "0003_ledger_tiers_funds_checks"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
