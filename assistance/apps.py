from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AssistanceConfig(AppConfig):
    name = "assistance"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = _("医疗救助")

    def ready(self):
        from . import dashboard  # noqa: F401  (registers the to-do providers)
