from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EarlyWarningConfig(AppConfig):
    name = "assistance.early_warning"
    label = "early_warning"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = _("因病返贫致贫双预警")

    def ready(self):
        from . import dashboard  # noqa: F401  (registers the home-page items)
