import sys
from datetime import date
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from members.importers import identity_list_rows
from members.models import IdentitySource
from members.services import identity_list_apply
from yibao_site.actors import system_actor
from yibao_site.imports import read_table


class Command(BaseCommand):
    help = ("身份名单月度比对 / Compare a department's full monthly identity list with what is held from "
            "that source and apply new/changed/ended in one transaction (any bad row: nothing written, exit 1).")

    def add_arguments(self, parser):
        parser.add_argument("source", choices=IdentitySource.values)
        parser.add_argument("file")
        parser.add_argument("--as-of", required=True, help="the list's date, YYYY-MM-DD")
        parser.add_argument("--dry-run", action="store_true")

    def handle(self, *args, source, file, as_of, dry_run, **options):
        try:
            rows, errors = identity_list_rows(read_table(file))
            as_of_day = date.fromisoformat(as_of)
        except (ValidationError, OSError, ValueError) as exc:
            raise CommandError("; ".join(getattr(exc, "messages", [str(exc)]))) from exc
        for error in errors:
            self.stdout.write(str(error))
        if errors:
            sys.exit(1)
        report = identity_list_apply(source=source, as_of=as_of_day, rows=rows, file_name=Path(file).name,
                                     dry_run=dry_run, actor=system_actor("members.apply_identity_list"))
        for line, msgs in sorted(report.errors.items()):
            self.stdout.write(f"第 {line} 行: {'; '.join(msgs)}")
        if report.errors:
            sys.exit(1)
        verb = "比对(未写入)" if dry_run else "已应用"
        self.stdout.write(f"{verb}: 新增 {len(report.new)}, 变更 {len(report.changed)}, 终止 {len(report.ended)}, "
                          f"未变 {report.unchanged}")
