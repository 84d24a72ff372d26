"""``manage.py run_warning --region CODE --month YYYY-MM``: the double early warning on demand."""
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from yibao_site.models import Region

from ...rules import parse_month
from ...services import SYSTEM, warning_run


class Command(BaseCommand):
    help = "生成指定区划、指定月份的因病返贫/因病致贫双预警名单并推送(重复运行不作任何修改)。"

    def add_arguments(self, parser):
        parser.add_argument("--region", required=True, help="市或县(区)区划代码")
        parser.add_argument("--month", required=True, help="月份 YYYY-MM")

    def handle(self, *args, region, month, **options):
        try:
            first_day = parse_month(month)
        except ValueError:
            raise CommandError(f"月份格式应为 YYYY-MM:{month}")
        try:
            run, created = warning_run(region=Region.objects.filter(code=region).first(), month=first_day,
                                       actor=SYSTEM, trigger="command")
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages))
        state = "生成" if created else "已存在,未作修改"
        self.stdout.write(
            f"预警批次 {run.pk} {run.region.code} {run.month:%Y-%m} {state}:共 {run.count} 人"
            f"(返贫预警 {run.return_count},致贫预警 {run.into_count},本月新增 {run.new_count})"
        )
        for delivery in run.deliveries.order_by("department"):
            self.stdout.write(f"  {delivery.get_department_display()}:{delivery.get_channel_display()} "
                              f"{delivery.get_status_display()} 幂等键 {delivery.key}")
