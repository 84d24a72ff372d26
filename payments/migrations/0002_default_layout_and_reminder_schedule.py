from django.db import migrations

DEFAULT_COLUMNS = [
    {"header": "指令编号", "field": "number"},
    {"header": "收款账号", "field": "account_number"},
    {"header": "收款户名", "field": "account_name"},
    {"header": "开户银行", "field": "bank_name"},
    {"header": "金额", "field": "amount"},
    {"header": "用途", "field": "purpose"},
    {"header": "附言", "field": "memo"},
]


def forwards(apps, schema_editor):
    from payments.schedule import ensure_reminder_schedule

    Layout = apps.get_model("payments", "BankFileLayout")
    if not Layout.objects.filter(code="standard-csv").exists():
        Layout.objects.create(code="standard-csv", name="通用代发格式(CSV)", file_format="csv", encoding="utf-8-sig",
                              columns=DEFAULT_COLUMNS, is_default=not Layout.objects.filter(is_default=True).exists())
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
