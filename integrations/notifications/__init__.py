"""Notification hygiene (issue #7): compliance check, planner, autoresponders, report.

Pure logic lives in `compliance.py` and `planner.py` (no ORM, no clock); `services.py` does the
writes (PlannedNotification rows, the outbox through `inbox.services.message_reply_create`).
"""
