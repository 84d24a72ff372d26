from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AssistanceConfig(AppConfig):
    name = "assistance"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = _("医疗救助")

    def ready(self):
        from yibao_site.workflow import register_calendar

        from . import dashboard  # noqa: F401  (registers the to-do providers)
        from .selectors import working_calendar

        register_calendar(working_calendar)  # the holiday table every case deadline runs on
        from .bank_payouts.handlers import register

        register()  # what the bank's answers mean for assistance payouts
