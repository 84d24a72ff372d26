from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from members.services import account_credit_month
from yibao_site.actors import system_actor


class Command(BaseCommand):
    help = "个人账户按月划入 / Credit employees' personal accounts for a month (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--month", help="YYYY-MM (default: this month)")

    def handle(self, *args, month=None, **options):
        try:
            day = date.fromisoformat(f"{month}-01") if month else timezone.localdate().replace(day=1)
        except ValueError as exc:
            raise CommandError("--month 应为 YYYY-MM") from exc
        report = account_credit_month(month=day, actor=system_actor("members.credit_personal_accounts"))
        self.stdout.write(f"{day:%Y-%m}: 划入 {report.credited} 户, 金额 {report.amount}, 已划入跳过 {report.already}, "
                          f"新开户 {report.accounts_opened}")
