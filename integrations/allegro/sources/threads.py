"""Message Center threads (`/messaging/threads`, public.v1; allegro-api.md §3).

There is no event journal for messages. We page threads (newest `lastMessageDateTime` first) and
stop at the first thread not newer than the cursor; for each changed thread we read its messages
after the cursor (with a small overlap — duplicates are dropped by the unique external id). The
cursor is the newest `lastMessageDateTime` processed, held back before any message still in
moderation (VERIFYING), which the seller cannot see yet.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from integrations.contracts import (
    FetchProblem,
    InboundAttachment,
    InboundMessage,
    OutboundMessage,
    SendReceipt,
)

from ..client import AllegroClient, MalformedPayload
from .common import (
    MAX_RETRIES,
    MESSAGE_UNREADABLE,
    MESSAGES_UNREADABLE,
    THREAD_UNREADABLE,
    SourceResult,
    iso,
    keep_objects,
    kind_of,
    parse_time,
)

logger = logging.getLogger(__name__)

THREADS_PAGE = 20  # the API's maximum (allegro-api.md §3)
MESSAGES_PAGE = 20
# Re-read this much before the cursor: messages can share a millisecond with the cursor.
OVERLAP = timedelta(seconds=2)
# Statuses a seller actually sees (VERIFYING is in moderation, BLOCKED never reaches the seller).
VISIBLE_STATUSES = {"DELIVERED", "INTERACTING", "DISMISSED"}
HIDDEN_STATUSES = {"VERIFYING", "BLOCKED"}
# A problem of one message or page: (code, detail, raw payload).
Problem = tuple[str, str, Any]


def payload_id(value: Any) -> str:
    """The id of a thread or message payload, or a digest of it when it has none."""
    if isinstance(value, dict) and isinstance(value.get("id"), str) and value["id"]:
        return value["id"]
    from integrations.sync_problems import payload_digest

    return f"payload:{payload_digest(value)}"


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
    for att in raw.get("attachments") if isinstance(raw.get("attachments"), list) else []:
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

    def _changed_threads(self, since: datetime | None, result: SourceResult) -> list[dict[str, Any]]:
        """Threads newer than `since`, newest first. An entry that is not a thread with an id and a
        valid lastMessageDateTime is recorded as a problem and skipped; a page that is not a list of
        threads fails the whole source (the adapter keeps its cursor)."""
        changed: list[dict[str, Any]] = []
        seen: set[str] = set()
        offset = 0
        while True:
            page = self.client.get("/messaging/threads", limit=THREADS_PAGE, offset=offset)
            threads = page.get("threads") if isinstance(page, dict) else None
            if not isinstance(threads, list):
                raise MalformedPayload("/messaging/threads", 200, repr(page)[:100_000])
            for thread in threads:
                thread_id = thread.get("id") if isinstance(thread, dict) else None
                if not isinstance(thread_id, str) or not thread_id:
                    detail = f"a thread entry is {kind_of(thread)}, not an object"
                    if isinstance(thread, dict):
                        detail = f"a thread has no id (id is {kind_of(thread_id)})"
                    result.problems.append(
                        FetchProblem("thread", payload_id(thread), THREAD_UNREADABLE, detail, thread)
                    )
                    continue
                raw_last = thread.get("lastMessageDateTime")
                last = parse_time(raw_last)
                if last is None:
                    if raw_last is not None:
                        result.problems.append(
                            FetchProblem(
                                "thread",
                                thread_id,
                                THREAD_UNREADABLE,
                                f"lastMessageDateTime is not a date: {str(raw_last)[:100]!r}",
                                thread,
                            )
                        )
                    continue  # a thread with no message yet
                if since is not None and last <= since:
                    return changed
                if thread_id not in seen:
                    seen.add(thread_id)
                    changed.append(thread)
            if len(threads) < THREADS_PAGE:
                return changed
            offset += THREADS_PAGE

    def _thread_messages(self, thread_id: str, after: datetime | None) -> list[dict[str, Any]]:
        return self._thread_messages_checked(thread_id, after, [])

    def _thread_messages_checked(
        self, thread_id: str, after: datetime | None, problems: list[Problem]
    ) -> list[dict[str, Any]]:
        """The thread's message objects after `after`; what is not one goes to `problems`."""
        messages: list[dict[str, Any]] = []
        offset = 0
        while True:
            try:
                page = self.client.get(
                    f"/messaging/threads/{thread_id}/messages",
                    limit=MESSAGES_PAGE,
                    offset=offset,
                    after=iso(after) if after else None,
                )
            except MalformedPayload as exc:
                problems.append((MESSAGES_UNREADABLE, "the list of messages is not JSON", {"body": exc.body}))
                return messages
            batch = page.get("messages") if isinstance(page, dict) else None
            if not isinstance(batch, list):
                detail = f"the list of messages is missing (messages is {kind_of(batch)})"
                problems.append((MESSAGES_UNREADABLE, detail, page))
                return messages
            keep_objects(batch, messages, problems, "message")
            if len(batch) < MESSAGES_PAGE:
                return messages
            offset += MESSAGES_PAGE

    def _thread_items(
        self, thread: dict[str, Any], after: datetime | None, problems: list[Problem]
    ) -> tuple[list[InboundMessage], datetime | None]:
        """(the thread's visible messages as items, the earliest one still in moderation)."""
        thread_id = thread["id"]
        interlocutor = thread.get("interlocutor") if isinstance(thread.get("interlocutor"), dict) else {}
        login = str(interlocutor.get("login") or "")
        items: list[InboundMessage] = []
        hold_before: datetime | None = None
        for raw in self._thread_messages_checked(thread_id, after, problems):
            status = raw.get("status")
            created = parse_time(raw.get("createdAt"))
            if status == "VERIFYING" and created is not None:
                hold_before = min(hold_before, created) if hold_before else created
            if status in HIDDEN_STATUSES:
                continue
            try:
                item = message_to_inbound(raw, thread_id=thread_id, buyer_login=login)
            except Exception as exc:  # a parser bug must not stop the thread (fuzzed: never expected)
                logger.exception("allegro message in thread %s could not be mapped", thread_id)
                problems.append(
                    (MESSAGE_UNREADABLE, f"the message could not be mapped ({exc.__class__.__name__})", raw)
                )
                continue
            if item is None:
                problems.append(
                    (MESSAGE_UNREADABLE, f"a message has no id (id is {kind_of(raw.get('id'))})", raw)
                )
                continue
            if status not in VISIBLE_STATUSES:
                # An unknown status: shown (better than lost), with the problem noted.
                item = replace(
                    item,
                    problems=(*item.problems, f"unknown status {str(status)[:50]!r}, shown as delivered"),
                )
            items.append(item)
        return items, hold_before

    def fetch(self, cursor: dict[str, Any]) -> SourceResult:
        """Changed threads and their new messages. A thread whose messages could not all be read
        keeps the cursor before it (and its own `after` in cursor["retry"]) so the next sync reads it
        again, at most MAX_RETRIES times; then its problems stay recorded and the cursor moves on.
        While the cursor is held, the newer threads already read are listed in cursor["done"] with
        their lastMessageDateTime, so they are not read again unless they change."""
        since = parse_time(cursor.get("threads_until"))
        retries = cursor.get("retry") if isinstance(cursor.get("retry"), dict) else {}
        done = cursor.get("done") if isinstance(cursor.get("done"), dict) else {}
        done_next: dict[str, Any] = {}
        result = SourceResult()
        newest = since
        hold_before: datetime | None = None
        retry_next: dict[str, Any] = {}
        for thread in self._changed_threads(since, result):
            thread_id = thread["id"]
            last = parse_time(thread.get("lastMessageDateTime"))
            assert last is not None  # _changed_threads keeps only threads with a valid one
            entry = retries.get(thread_id) if isinstance(retries.get(thread_id), dict) else None
            if entry is None and done.get(thread_id) == thread["lastMessageDateTime"]:
                done_next[thread_id] = thread["lastMessageDateTime"]  # read already, unchanged since
                newest = last if newest is None or last > newest else newest
                continue
            if entry is not None:
                after = parse_time(entry.get("after"))  # where the failed read started (None: all)
            else:
                after = since - OVERLAP if since else None
            problems: list[Problem] = []
            items, verifying = self._thread_items(thread, after, problems)
            result.items.extend(items)
            if verifying is not None:
                hold_before = min(hold_before, verifying) if hold_before else verifying
            if problems:
                attempts = int((entry or {}).get("attempts") or 0) + 1
                retrying = attempts < MAX_RETRIES
                for code, detail, raw in problems:
                    result.problems.append(FetchProblem("thread", thread_id, code, detail, raw, retrying))
                if retrying:
                    retry_next[thread_id] = {"after": iso(after) if after else None, "attempts": attempts}
                    hold_before = min(hold_before, last) if hold_before else last  # read it again
            else:
                if entry is not None:
                    result.resolved.append(("thread", thread_id))
                if verifying is None:
                    done_next[thread_id] = thread["lastMessageDateTime"]
            if newest is None or last > newest:
                newest = last
        if hold_before is not None and newest is not None:
            newest = min(newest, hold_before - timedelta(milliseconds=1))
        if newest is None:
            result.cursor = {k: v for k, v in cursor.items() if k != "retry"}
        else:
            result.cursor = {"threads_until": iso(newest)}
        if retry_next:
            result.cursor["retry"] = retry_next
            held = newest
            result.cursor["done"] = {
                k: v for k, v in done_next.items() if held is None or (parse_time(v) or held) > held
            }
        return result

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
