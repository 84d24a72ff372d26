from django.apps import AppConfig


class ConfigConfig(AppConfig):
    """The composition root: settings, URLs, Celery, navigation order and demo orchestration.

    It may import every app; no app imports it."""

    name = "config"
    verbose_name = "配置"
