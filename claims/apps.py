from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ClaimsConfig(AppConfig):
    name = "claims"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = _("结算与待遇")

    def ready(self):
        from . import dashboard  # noqa: F401  (registers the home-page items)
