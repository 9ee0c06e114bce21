"""Celery interfaces of integrations/: thin, ids only; the work is in services.py."""

from __future__ import annotations

from celery import current_app, shared_task

from . import services


@shared_task(acks_late=True)
def channel_account_sync(account_id: int) -> int:
    run = services.channel_account_sync(account_id)
    return run.new_messages if run else 0


@shared_task
def channel_accounts_poll() -> int:
    ids = services.channel_accounts_due_for_sync()
    for account_id in ids:
        channel_account_sync.delay(account_id)
    return len(ids)


@shared_task(acks_late=True)
def outbound_message_deliver(message_id: int) -> str:
    return services.outbound_message_deliver(message_id)


@shared_task
def outbound_messages_retry() -> int:
    ids = services.outbound_messages_sweep()
    for message_id in ids:
        outbound_message_deliver.delay(message_id)
    return len(ids)


@shared_task(acks_late=True)
def allegro_connect_poll(account_id: int) -> str:
    """Poll the device-flow token endpoint until approved.

    Countdowns stay at seconds (far below the broker's visibility timeout)."""
    from .allegro.connect import allegro_connect_poll as poll

    state, wait = poll(account_id)
    if state == "pending":
        allegro_connect_poll.apply_async(args=[account_id], countdown=wait)
    elif state == "connected":
        channel_account_sync.delay(account_id)
        # The official quality figures at once, not only at the next hourly import (sla/tasks.py).
        current_app.send_task("sla.tasks.quality_snapshots_import", args=[account_id])
    return state


# --- Outbound webhooks (issue #8; queue `webhooks`, see CELERY_TASK_ROUTES) ----------------------


@shared_task(acks_late=True)
def webhook_deliver(delivery_id: int) -> str:
    from . import webhooks

    return webhooks.webhook_deliver(delivery_id)


@shared_task
def webhook_deliveries_retry() -> int:
    """Beat, every 30 s: enqueue webhook deliveries whose parked retry is due (or whose worker died)."""
    from . import webhooks

    ids = webhooks.webhook_deliveries_sweep()
    for delivery_id in ids:
        webhook_deliver.delay(delivery_id)
    return len(ids)


# --- Notification hygiene (issue #7; integrations/notifications/) --------------------------------


@shared_task(acks_late=True)
def order_events_poll(account_id: int) -> int:
    from .notifications import services as notifications

    return notifications.order_events_poll(account_id)


@shared_task
def notifications_tick() -> int:
    """Beat: poll Allegro order events of every account, then send what is due, then acknowledge.

    The polls run inline (one small GET per account when nothing happened) so that the flush after
    them sees the new events; each step is idempotent, so an overlapping run does no harm.
    """
    from .notifications import services as notifications

    notifications.order_events_poll_all()
    sent = notifications.notifications_flush()
    notifications.autoresponders_run()
    return sent
