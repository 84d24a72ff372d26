from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from yibao_site.models import Role
from yibao_site.services import staff_save


class Command(BaseCommand):
    help = "创建或更新工作人员账号 / Create or update a staff account with one role."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument("--township", help="township code (required for township_agent)")
        parser.add_argument("--region", help="county or city code to confine other roles to")
        parser.add_argument("--password")
        parser.add_argument("--superuser", action="store_true")

    def handle(self, *args, username, role, township, region, password, superuser, **options):
        try:
            user = staff_save(username=username, role=role, township_code=township, region_code=region,
                              password=password)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        if superuser and not user.is_superuser:
            user.is_superuser = True
            user.save(update_fields=["is_superuser"])
        self.stdout.write(f"{user.username}: {user.get_role_display()} ({user.region or '全辖区'})")
