from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class YibaoSiteConfig(AppConfig):
    name = "yibao_site"
    label = "yibao_site"
    verbose_name = _("基础:区划、人员账号与政策参数")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import lookups

        lookups.register()
        from django.db import models
        from rest_framework import serializers

        from .api_base import StrictDecimalField

        # One money rule for every serializer: a model's DecimalField takes a decimal string
        # only (a JSON number is refused) and an amount in yuan is bounded (api_base).
        serializers.ModelSerializer.serializer_field_mapping[models.DecimalField] = StrictDecimalField
