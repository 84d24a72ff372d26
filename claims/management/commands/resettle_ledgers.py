"""Re-settle every person-year of a region and year from scratch (重新结算), e.g. after a policy
correction: a dry run by default (prints what it would adjust), ``--confirm`` writes.

    python manage.py resettle_ledgers --region 420300 --year 2024            # preview
    python manage.py resettle_ledgers --region 420300 --year 2024 --confirm  # write adjustments

Set-based: person-years are taken in chunks (``--chunk``), each chunk one transaction with a
few queries for its claims, entries and facts.
"""
from __future__ import annotations

from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError

from claims.models import PersonYearLedger
from claims.services import person_years_resettle
from yibao_site.actors import system_actor
from yibao_site.models import Region


class Command(BaseCommand):
    help = "重新结算某区划某年度的个人年度台账(默认只预览,--confirm 写入调整分录)"

    def add_arguments(self, parser):
        parser.add_argument("--region", required=True, help="区划代码(该区划及以下)")
        parser.add_argument("--year", type=int, required=True)
        parser.add_argument("--confirm", action="store_true", help="写入补付/追回分录(默认只预览)")
        parser.add_argument("--reason", default="", help="重新结算原因(写入每条分录)")
        parser.add_argument("--chunk", type=int, default=2000)

    def handle(self, *args, region, year, confirm, reason, chunk, **options):
        found = Region.objects.filter(code=region).first()
        if found is None:
            raise CommandError(f"区划 {region} 不存在")
        ids = list(PersonYearLedger.objects.filter(year=year, person__township__path__startswith=found.path)
                   .order_by("person_id").values_list("person_id", flat=True))
        why = f"政策更正后重新结算{year}年度台账" + (f"({reason})" if reason else "")
        totals = {"basic": Decimal("0.00"), "critical": Decimal("0.00"), "assistance": Decimal("0.00"),
                  "second_round": Decimal("0.00")}
        adjusted, entries = set(), 0
        actor = system_actor("claims.resettle_ledgers")
        for start in range(0, len(ids), chunk):
            keys = {(pid, year) for pid in ids[start:start + chunk]}
            result = person_years_resettle(keys=keys, actor=actor, reason=why, confirm=confirm)
            entries += len(result.entries)
            adjusted |= {e.person_id for e in result.entries}
            for tier, amount in result.total.items():
                totals[tier] += amount
            self.stdout.write(f"{min(start + chunk, len(ids))}/{len(ids)} 人年", ending="\r")
        mode = "已写入" if confirm else "预览(未写入,加 --confirm 写入)"
        self.stdout.write("")
        self.stdout.write(f"{mode}:{len(ids)} 个人年,{len(adjusted)} 人需调整,{entries} 条分录;"
                          + ",".join(f"{k} {v}" for k, v in totals.items()))
