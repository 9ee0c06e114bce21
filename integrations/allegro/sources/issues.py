"""Discussions and claims (`/sale/issues`, beta.v1; allegro-api.md §4, rules.md §6).

There is no date filter and no event journal: each sync lists the issues in open states, re-reads
(one GET each) the issues we still hold as open but that left that list (closed, accepted…), and
reads an issue's chat only when its chat signature (message count, last message time) changed.
An issue that turns from DISPUTE into CLAIM keeps its id, so it stays one conversation (the
conversation's kind follows the issue's type). The first sync imports the last IMPORT_DAYS of
issues in every state.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.utils import timezone

from integrations.contracts import (
    ConversationUpdate,
    FetchProblem,
    InboundAttachment,
    InboundMessage,
    OutboundMessage,
    PermanentChannelError,
    SendReceipt,
)

from ..client import AllegroClient, MalformedPayload
from .common import (
    ISSUE_UNREADABLE,
    MAX_RETRIES,
    MESSAGE_UNREADABLE,
    MESSAGES_UNREADABLE,
    SourceResult,
    iso,
    keep_objects,
    kind_of,
    parse_time,
)
from .threads import payload_id

logger = logging.getLogger(__name__)

PAGE = 100  # the API's maximum for /sale/issues and its chat
OPEN_STATUSES = ("DISPUTE_ONGOING", "DISPUTE_UNRESOLVED", "CLAIM_SUBMITTED")
IMPORT_DAYS = 60
KIND = {"DISPUTE": "discussion", "CLAIM": "claim"}
CHAT_ROLES = ("BUYER", "SELLER", "ADMIN", "SYSTEM", "FULFILLMENT")
CHAT_CLOSED_REASON = "Allegro nie pozwala teraz pisać w tej sprawie (czat nieaktywny)."

# ClaimStatusChangeRequest.status values (allegro-api.md §4).
CLAIM_ACCEPT = ("ACCEPTED_REPAIR", "ACCEPTED_EXCHANGE", "ACCEPTED_REFUND", "ACCEPTED_PARTIAL_REFUND")
CLAIM_REJECT = (
    "REJECTED_ADDITIONAL_REQUIREMENTS_NOT_COMPLETED",
    "REJECTED_PRODUCT_NOT_RETURNED",
    "REJECTED_PRODUCT_DAMAGED_BY_USER",
    "REJECTED_PRODUCT_CONFORMS_TO_CONTRACT",
    "REJECTED_MINOR_DEFECT",
    "REJECTED_OTHER",
    "REJECTED_CLAIM_WITHDRAWN_BY_BUYER",
)


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _signature(issue: dict[str, Any]) -> list[Any]:
    chat = _obj(issue.get("chat"))
    last = _obj(chat.get("lastMessage"))
    return [chat.get("messagesCount"), last.get("createdAt"), last.get("status")]


def issue_update(issue: dict[str, Any]) -> ConversationUpdate | None:
    issue_id = issue.get("id")
    kind = KIND.get(str(issue.get("type")))
    if not isinstance(issue_id, str) or kind is None:
        logger.warning("allegro issue without id or with unknown type skipped: %r", issue.get("type"))
        return None
    state = _obj(issue.get("currentState"))
    buyer = _obj(issue.get("buyer"))
    checkout = _obj(issue.get("checkoutForm"))
    offer = _obj(issue.get("offer"))
    chat_active = state.get("chatActive")
    reason = _obj(issue.get("reason"))
    subject = issue.get("subject") or reason.get("description") or ""
    if kind == "claim" and issue.get("referenceNumber"):
        subject = f"Reklamacja {issue['referenceNumber']}" + (f": {subject}" if subject else "")
    details = {
        "source": "sale_issues",
        "buyer_login": buyer.get("login") or "",
        "issue": {
            key: issue.get(key)
            for key in (
                "type",
                "referenceNumber",
                "decisionDueDate",
                "openedDate",
                "subject",
                "expectations",
                "description",
                "offer",
                "product",
                "reason",
                "right",
                "checkoutForm",
                "attachments",
            )
        }
        | {
            "status": state.get("status"),
            "statusDueDate": state.get("statusDueDate"),
            "returnRequired": state.get("returnRequired"),
            "chatActive": chat_active,
            "lastMessageStatus": _obj(_obj(issue.get("chat")).get("lastMessage")).get("status"),
        },
    }
    return ConversationUpdate(
        external_id=issue_id,
        kind=kind,
        subject=str(subject)[:500],
        marketplace_state=str(state.get("status") or ""),
        reply_blocked_reason="" if chat_active is not False else CHAT_CLOSED_REASON,
        buyer_login=str(buyer.get("login") or ""),
        order_id=str(checkout.get("id") or ""),
        offer_id=str(offer.get("id") or ""),
        details=details,
    )


def chat_to_inbound(
    raw: dict[str, Any], *, issue_id: str, kind: str, buyer_login: str
) -> InboundMessage | None:
    msg_id = raw.get("id")
    if not isinstance(msg_id, str) or not msg_id or msg_id == "TODO":  # legacy items (issue #12486)
        return None
    problems = []
    created = parse_time(raw.get("createdAt"))
    if created is None:
        problems.append(f"createdAt missing or invalid: {raw.get('createdAt')!r}")
        created = timezone.now()
    author = raw.get("author") if isinstance(raw.get("author"), dict) else {}
    if not author:
        problems.append("author missing or invalid")
    role = str(author.get("role") or "")
    if role == "BUYER":
        direction, author_type, classification = "in", "buyer", "human"
    elif role == "SELLER":
        direction, author_type, classification = "out", "agent", "human"
    else:  # ADMIN (Allegro advisor), SYSTEM, FULFILLMENT: shown, but never start a clock (rules.md §2.1)
        direction, author_type, classification = "in", "marketplace", "system"
        if role and role not in CHAT_ROLES:
            problems.append(f"unknown author role {role[:50]!r}, shown as a message from Allegro")
    attachments = tuple(
        InboundAttachment(filename=str(a.get("fileName")), url=str(a.get("url") or ""))
        for a in (raw.get("attachments") if isinstance(raw.get("attachments"), list) else [])
        if isinstance(a, dict) and a.get("fileName")
    )
    text = raw.get("text")
    if not isinstance(text, str):
        problems.append("text missing")
        text = ""
    return InboundMessage(
        external_id=msg_id,
        conversation_external_id=issue_id,
        conversation_kind=kind,
        direction=direction,
        author_type=author_type,
        author_name=str(author.get("login") or role.title()),
        classification=classification,
        created_at=created,
        text=text,
        buyer_login=buyer_login,
        attachments=attachments,
        raw=raw,
        problems=tuple(problems),
    )


class SaleIssues:
    name = "sale_issues"

    def __init__(self, client: AllegroClient) -> None:
        self.client = client

    def _list(
        self, *, statuses: tuple[str, ...] = (), opened_after=None, problems: list[FetchProblem] | None = None
    ) -> list[dict[str, Any]]:
        """Issues, newest first; an entry that is not an object goes to `problems`. A page that is
        not a list of issues fails the whole source (the adapter keeps its cursor)."""
        issues: list[dict[str, Any]] = []
        offset = 0
        while True:
            params: list[tuple[str, Any]] = [("limit", PAGE), ("offset", offset)]
            params += [("status", s) for s in statuses]
            body = self.client.request("GET", "/sale/issues", params=params)
            page = body.get("issues") if isinstance(body, dict) else None
            if not isinstance(page, list):
                raise MalformedPayload("/sale/issues", 200, repr(body)[:100_000])
            for issue in page:
                if not isinstance(issue, dict):
                    if problems is not None:
                        detail = f"an issue entry is {kind_of(issue)}, not an object"
                        problems.append(
                            FetchProblem("issue", payload_id(issue), ISSUE_UNREADABLE, detail, issue)
                        )
                    continue
                opened = parse_time(issue.get("openedDate"))
                if opened_after and opened and opened < opened_after:
                    return issues  # ordered by openedDate desc
                issues.append(issue)
            if len(page) < PAGE:
                return issues
            offset += PAGE

    def _chat(self, issue_id: str) -> list[dict[str, Any]]:
        return self._chat_checked(issue_id, [])

    def _chat_checked(self, issue_id: str, problems: list[tuple[str, str, Any]]) -> list[dict[str, Any]]:
        chat: list[dict[str, Any]] = []
        offset = 0
        while True:
            try:
                body = self.client.get(f"/sale/issues/{issue_id}/chat", limit=PAGE, offset=offset)
            except MalformedPayload as exc:
                problems.append((MESSAGES_UNREADABLE, "the chat is not JSON", {"body": exc.body}))
                return chat
            except PermanentChannelError as exc:
                if exc.status != 404:
                    raise
                problems.append(
                    (MESSAGES_UNREADABLE, "Allegro has no chat for this issue (404)", {"status": 404})
                )
                return chat
            page = body.get("chat") if isinstance(body, dict) else None
            if not isinstance(page, list):
                problems.append((MESSAGES_UNREADABLE, f"the chat is missing (chat is {kind_of(page)})", body))
                return chat
            keep_objects(page, chat, problems, "chat")
            if len(page) < PAGE:
                return chat
            offset += PAGE

    def _issue_items(
        self, update: ConversationUpdate, problems: list[tuple[str, str, Any]]
    ) -> list[InboundMessage]:
        items = []
        for raw in self._chat_checked(update.external_id, problems):
            try:
                item = chat_to_inbound(
                    raw, issue_id=update.external_id, kind=update.kind, buyer_login=update.buyer_login
                )
            except Exception as exc:  # a parser bug must not stop the sync (fuzzed: never expected)
                logger.exception("allegro chat message of issue %s could not be mapped", update.external_id)
                problems.append(
                    (MESSAGE_UNREADABLE, f"the message could not be mapped ({exc.__class__.__name__})", raw)
                )
                continue
            if item is None:
                if raw.get("id") != "TODO":  # legacy items without an id are skipped (issue #12486)
                    detail = f"a chat message has no id (id is {kind_of(raw.get('id'))})"
                    problems.append((MESSAGE_UNREADABLE, detail, raw))
                continue
            items.append(item)
        return items

    def fetch(self, cursor: dict[str, Any]) -> SourceResult:
        """Issues and their changed chats. An issue whose chat could not all be read is read again by
        the next sync (it stays in `seen` with a signature that cannot match, and in cursor["retry"]),
        at most MAX_RETRIES times; then its problems stay recorded and it is treated as read."""
        seen: dict[str, list[Any]] = dict(cursor.get("seen") or {})
        retries = cursor.get("retry") if isinstance(cursor.get("retry"), dict) else {}
        result = SourceResult()
        if not cursor.get("imported"):
            issues = self._list(
                opened_after=timezone.now() - timedelta(days=IMPORT_DAYS), problems=result.problems
            )
        else:
            issues = self._list(statuses=OPEN_STATUSES, problems=result.problems)
        listed = {i.get("id") for i in issues}
        for issue_id in [i for i in seen if i not in listed]:
            # Left the open list: read its final state once (closed, accepted, rejected…).
            try:
                issues.append(self.client.get(f"/sale/issues/{issue_id}"))
            except MalformedPayload as exc:
                detail = "the issue is not JSON"
                result.problems.append(
                    FetchProblem("issue", issue_id, ISSUE_UNREADABLE, detail, {"body": exc.body})
                )
            except PermanentChannelError as exc:
                if exc.status != 404:
                    raise  # the account's access (403, 401): the whole sync reports it
                # Gone from Allegro (removed, or no longer this seller's): the conversation keeps its
                # last known state, the seller sees why, and the issue is not asked for again.
                detail = f"Allegro no longer serves this issue (404): {exc.user_message}"[:500]
                result.problems.append(
                    FetchProblem(
                        "issue", issue_id, ISSUE_UNREADABLE, detail, {"status": 404, "code": exc.code}
                    )
                )
        new_seen: dict[str, list[Any]] = {}
        retry_next: dict[str, Any] = {}
        for issue in issues:
            if not isinstance(issue, dict):
                detail = f"the issue is {kind_of(issue)}, not an object"
                result.problems.append(
                    FetchProblem("issue", payload_id(issue), ISSUE_UNREADABLE, detail, issue)
                )
                continue
            try:
                update = issue_update(issue)
            except Exception as exc:  # a mapping bug must not stop the other issues
                logger.exception("allegro issue could not be mapped")
                update, detail = None, f"the issue could not be mapped ({exc.__class__.__name__})"
            else:
                detail = f"the issue has no id or an unknown type ({str(issue.get('type'))[:50]!r})"
            if update is None:
                result.problems.append(
                    FetchProblem("issue", payload_id(issue), ISSUE_UNREADABLE, detail, issue)
                )
                continue
            result.updates.append(update)
            signature = _signature(issue)
            entry = (
                retries.get(update.external_id) if isinstance(retries.get(update.external_id), dict) else None
            )
            retrying = False
            if seen.get(update.external_id) != signature or entry is not None:
                problems: list[tuple[str, str, Any]] = []
                result.items.extend(self._issue_items(update, problems))
                if problems:
                    attempts = int((entry or {}).get("attempts") or 0) + 1
                    retrying = attempts < MAX_RETRIES
                    for code, text, raw in problems:
                        result.problems.append(
                            FetchProblem("issue", update.external_id, code, text, raw, retrying)
                        )
                    if retrying:
                        retry_next[update.external_id] = {"attempts": attempts}
                        new_seen[update.external_id] = ["retry", attempts]  # never a real signature
                elif entry is not None:
                    result.resolved.append(("issue", update.external_id))
            if not retrying and update.marketplace_state in OPEN_STATUSES:
                new_seen[update.external_id] = signature
        result.cursor = {"imported": True, "seen": new_seen, "synced_at": iso(timezone.now())}
        if retry_next:
            result.cursor["retry"] = retry_next
        return result

    # --- outbound --------------------------------------------------------------------------

    def _upload(self, message: OutboundMessage) -> list[dict[str, str]]:
        ids = []
        for att in message.attachments:
            declared = self.client.request(
                "POST", "/sale/issues/attachments", json={"fileName": att.filename, "size": len(att.payload)}
            )
            self.client.upload(f"/sale/issues/attachments/{declared['id']}", att.payload, att.content_type)
            ids.append({"id": declared["id"]})
        return ids

    def send(self, message: OutboundMessage) -> SendReceipt:
        body: dict[str, Any] = {"text": message.text, "type": "REGULAR"}
        if message.attachments:
            body["attachments"] = self._upload(message)
        # 409 (the issue's state forbids messages) is permanent: shown to the agent, not retried.
        response = self.client.request(
            "POST", f"/sale/issues/{message.conversation_external_id}/message", json=body
        )
        return SendReceipt(
            external_id=response["id"],
            sent_at=parse_time(response.get("createdAt")) or timezone.now(),
            raw=response,
        )

    def find_sent(self, message: OutboundMessage) -> SendReceipt | None:
        after = (message.created_at or timezone.now()) - timedelta(minutes=1)
        for raw in self._chat(message.conversation_external_id):
            created = parse_time(raw.get("createdAt"))
            role = (raw.get("author") or {}).get("role")
            if role == "SELLER" and raw.get("text") == message.text and created and created >= after:
                return SendReceipt(external_id=raw["id"], sent_at=created, raw=raw)
        return None

    def claim_decide(
        self, issue_id: str, *, status: str, message: str = "", partial_refund: tuple[str, str] | None = None
    ) -> dict[str, Any]:
        if status not in CLAIM_ACCEPT + CLAIM_REJECT:
            raise PermanentChannelError(f"Unknown claim decision {status!r}")
        if not message.strip():
            raise PermanentChannelError("A claim decision needs a message to the buyer")
        body: dict[str, Any] = {"status": status, "message": message}
        if status == "ACCEPTED_PARTIAL_REFUND":
            if not partial_refund:
                raise PermanentChannelError("A partial refund needs an amount")
            body["partialRefund"] = {"amount": partial_refund[0], "currency": partial_refund[1]}
        return self.client.request("POST", f"/sale/issues/{issue_id}/status", json=body) or {}
