from django.db import migrations


def forwards(apps, schema_editor):
    from payments.rules import STANDARD_LAYOUT
    from payments.schedule import ensure_reminder_schedule

    Layout = apps.get_model("payments", "BankFileLayout")
    if not Layout.objects.filter(code=STANDARD_LAYOUT["code"]).exists():
        Layout.objects.create(**STANDARD_LAYOUT, is_default=not Layout.objects.filter(is_default=True).exists())
    ensure_reminder_schedule(apps.get_model("django_celery_beat", "CrontabSchedule"),
                             apps.get_model("django_celery_beat", "PeriodicTask"))


def backwards(apps, schema_editor):
    from payments.schedule import REMINDER_SCHEDULE_NAME

    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=REMINDER_SCHEDULE_NAME).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("payments", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
