from django.core.management.base import BaseCommand
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from procurement.schedule import ensure_payment_run_schedule


class Command(BaseCommand):
    help = "Create the daily supplier payment run in celery beat's schedule if it is missing (idempotent)."

    def handle(self, *args, **options):
        task, created = ensure_payment_run_schedule(CrontabSchedule, PeriodicTask)
        self.stdout.write(f"{'created' if created else 'exists'}: {task.name} → {task.task}")
