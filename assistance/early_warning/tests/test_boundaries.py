"""The early warning's boundaries: every write guards its caller (fail-closed; the job and the
pushes as the system actor), the services never import the tasks, and the beat rows a
supervisor edited are never overridden."""
from __future__ import annotations

import importlib
import os
import subprocess
import sys
from datetime import date

import pytest
from django.apps import apps as registry
from django.core.exceptions import PermissionDenied
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from assistance.early_warning import services
from assistance.early_warning.models import DeliveryStatus, PersonWarning, WarningRun, WarningSchedule
from yibao_site.actors import system_actor

from .helpers import SYSTEM, identity, ledger, person, supervisor

MARCH = date(2024, 3, 1)


@pytest.fixture
def march(shiyan):
    p = person(shiyan, name="甲")
    identity(p, "monitored")
    ledger(p, 2024, m01="8500.00")  # above the return line 8 000.00
    run, _ = services.warning_run(region=shiyan.city, month=MARCH, actor=SYSTEM)
    return run


def test_nobody_and_the_wrong_people_are_refused_before_anything_is_written(shiyan, staff, march):
    delivery = march.deliveries.get(department="civil_affairs")
    warning = PersonWarning.objects.get(run=march)
    calls = {
        "run": lambda a: services.warning_run(region=shiyan.city, month=date(2024, 4, 1), actor=a,
                                              today=date(2024, 6, 1)),
        "endpoint": lambda a: services.endpoint_save(region=shiyan.city, department="civil_affairs",
                                                     url="https://mz.example.gov.cn/hook", secret="s" * 20, actor=a),
        "account": lambda a: services.partner_account_save(username="mz", department="civil_affairs", actor=a),
        "schedule": lambda a: services.schedule_save(day_of_month=9, actor=a),
        "send": lambda a: services.delivery_send(delivery_id=delivery.pk, actor=a),
        "redeliver": lambda a: services.delivery_redeliver(delivery=delivery, actor=a),
        "download": lambda a: services.delivery_mark_downloaded(delivery=delivery, actor=a),
        "acknowledge": lambda a: services.delivery_acknowledge(delivery=delivery, actor=a),
        "determine": lambda a: services.warning_determine(warning=warning, department="civil_affairs",
                                                          outcome="rejected", note="x", actor=a),
    }
    for name, call in calls.items():
        with pytest.raises(PermissionDenied):
            call(None)
    # A job may run and push, never configure or speak for a department.
    for name in ("endpoint", "account", "schedule", "redeliver", "download", "acknowledge", "determine"):
        with pytest.raises(PermissionDenied):
            calls[name](SYSTEM)
    # A reviewer reads (and may download), but never runs, redelivers or determines.
    for name in ("run", "redeliver", "acknowledge", "determine", "endpoint"):
        with pytest.raises(PermissionDenied):
            calls[name](staff["reviewer"])
    assert WarningRun.objects.count() == 1
    delivery.refresh_from_db()
    warning.refresh_from_db()
    assert (delivery.status, delivery.acknowledged_at, warning.status) == (DeliveryStatus.AWAITING_DOWNLOAD, None,
                                                                         "open")


def test_a_partner_downloads_only_its_own_departments_list(shiyan, march):
    account = services.partner_account_save(username="xczx", department="rural_revitalization",
                                            actor=supervisor())
    other = march.deliveries.get(department="civil_affairs")
    with pytest.raises(PermissionDenied):
        services.delivery_mark_downloaded(delivery=other, actor=account.user)
    mine = march.deliveries.get(department="rural_revitalization")
    assert services.delivery_mark_downloaded(delivery=mine, actor=account.user).status == DeliveryStatus.DOWNLOADED


def test_the_run_of_a_job_names_no_user_and_its_history_names_the_job(march):
    assert march.created_by is None
    record = PersonWarning.history.get()
    assert (record.history_type, record.history_user, record.history_change_reason) == ("+", None, "生成预警名单")
    assert record.out_of_pocket == PersonWarning.objects.get().out_of_pocket


def test_the_services_never_import_the_tasks():
    """The push is queued by task name through the Celery app: importing the services (and
    running Django's setup) loads no ``tasks`` module — the old services ↔ tasks cycle is gone."""
    code = ("import django, sys; django.setup(); import assistance.early_warning.services; "
            "print('assistance.early_warning.tasks' in sys.modules)")
    # pytest-django has put the settings module into the environment the child inherits.
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ))
    assert (out.returncode, out.stdout.strip()) == (0, "False"), out.stderr


def test_the_migration_never_overrides_a_time_a_supervisor_edited(shiyan, staff):
    """The data migration (run again, e.g. on a restored database) and a later schedule save
    leave what a supervisor changed: the monthly time in the 预警运行计划, the sweeper's
    cadence in beat's own admin."""
    migration = importlib.import_module("assistance.early_warning.migrations.0002_schedule")
    migration.create_schedule(registry, None)
    services.schedule_save(day_of_month=12, hour=4, minute=15, actor=staff["supervisor"])
    sweep = PeriodicTask.objects.get(name="early_warning.sweep_deliveries")
    sweep.crontab, _ = CrontabSchedule.objects.get_or_create(minute="*/5", hour="*", day_of_week="*",
                                                             day_of_month="*", month_of_year="*",
                                                             timezone="Asia/Shanghai")
    sweep.interval = None
    sweep.save()
    monthly = PeriodicTask.objects.get(name="early_warning.monthly_run")
    monthly.crontab, _ = CrontabSchedule.objects.get_or_create(minute="45", hour="5", day_of_week="*",
                                                               day_of_month="13", month_of_year="*",
                                                               timezone="Asia/Shanghai")
    monthly.save()  # edited in beat's admin, after the 预警运行计划
    migration.create_schedule(registry, None)
    monthly = PeriodicTask.objects.get(name="early_warning.monthly_run")
    assert (monthly.crontab.day_of_month, monthly.crontab.hour, monthly.crontab.minute) == ("13", "5", "45")
    assert PeriodicTask.objects.get(name="early_warning.sweep_deliveries").crontab.minute == "*/5"
    assert WarningSchedule.objects.get().periodic_task_id == monthly.pk
    # The supervisor's next edit of the 预警运行计划 moves the monthly run, and only it.
    services.schedule_save(day_of_month=20, hour=1, minute=0, actor=staff["supervisor"])
    monthly = PeriodicTask.objects.get(name="early_warning.monthly_run")
    assert (monthly.crontab.day_of_month, monthly.crontab.hour) == ("20", "1")
    assert PeriodicTask.objects.get(name="early_warning.sweep_deliveries").crontab.minute == "*/5"
    assert PeriodicTask.objects.filter(name__startswith="early_warning.").count() == 2


def test_a_job_actor_is_not_the_early_warning_job_for_configuration(shiyan):
    with pytest.raises(PermissionDenied):
        services.endpoint_save(region=shiyan.city, department="civil_affairs", url="https://x.example/hook",
                               secret="s" * 20, actor=system_actor("members.something"))
