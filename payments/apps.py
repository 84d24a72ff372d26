from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PaymentsConfig(AppConfig):
    name = "payments"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = _("银行支付")

    def ready(self):
        from . import dashboard  # noqa: F401  (registers the to-do providers)
