"""The Celery application. Tasks live in each app's tasks.py (autodiscovered)."""

import os

from celery import Celery
from celery.signals import task_failure

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("replydesk")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


# --- Operations (issue #8; the logic is in config/ops.py) ----------------------------------------


@app.task(name="config.beat_heartbeat", ignore_result=True)
def beat_heartbeat() -> None:
    """Beat, every 30 s: proves that beat schedules and a worker of the default queue runs."""
    from config.ops import beat_heartbeat_write

    beat_heartbeat_write()


@task_failure.connect(weak=False)
def _count_task_failure(sender=None, **kwargs) -> None:
    from config.ops import task_failure_count

    task_failure_count(getattr(sender, "name", "unknown"))


def _log_context() -> None:
    from config.logging import celery_context_connect

    celery_context_connect()


_log_context()
