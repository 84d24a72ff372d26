"""Beat schedules created idempotently (django-celery-beat) by the apps' data migrations."""
from __future__ import annotations


def ensure_periodic_task(crontab_model, task_model, *, name: str, task: str, crontab: dict,
                         description: str) -> tuple[object, bool]:
    """Create the PeriodicTask ``name`` if it is missing.

    Never duplicates it and never overrides a time a supervisor has since changed in the
    admin. The models come from the migration's app registry (``apps.get_model``).
    """
    schedule, _ = crontab_model.objects.get_or_create(**crontab)
    return task_model.objects.get_or_create(
        name=name,
        defaults={"task": task, "crontab": schedule, "enabled": True, "description": description},
    )
