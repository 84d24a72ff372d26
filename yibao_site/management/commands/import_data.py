import sys

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from yibao_site.imports import importer_for, read_table


class Command(BaseCommand):
    help = ("导入 CSV/XLSX 文件 / Import a CSV or XLSX file with the same validation as the admin. "
            "Any bad row: nothing is written, a row-numbered report is printed, exit status 1.")

    def add_arguments(self, parser):
        parser.add_argument("resource", help="regions, persons, enrollments, identities, claims, deliveries")
        parser.add_argument("file")
        parser.add_argument("--dry-run", action="store_true", help="validate only, write nothing")
        parser.add_argument("--quiet", action="store_true", help="no progress lines")
        parser.add_argument("--user", default="", help="the staff account the import is recorded for (and scoped to)")

    def handle(self, *args, resource, file, dry_run, quiet, user="", **options):
        actor = None
        if user:
            from django.contrib.auth import get_user_model

            actor = get_user_model().objects.filter(username=user, is_active=True).first()
            if actor is None:
                raise CommandError(f"账号 {user} 不存在或已停用 / no active account {user}")
        try:
            importer = importer_for(resource)(actor=actor)
            rows = read_table(file)
        except (ValidationError, OSError) as exc:
            raise CommandError("; ".join(getattr(exc, "messages", [str(exc)]))) from exc

        def progress(stage, done, total):
            if not quiet:
                label = "校验 validate" if stage == "validate" else "写入 write"
                self.stderr.write(f"{label}: {done}/{total}")

        report = importer.run(rows, dry_run=dry_run, progress=progress)
        for error in report.errors:
            self.stdout.write(str(error))
        self.stdout.write(report.summary() + f" ({report.seconds:.1f}s)")
        if not report.ok:
            sys.exit(1)
