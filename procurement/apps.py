from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ProcurementConfig(AppConfig):
    name = "procurement"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = _("集采与直接结算")

    def ready(self):
        from . import dashboard  # noqa: F401  (registers the to-do providers)
        from .payments_handlers import register

        register()  # what the bank's answers mean for supplier payments
