"""Allegro behind the ChannelAdapter interface.

An Allegro account yields conversations from several sources, each in `sources/`:
Message Center threads (`/messaging`), discussions and claims (`/sale/issues`), and — behind
ALLEGRO_POST_PURCHASE_THREADS — the "Problemy z zakupem" threads of the beta `/messaging`
(announced for 2026-10-28). Each source keeps its own part of the account's cursor; replies go
back through the source recorded in the conversation's details. The inbox sees only contracts.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any, ClassVar

from django.conf import settings

from inbox.models import ChannelAccount
from integrations.contracts import (
    ChannelError,
    ConversationUpdate,
    FetchProblem,
    FetchResult,
    InboundMessage,
    OutboundMessage,
    PermanentChannelError,
    SendReceipt,
)
from integrations.sync_problems import json_safe, text_safe

from .client import AllegroClient
from .sources.common import Source, iso, parse_time
from .sources.issues import SaleIssues
from .sources.threads import MessageCenterThreads, message_to_inbound

logger = logging.getLogger(__name__)

__all__ = ["AllegroAdapter", "iso", "message_to_inbound", "parse_time"]

# Conversations without a recorded source (older rows) are routed by their kind.
DEFAULT_SOURCE_FOR_KIND = {"message": "messaging", "discussion": "sale_issues", "claim": "sale_issues"}
# A message's text is cut here (Allegro allows 2,000 characters, 20,000 in an issue's chat); the raw
# copy keeps at most RAW_TEXT_LIMIT characters of any string.
TEXT_LIMIT = 100_000
RAW_TEXT_LIMIT = 200_000


def item_safe(item: InboundMessage) -> InboundMessage:
    """An item PostgreSQL can store whatever the payload: no NUL characters or NaN, a huge text cut
    to TEXT_LIMIT (noted in its problems). A text that was cut keeps its length in the problem."""
    problems = list(item.problems)
    text = item.text
    if len(text) > TEXT_LIMIT:
        problems.append(f"text of {len(text)} characters cut to {TEXT_LIMIT}")
    if "\x00" in text:
        problems.append("text contained NUL characters (replaced)")
    text = text_safe(text, TEXT_LIMIT)
    return replace(
        item,
        text=text,
        author_name=text_safe(item.author_name, 200),
        subject=text_safe(item.subject, 500),
        buyer_login=text_safe(item.buyer_login, 200),
        order_id=text_safe(item.order_id, 100),
        offer_id=text_safe(item.offer_id, 100),
        raw=json_safe(item.raw, string_limit=RAW_TEXT_LIMIT),
        problems=tuple(problems),
    )


def update_safe(update: ConversationUpdate) -> ConversationUpdate:
    """A conversation update without NUL characters or NaN (what PostgreSQL refuses)."""
    return replace(
        update,
        subject=text_safe(update.subject, 500),
        marketplace_state=text_safe(update.marketplace_state, 40),
        buyer_login=text_safe(update.buyer_login, 200),
        order_id=text_safe(update.order_id, 100),
        offer_id=text_safe(update.offer_id, 100),
        details=json_safe(update.details),
    )


class AllegroAdapter:
    kind: ClassVar[str] = "allegro"

    def __init__(self, account: ChannelAccount, client: AllegroClient | None = None) -> None:
        self.account = account
        self.client = client or AllegroClient(account)
        sources: list[Source] = [MessageCenterThreads(self.client), SaleIssues(self.client)]
        if getattr(settings, "ALLEGRO_POST_PURCHASE_THREADS", False):
            from .sources.post_purchase import PostPurchaseThreads

            sources.append(PostPurchaseThreads(self.client))
        self.sources = {source.name: source for source in sources}

    @property
    def http_calls(self) -> int:
        return self.client.calls

    def fetch(self, *, cursor: dict[str, Any]) -> FetchResult:
        result = FetchResult(items=[], cursor={})
        for name, source in self.sources.items():
            previous = dict(cursor.get(name) or {})
            try:
                part = source.fetch(previous)
            except ChannelError:
                raise  # the account's connection: the whole sync fails and is retried
            except Exception as exc:
                # A payload (or a bug) that broke the whole source: the other sources go on and this
                # one keeps its cursor, so the next sync reads the same again (issue #9).
                logger.exception("allegro source %s of account %s failed", name, self.account.pk)
                detail = f"{exc.__class__.__name__}: {str(exc)[:300]}"
                raw = {"body": exc.body} if hasattr(exc, "body") else None
                result.problems.append(FetchProblem("source", name, "source_failed", detail, raw, True))
                result.cursor[name] = previous
                continue
            result.conversations.extend(update_safe(update) for update in part.updates)
            result.items.extend(item_safe(item) for item in part.items)
            result.problems.extend(part.problems)
            result.resolved.extend(part.resolved)
            result.cursor[name] = part.cursor
        # Grouped by conversation (the sync stores one conversation per transaction), oldest first.
        result.items.sort(key=lambda i: (i.conversation_kind, i.conversation_external_id, i.created_at))
        result.http_calls = self.client.calls
        return result

    def _source_for(self, message: OutboundMessage) -> Source:
        name = message.source or DEFAULT_SOURCE_FOR_KIND.get(message.conversation_kind, "")
        source = self.sources.get(name)
        if source is None:
            raise PermanentChannelError(f"No Allegro source {name!r} for a {message.conversation_kind} reply")
        return source

    def send(self, message: OutboundMessage) -> SendReceipt:
        return self._source_for(message).send(message)

    def find_sent(self, message: OutboundMessage) -> SendReceipt | None:
        return self._source_for(message).find_sent(message)

    def claim_decide(self, issue_id: str, **kwargs: Any) -> dict[str, Any]:
        issues = self.sources["sale_issues"]
        assert isinstance(issues, SaleIssues)
        return issues.claim_decide(issue_id, **kwargs)
