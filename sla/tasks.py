"""Celery tasks of the SLA engine (queue `sla`, see CELERY_TASK_ROUTES). Thin: they call one service."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(acks_late=True, ignore_result=True)
def sla_clocks_check() -> dict[str, int]:
    """Beat, every 30 s: mark due warnings and breaches once each and alert (sla.services)."""
    result = services.sla_clocks_check()
    return {"breached": result.breached, "warned": result.warned, "alerts": result.alerts}
