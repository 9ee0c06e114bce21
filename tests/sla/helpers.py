"""Building conversation state for SLA tests through the inbox services (no SLA rows by hand)."""

from __future__ import annotations

import itertools
from datetime import datetime
from zoneinfo import ZoneInfo

import time_machine

from inbox import services
from inbox.models import Conversation, Message
from integrations.contracts import InboundMessage

WAW = ZoneInfo("Europe/Warsaw")
_ids = itertools.count(1)


def waw(*args) -> datetime:
    """An aware Europe/Warsaw instant: waw(2026, 3, 4, 10) is Wednesday 4 March 2026 10:00."""
    return datetime(*args, tzinfo=WAW)


def buyer_writes(
    account,
    at: datetime,
    *,
    thread: str = "t-1",
    kind: str = "message",
    classification: str = "human",
    author_type: str = "buyer",
    external_id: str | None = None,
    text: str = "Dzień dobry, kiedy wysyłka?",
) -> Message:
    """An inbound message stored by a sync at `at` (the sync runs then, too)."""
    item = InboundMessage(
        external_id=external_id or f"in-{next(_ids)}",
        conversation_external_id=thread,
        conversation_kind=kind,
        direction="in",
        author_type=author_type,
        classification=classification,
        created_at=at,
        text=text,
        buyer_login=f"kupujacy-{thread}",
    )
    with time_machine.travel(at, tick=False):
        message, _ = services.message_receive(account, item)
    return message


def agent_replies(
    conversation: Conversation,
    user,
    at: datetime,
    *,
    delivered: bool = True,
    author_type: str = Message.AuthorType.AGENT,
) -> Message:
    """An agent's reply written in the inbox and delivered to the channel at `at`."""
    with time_machine.travel(at, tick=False):
        message, _ = services.message_reply_create(
            conversation, text="Wysyłamy dziś.", acting_user=user, author_type=author_type
        )
        if delivered:
            services.message_mark_delivered(message.pk, external_id=f"out-{message.pk}", delivered_at=at)
    message.refresh_from_db()
    return message


def seller_writes_elsewhere(
    account,
    at: datetime,
    *,
    thread: str = "t-1",
    kind: str = "message",
    author_type: str = "agent",
    external_id: str | None = None,
) -> Message:
    """An outbound message found by a sync (written in Allegro's own UI, or an automatic one)."""
    item = InboundMessage(
        external_id=external_id or f"out-sync-{next(_ids)}",
        conversation_external_id=thread,
        conversation_kind=kind,
        direction="out",
        author_type=author_type,
        created_at=at,
        text="Odpowiedź z panelu Allegro",
        buyer_login=f"kupujacy-{thread}",
    )
    with time_machine.travel(at, tick=False):
        message, _ = services.message_receive(account, item)
    return message
