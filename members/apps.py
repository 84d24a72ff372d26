from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MembersConfig(AppConfig):
    name = "members"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = _("参保登记与缴费")

    def ready(self):
        from . import dashboard  # noqa: F401 - registers the home-page provider
