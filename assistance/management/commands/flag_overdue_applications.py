"""Flag overdue assistance applications: ``manage.py flag_overdue_applications [--as-of YYYY-MM-DD]``."""
from datetime import date

from django.core.management.base import BaseCommand, CommandError

from assistance.services import applications_flag_overdue
from assistance.tasks import OVERDUE_ACTOR


class Command(BaseCommand):
    help = "标记超过办结时限的救助申请(限时办结);同一天重复运行不改变任何数据。"

    def add_arguments(self, parser):
        parser.add_argument("--as-of", dest="as_of", help="业务日期 YYYY-MM-DD(默认今天)")

    def handle(self, *args, as_of=None, **options):
        try:
            on = date.fromisoformat(as_of) if as_of else None
        except ValueError:
            raise CommandError("--as-of 应为 YYYY-MM-DD") from None
        report = applications_flag_overdue(actor=OVERDUE_ACTOR, on=on)
        self.stdout.write(f"{report['as_of']}: 新标记超期 {report['flagged']} 件,解除 {report['cleared']} 件")
