import sys
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from yibao_site.imports import check_upload_size, importer_for


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
        def progress(stage, done, total):
            if not quiet:
                label = "校验 validate" if stage == "validate" else "写入 write"
                self.stderr.write(f"{label}: {done}/{total}")

        try:
            importer = importer_for(resource)(actor=actor)
            check_upload_size(Path(file).stat().st_size)
            # One door with the background jobs: a plain CSV may be taken by PostgreSQL itself.
            report = importer.run_file(Path(file).read_bytes(), file, dry_run=dry_run, progress=progress)
        except (ValidationError, OSError) as exc:
            raise CommandError("; ".join(getattr(exc, "messages", [str(exc)]))) from exc
        for error in report.errors:
            self.stdout.write(str(error))
        self.stdout.write(report.summary() + f" ({report.seconds:.1f}s)")
        if not report.ok:
            sys.exit(1)
