"""Celery interfaces of inbox/: thin; the work is in the app's modules."""

from __future__ import annotations

import logging

from celery import shared_task

from .attachments import attachment_files_sweep

logger = logging.getLogger(__name__)


@shared_task
def attachment_files_sweep_task() -> int:
    deleted = attachment_files_sweep()
    if deleted:
        logger.info("deleted %d attachment files no message names", len(deleted))
    return len(deleted)
