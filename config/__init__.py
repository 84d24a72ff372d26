"""The composition root (settings, URLs, Celery, navigation, demo): it may import every app,
and no app imports it."""
from .celery import app as celery_app

__all__ = ["celery_app"]
