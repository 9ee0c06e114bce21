"""Signals sent after a beat marks a clock (after commit). Later issues hang e-mail and webhook
notifications on them; the in-app `Alert` rows are already written in the marking transaction.

Both are sent with ``sender=SlaClock`` and keyword arguments ``clock_id``, ``organization_id``,
``conversation_id``, ``clock_kind`` ("marketplace" | "team"), ``due_at`` (aware, UTC) and
``recipient_ids`` (the users who got an in-app alert); ``sla_warning`` adds ``level_minutes`` (the
running time left that was reached, e.g. 60). Each is sent once per mark: a receiver that must
not lose one should record it in the database itself (the signal is not replayed after a crash).
"""

from django.dispatch import Signal

sla_warning = Signal()
sla_breached = Signal()
