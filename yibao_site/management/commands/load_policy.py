from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from yibao_site.models import Region
from yibao_site.packs import available_packs, pack_load


class Command(BaseCommand):
    help = "载入政策包到区划 / Load a shipped policy pack onto a region (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("pack", help=f"one of: {', '.join(available_packs())}")
        parser.add_argument("--region", required=True, help="region code, e.g. 420300")
        parser.add_argument("--overwrite", action="store_true",
                            help="replace values a supervisor changed since the last load")

    def handle(self, *args, pack, region, overwrite, **options):
        target = Region.objects.filter(code=region).first()
        if target is None:
            raise CommandError(f"区划 {region} 不存在 / region {region} does not exist")
        try:
            report = pack_load(name=pack, region=target, overwrite=overwrite)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(
            f"{pack} → {target.code}: created {report.created}, changed {report.changed}, "
            f"unchanged {report.unchanged}, kept (edited by a supervisor) {report.kept}"
        )
