"""Allegro behind the ChannelAdapter interface.

An Allegro account yields conversations from several sources, each in `sources/`:
Message Center threads (`/messaging`), discussions and claims (`/sale/issues`), and — behind
ALLEGRO_POST_PURCHASE_THREADS — the "Problemy z zakupem" threads of the beta `/messaging`
(announced for 2026-10-28). Each source keeps its own part of the account's cursor; replies go
back through the source recorded in the conversation's details. The inbox sees only contracts.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from django.conf import settings

from inbox.models import ChannelAccount
from integrations.contracts import FetchResult, OutboundMessage, PermanentChannelError, SendReceipt

from .client import AllegroClient
from .sources.common import Source, iso, parse_time
from .sources.issues import SaleIssues
from .sources.threads import MessageCenterThreads, message_to_inbound

logger = logging.getLogger(__name__)

__all__ = ["AllegroAdapter", "iso", "message_to_inbound", "parse_time"]

# Conversations without a recorded source (older rows) are routed by their kind.
DEFAULT_SOURCE_FOR_KIND = {"message": "messaging", "discussion": "sale_issues", "claim": "sale_issues"}


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
            part = source.fetch(dict(cursor.get(name) or {}))
            result.conversations.extend(part.updates)
            result.items.extend(part.items)
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
