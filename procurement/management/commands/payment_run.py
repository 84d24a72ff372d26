from datetime import date

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from procurement.models import RunTrigger
from procurement.services import payment_run_start
from yibao_site.actors import system_actor


class Command(BaseCommand):
    help = "Run (or resume) the supplier payment run for a date; a completed date changes nothing."

    def add_arguments(self, parser):
        parser.add_argument("--as-of", dest="as_of", help="YYYY-MM-DD (default: today)")

    def handle(self, *args, as_of=None, **options):
        try:
            day = date.fromisoformat(as_of) if as_of else timezone.localdate()
        except ValueError as exc:
            raise CommandError(f"--as-of: {exc}") from exc
        try:
            run = payment_run_start(as_of=day, trigger=RunTrigger.COMMAND,
                                    actor=system_actor("procurement.payment_run_command"))
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(
            f"payment run {run.as_of}: {run.count} deliveries, {run.total_amount} yuan; "
            f"due soon {run.due_soon_count}, overdue {run.overdue_count}, held {run.held_count}"
        )
