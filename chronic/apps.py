from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ChronicConfig(AppConfig):
    name = "chronic"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = _("门诊慢特病")

    def ready(self):
        # The app registry is ready only now: these modules import models (Django's pattern).
        from yibao_site.packs import register_section

        from . import importers  # noqa: F401  (registers the import resources)
        from .services import catalogue_load_from_pack

        register_section("chronic_diseases", catalogue_load_from_pack)
