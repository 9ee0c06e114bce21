"""Message Center threads (`/messaging/threads`, public.v1; allegro-api.md §3).

There is no event journal for messages. We page threads (newest `lastMessageDateTime` first) and
stop at the first thread not newer than the cursor; for each changed thread we read its messages
after the cursor (with a small overlap — duplicates are dropped by the unique external id). The
cursor is the newest `lastMessageDateTime` processed, held back before any message still in
moderation (VERIFYING), which the seller cannot see yet.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from integrations.contracts import InboundAttachment, InboundMessage, OutboundMessage, SendReceipt

from ..client import AllegroClient
from .common import SourceResult, iso, parse_time

logger = logging.getLogger(__name__)

THREADS_PAGE = 20  # the API's maximum (allegro-api.md §3)
MESSAGES_PAGE = 20
# Re-read this much before the cursor: messages can share a millisecond with the cursor.
OVERLAP = timedelta(seconds=2)
# Statuses a seller actually sees (VERIFYING is in moderation, BLOCKED never reaches the seller).
VISIBLE_STATUSES = {"DELIVERED", "INTERACTING", "DISMISSED"}


def message_to_inbound(raw: dict[str, Any], *, thread_id: str, buyer_login: str) -> InboundMessage | None:
    """Map one Allegro `Message` to our contract. Bad payloads are kept raw with the problem noted."""
    problems: list[str] = []
    msg_id = raw.get("id")
    if not isinstance(msg_id, str) or not msg_id:
        logger.warning("allegro message without id in thread %s skipped", thread_id)
        return None
    created = parse_time(raw.get("createdAt"))
    if created is None:
        problems.append(f"createdAt missing or invalid: {raw.get('createdAt')!r}")
        created = timezone.now()
    author = raw.get("author") if isinstance(raw.get("author"), dict) else {}
    is_buyer = bool(author.get("isInterlocutor"))
    relates = raw.get("relatesTo") if isinstance(raw.get("relatesTo"), dict) else {}
    order = relates.get("order") if isinstance(relates.get("order"), dict) else {}
    offer = relates.get("offer") if isinstance(relates.get("offer"), dict) else {}
    text = raw.get("text")
    if not isinstance(text, str):
        problems.append("text missing")
        text = ""
    attachments = []
    for att in raw.get("attachments") or []:
        if isinstance(att, dict) and att.get("fileName"):
            attachments.append(
                InboundAttachment(
                    filename=str(att["fileName"]),
                    content_type=str(att.get("mimeType") or "application/octet-stream"),
                    url=str(att.get("url") or ""),
                )
            )
    return InboundMessage(
        external_id=msg_id,
        conversation_external_id=thread_id,
        conversation_kind="message",
        direction="in" if is_buyer else "out",
        author_type="buyer" if is_buyer else "agent",
        author_name=str(author.get("login") or ""),
        created_at=created,
        text=text,
        subject=str(raw.get("subject") or ""),
        buyer_login=buyer_login,
        order_id=str(order.get("id") or ""),
        offer_id=str(offer.get("id") or ""),
        attachments=tuple(attachments),
        raw=raw,
        problems=tuple(problems),
    )


class MessageCenterThreads:
    name = "messaging"

    def __init__(self, client: AllegroClient) -> None:
        self.client = client

    def _changed_threads(self, since: datetime | None) -> list[dict[str, Any]]:
        changed: list[dict[str, Any]] = []
        seen: set[str] = set()
        offset = 0
        while True:
            page = self.client.get("/messaging/threads", limit=THREADS_PAGE, offset=offset)
            threads = page.get("threads") or []
            for thread in threads:
                last = parse_time(thread.get("lastMessageDateTime"))
                if last is None:
                    continue  # a thread with no message yet
                if since is not None and last <= since:
                    return changed
                if thread.get("id") not in seen:
                    seen.add(thread["id"])
                    changed.append(thread)
            if len(threads) < THREADS_PAGE:
                return changed
            offset += THREADS_PAGE

    def _thread_messages(self, thread_id: str, after: datetime | None) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        offset = 0
        while True:
            page = self.client.get(
                f"/messaging/threads/{thread_id}/messages",
                limit=MESSAGES_PAGE,
                offset=offset,
                after=iso(after) if after else None,
            )
            batch = page.get("messages") or []
            messages.extend(batch)
            if len(batch) < MESSAGES_PAGE:
                return messages
            offset += MESSAGES_PAGE

    def fetch(self, cursor: dict[str, Any]) -> SourceResult:
        since = parse_time(cursor.get("threads_until"))
        items: list[InboundMessage] = []
        newest = since
        hold_before: datetime | None = None
        for thread in self._changed_threads(since):
            interlocutor = thread.get("interlocutor") or {}
            login = str(interlocutor.get("login") or "")
            after = since - OVERLAP if since else None
            for raw in self._thread_messages(thread["id"], after):
                status = raw.get("status")
                created = parse_time(raw.get("createdAt"))
                if status == "VERIFYING" and created is not None:
                    hold_before = min(hold_before, created) if hold_before else created
                if status not in VISIBLE_STATUSES:
                    continue
                item = message_to_inbound(raw, thread_id=thread["id"], buyer_login=login)
                if item is not None:
                    items.append(item)
            last = parse_time(thread.get("lastMessageDateTime"))
            if last is not None and (newest is None or last > newest):
                newest = last
        if hold_before is not None and newest is not None:
            newest = min(newest, hold_before - timedelta(milliseconds=1))
        return SourceResult(items=items, cursor={"threads_until": iso(newest)} if newest else dict(cursor))

    def _upload(self, message: OutboundMessage) -> list[dict[str, str]]:
        """Declare each attachment, then PUT its bytes (allegro-api.md §3; ≤ 5 MB, images and PDF)."""
        ids = []
        for att in message.attachments:
            declared = self.client.request(
                "POST",
                "/messaging/message-attachments",
                json={"filename": att.filename, "size": len(att.payload)},
            )
            self.client.upload(
                f"/messaging/message-attachments/{declared['id']}", att.payload, att.content_type
            )
            ids.append({"id": declared["id"]})
        return ids

    def send(self, message: OutboundMessage) -> SendReceipt:
        body: dict[str, Any] = {"text": message.text}
        if message.attachments:
            body["attachments"] = self._upload(message)
        body = self.client.request(
            "POST",
            f"/messaging/threads/{message.conversation_external_id}/messages",
            json=body,
            is_message_post=True,
        )
        return SendReceipt(
            external_id=body["id"], sent_at=parse_time(body.get("createdAt")) or timezone.now(), raw=body
        )

    def find_sent(self, message: OutboundMessage) -> SendReceipt | None:
        """Our copy in the thread if an interrupted send did go out (same text, from us, after the reply)."""
        after = (message.created_at or timezone.now()) - timedelta(minutes=1)
        for raw in self._thread_messages(message.conversation_external_id, after):
            author = raw.get("author") or {}
            if not author.get("isInterlocutor") and raw.get("text") == message.text:
                return SendReceipt(
                    external_id=raw["id"], sent_at=parse_time(raw.get("createdAt")) or timezone.now(), raw=raw
                )
        return None
