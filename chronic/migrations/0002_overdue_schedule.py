from django.db import migrations


def create_schedule(apps, schema_editor):
    from chronic.schedule import ensure_overdue_schedule

    ensure_overdue_schedule(apps.get_model("django_celery_beat", "CrontabSchedule"),
                            apps.get_model("django_celery_beat", "PeriodicTask"))


def remove_schedule(apps, schema_editor):
    from chronic.schedule import OVERDUE_SCHEDULE_NAME

    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=OVERDUE_SCHEDULE_NAME).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("chronic", "0001_chronic_catalogue_and_certification"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
