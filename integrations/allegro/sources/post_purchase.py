"""'Problemy z zakupem': POST_PURCHASE_ISSUE threads of the beta.v1 `/messaging` (allegro-api.md §3).

Since 2026-10-28 new discussions are no longer `/sale/issues` disputes. They are threads of type
POST_PURCHASE_ISSUE in the Message Center, served only by the beta.v1 version of /messaging
(Accept `application/vnd.allegro.beta.v1+json`). Claims and older discussions stay in
`/sale/issues` (SaleIssues). This source maps each such thread to a conversation of kind
"discussion". The adapter loads it only when settings.ALLEGRO_POST_PURCHASE_THREADS is on.

The beta shapes are UNVERIFIED (announced in allegro/allegro-api #13797, #13998 and #13970; the
thread fields come from a third-party test). Everything this module reads from them is in
`_pages`, `thread_update` and `message_to_inbound`, so it can be corrected in one place:

    GET /messaging/threads?type=POST_PURCHASE_ISSUE[&page.id=…] -> {"threads": [...], "nextPage": {"id"}}
    thread  {id, type, subType, status, read, createdAt, lastMessageDateTime,
             participants: [{role, login}], orders: [{id, offers: [{id, quantity}]}]}
    GET /messaging/threads/{id}/messages?after=…[&page.id=…] -> {"messages": [...], "nextPage": {"id"}}
    message public.v1 Message plus author.role (BUYER | SELLER | anything else = Allegro)
    POST /messaging/threads/{id}/messages {text, attachments?} -> 201 message (1 request/s per user)

The sync works like the Message Center's: page the threads newest `lastMessageDateTime` first and
stop at the first one not newer than the cursor. A changed thread yields its ConversationUpdate
and its messages after the cursor, re-read with a small overlap (the unique external id drops
duplicates). The cursor is the newest `lastMessageDateTime` processed, held back before any
message still in moderation. Limitation: there is no date filter and no event journal, so a
status or subType change without a new message reaches the conversation with the next message.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from integrations.contracts import (
    ConversationUpdate,
    InboundAttachment,
    InboundMessage,
    OutboundMessage,
    SendReceipt,
)

from ..client import BETA, AllegroClient
from .common import SourceResult, iso, parse_time
from .threads import OVERLAP, VISIBLE_STATUSES, MessageCenterThreads

logger = logging.getLogger(__name__)

NAME = "messaging_ppi"
KIND = "discussion"
THREAD_TYPE = "POST_PURCHASE_ISSUE"
# Guard against a server that hands back a cursor it already gave (never loop forever).
MAX_PAGES = 10_000
# subType values listed by Allegro staff (#13970), as the agent reads them; unknown ones are shown raw.
SUBTYPE_LABELS = {
    "PRODUCT_INCONSISTENT_WITH_THE_OFFER": "Produkt niezgodny z ofertą",
    "PRODUCT_ARRIVED_DAMAGED": "Produkt dotarł uszkodzony",
    "DEFECT_DETECTED_DURING_USE": "Wada wykryta podczas użytkowania",
    "NO_PRODUCT_IN_THE_SHIPMENT": "Brak produktu w przesyłce",
    "MISSING_PRODUCT_ELEMENTS": "Brakujące elementy produktu",
    "OTHER": "Inny problem",
    "NO_REFUND": "Brak zwrotu pieniędzy",
    "SELLER_DOES_NOT_WANT_TO_ACCEPT_RETURN": "Sprzedający nie chce przyjąć zwrotu",
    "PROBLEM_WITH_SENDING_PRODUCT_BACK": "Problem z odesłaniem produktu",
    "NO_DOCUMENTATIONS": "Brak dowodu zakupu, instrukcji lub gwarancji",
}


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def thread_update(thread: dict[str, Any]) -> ConversationUpdate | None:
    """The conversation-level state of one POST_PURCHASE_ISSUE thread."""
    thread_id = thread.get("id")
    if not isinstance(thread_id, str) or not thread_id:
        logger.warning("allegro post-purchase thread without id skipped")
        return None
    participants = _dicts(thread.get("participants"))
    buyer = next((p.get("login") for p in participants if p.get("role") == "BUYER"), None)
    orders = _dicts(thread.get("orders"))
    order = orders[0] if orders else {}
    offers = _dicts(order.get("offers"))
    sub_type = thread.get("subType")
    label = SUBTYPE_LABELS.get(str(sub_type), str(sub_type)) if sub_type else ""
    status = thread.get("status")
    return ConversationUpdate(
        external_id=thread_id,
        kind=KIND,
        subject=f"Problem z zakupem: {label}" if label else "Problem z zakupem",
        marketplace_state=str(status or ""),
        # Replies are not blocked on a status we cannot interpret yet: if Allegro refuses one, the
        # send fails permanently and its userMessage is shown to the agent.
        reply_blocked_reason="",
        buyer_login=str(buyer or ""),
        order_id=str(order.get("id") or ""),
        offer_id=str(offers[0].get("id") or "") if offers else "",
        details={
            "source": NAME,
            "buyer_login": str(buyer or ""),
            "thread": {
                "type": thread.get("type"),
                "subType": sub_type,
                "status": status,
                "createdAt": thread.get("createdAt"),
                "orders": orders,
            },
        },
    )


def _role(author: dict[str, Any]) -> str:
    role = author.get("role")
    if isinstance(role, str) and role:
        return role.upper()
    if "isInterlocutor" in author:  # no role: fall back to the public.v1 flag
        return "BUYER" if author.get("isInterlocutor") else "SELLER"
    return ""


def message_to_inbound(
    raw: dict[str, Any], *, thread_id: str, buyer_login: str, order_id: str
) -> InboundMessage | None:
    msg_id = raw.get("id")
    if not isinstance(msg_id, str) or not msg_id:
        logger.warning("allegro message without id in post-purchase thread %s skipped", thread_id)
        return None
    problems: list[str] = []
    created = parse_time(raw.get("createdAt"))
    if created is None:
        problems.append(f"createdAt missing or invalid: {raw.get('createdAt')!r}")
        created = timezone.now()
    author = raw.get("author") if isinstance(raw.get("author"), dict) else {}
    role = _role(author)
    if role == "BUYER":
        direction, author_type, classification = "in", "buyer", "human"
    elif role == "SELLER":
        direction, author_type, classification = "out", "agent", "human"
    else:  # Allegro (advisor, system…): shown, but never starts a reply clock (rules.md §2.1)
        direction, author_type, classification = "in", "marketplace", "system"
    text = raw.get("text")
    if not isinstance(text, str):
        problems.append("text missing")
        text = ""
    relates = raw.get("relatesTo") if isinstance(raw.get("relatesTo"), dict) else {}
    order = relates.get("order") if isinstance(relates.get("order"), dict) else {}
    offer = relates.get("offer") if isinstance(relates.get("offer"), dict) else {}
    attachments = tuple(
        InboundAttachment(
            filename=str(a["fileName"]),
            content_type=str(a.get("mimeType") or "application/octet-stream"),
            url=str(a.get("url") or ""),
        )
        for a in _dicts(raw.get("attachments"))
        if a.get("fileName")
    )
    return InboundMessage(
        external_id=msg_id,
        conversation_external_id=thread_id,
        conversation_kind=KIND,
        direction=direction,
        author_type=author_type,
        author_name=str(author.get("login") or role.title()),
        classification=classification,
        created_at=created,
        text=text,
        subject=str(raw.get("subject") or ""),
        buyer_login=buyer_login,
        order_id=str(order.get("id") or order_id),
        offer_id=str(offer.get("id") or ""),
        attachments=attachments,
        raw=raw,
        problems=tuple(problems),
    )


class PostPurchaseThreads:
    name = NAME

    def __init__(self, client: AllegroClient) -> None:
        self.client = client
        # Attachments are declared and uploaded as in the Message Center (no beta change announced).
        self._message_center = MessageCenterThreads(client)

    def _pages(self, path: str, key: str, params: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
        """Each page of a cursor-paged beta list: `page.id` in, `nextPage.id` out (absent on the last)."""
        page_id: str | None = None
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            query = {k: v for k, v in params.items() if v is not None}
            if page_id:
                query["page.id"] = page_id
            body = self.client.request("GET", path, params=query, media=BETA) or {}
            yield _dicts(body.get(key))
            next_page = body.get("nextPage")
            page_id = next_page.get("id") if isinstance(next_page, dict) else None
            if not page_id or page_id in seen:
                return
            seen.add(page_id)
        logger.warning("allegro %s: stopped after %s pages", path, MAX_PAGES)

    def _changed_threads(self, since: datetime | None) -> list[dict[str, Any]]:
        changed: list[dict[str, Any]] = []
        seen: set[str] = set()
        for page in self._pages("/messaging/threads", "threads", {"type": THREAD_TYPE}):
            for thread in page:
                if thread.get("type") not in (None, THREAD_TYPE):
                    continue  # the filter is honoured by the server; this only guards against it not being
                last = parse_time(thread.get("lastMessageDateTime"))
                if last is None:
                    continue  # no message yet
                if since is not None and last <= since:
                    return changed  # newest first: the rest is unchanged
                if thread.get("id") not in seen:
                    seen.add(thread.get("id"))
                    changed.append(thread)
        return changed

    def _thread_messages(self, thread_id: str, after: datetime | None) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        path = f"/messaging/threads/{thread_id}/messages"
        for page in self._pages(path, "messages", {"after": iso(after) if after else None}):
            messages.extend(page)
        return messages

    def fetch(self, cursor: dict[str, Any]) -> SourceResult:
        since = parse_time(cursor.get("threads_until"))
        result = SourceResult()
        newest = since
        hold_before: datetime | None = None
        for thread in self._changed_threads(since):
            update = thread_update(thread)
            if update is None:
                continue
            result.updates.append(update)
            after = since - OVERLAP if since else None
            for raw in self._thread_messages(update.external_id, after):
                status = raw.get("status")
                created = parse_time(raw.get("createdAt"))
                if status == "VERIFYING" and created is not None:
                    hold_before = min(hold_before, created) if hold_before else created
                if status not in VISIBLE_STATUSES:
                    continue
                item = message_to_inbound(
                    raw,
                    thread_id=update.external_id,
                    buyer_login=update.buyer_login,
                    order_id=update.order_id,
                )
                if item is not None:
                    result.items.append(item)
            last = parse_time(thread.get("lastMessageDateTime"))
            if last is not None and (newest is None or last > newest):
                newest = last
        if hold_before is not None and newest is not None:
            newest = min(newest, hold_before - timedelta(milliseconds=1))
        result.cursor = {"threads_until": iso(newest)} if newest else dict(cursor)
        return result

    def send(self, message: OutboundMessage) -> SendReceipt:
        body: dict[str, Any] = {"text": message.text}
        if message.attachments:
            body["attachments"] = self._message_center._upload(message)
        response = self.client.request(
            "POST",
            f"/messaging/threads/{message.conversation_external_id}/messages",
            json=body,
            is_message_post=True,
            media=BETA,
        )
        sent_at = parse_time(response.get("createdAt")) or timezone.now()
        return SendReceipt(external_id=response["id"], sent_at=sent_at, raw=response)

    def find_sent(self, message: OutboundMessage) -> SendReceipt | None:
        """Our copy in the thread if an interrupted send did go out (same text, from us, after the reply)."""
        after = (message.created_at or timezone.now()) - timedelta(minutes=1)
        for raw in self._thread_messages(message.conversation_external_id, after):
            author = raw.get("author") if isinstance(raw.get("author"), dict) else {}
            ours = _role(author) == "SELLER" and isinstance(raw.get("id"), str)
            if ours and raw.get("text") == message.text:
                return SendReceipt(
                    external_id=raw["id"], sent_at=parse_time(raw.get("createdAt")) or timezone.now(), raw=raw
                )
        return None
