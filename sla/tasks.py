"""Celery tasks of the SLA engine (queue `sla`, see CELERY_TASK_ROUTES). Thin: they call one service."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(acks_late=True, ignore_result=True)
def sla_clocks_check() -> dict[str, int]:
    """Beat, every 30 s: mark due warnings and breaches once each and alert (sla.services)."""
    result = services.sla_clocks_check()
    return {"breached": result.breached, "warned": result.warned, "alerts": result.alerts}


@shared_task(acks_late=True, ignore_result=True)
def quality_snapshots_import(account_id: int | None = None) -> int:
    """Beat, daily (and on demand): import `GET /sale/quality` of one account, or fan out to all."""
    from inbox.models import ChannelAccount

    from . import quality_services

    if account_id is None:
        ids = quality_services.quality_accounts()
        for pk in ids:
            quality_snapshots_import.delay(pk)
        return len(ids)
    account = ChannelAccount.objects.filter(pk=account_id, kind=ChannelAccount.Kind.ALLEGRO).first()
    if account is None:
        return 0
    return quality_services.quality_import(account)


@shared_task(acks_late=True, ignore_result=True)
def daily_summaries_send() -> int:
    """Beat, every 5 min: each organization's daily summary once its Europe/Warsaw hour has come (once
    per day: a claimed row, unique per organization and day)."""
    from . import summary

    return summary.daily_summaries_send()
