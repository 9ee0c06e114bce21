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
    InboundAttachment,
    InboundMessage,
    OutboundMessage,
    PermanentChannelError,
    SendReceipt,
)

from ..client import AllegroClient
from .common import SourceResult, iso, parse_time

logger = logging.getLogger(__name__)

PAGE = 100  # the API's maximum for /sale/issues and its chat
OPEN_STATUSES = ("DISPUTE_ONGOING", "DISPUTE_UNRESOLVED", "CLAIM_SUBMITTED")
IMPORT_DAYS = 60
KIND = {"DISPUTE": "discussion", "CLAIM": "claim"}
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


def _signature(issue: dict[str, Any]) -> list[Any]:
    chat = issue.get("chat") or {}
    last = chat.get("lastMessage") or {}
    return [chat.get("messagesCount"), last.get("createdAt"), last.get("status")]


def issue_update(issue: dict[str, Any]) -> ConversationUpdate | None:
    issue_id = issue.get("id")
    kind = KIND.get(str(issue.get("type")))
    if not isinstance(issue_id, str) or kind is None:
        logger.warning("allegro issue without id or with unknown type skipped: %r", issue.get("type"))
        return None
    state = issue.get("currentState") or {}
    buyer = issue.get("buyer") or {}
    checkout = issue.get("checkoutForm") or {}
    offer = issue.get("offer") or {}
    chat_active = state.get("chatActive")
    reason = issue.get("reason") or {}
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
            "lastMessageStatus": ((issue.get("chat") or {}).get("lastMessage") or {}).get("status"),
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
    author = raw.get("author") or {}
    role = str(author.get("role") or "")
    if role == "BUYER":
        direction, author_type, classification = "in", "buyer", "human"
    elif role == "SELLER":
        direction, author_type, classification = "out", "agent", "human"
    else:  # ADMIN (Allegro advisor), SYSTEM, FULFILLMENT: shown, but never start a clock (rules.md §2.1)
        direction, author_type, classification = "in", "marketplace", "system"
    attachments = tuple(
        InboundAttachment(filename=str(a.get("fileName")), url=str(a.get("url") or ""))
        for a in raw.get("attachments") or []
        if isinstance(a, dict) and a.get("fileName")
    )
    return InboundMessage(
        external_id=msg_id,
        conversation_external_id=issue_id,
        conversation_kind=kind,
        direction=direction,
        author_type=author_type,
        author_name=str(author.get("login") or role.title()),
        classification=classification,
        created_at=created,
        text=str(raw.get("text") or ""),
        buyer_login=buyer_login,
        attachments=attachments,
        raw=raw,
        problems=tuple(problems),
    )


class SaleIssues:
    name = "sale_issues"

    def __init__(self, client: AllegroClient) -> None:
        self.client = client

    def _list(self, *, statuses: tuple[str, ...] = (), opened_after=None) -> list[dict[str, Any]]:
        issues: list[dict[str, Any]] = []
        offset = 0
        while True:
            params: list[tuple[str, Any]] = [("limit", PAGE), ("offset", offset)]
            params += [("status", s) for s in statuses]
            page = self.client.request("GET", "/sale/issues", params=params).get("issues") or []
            for issue in page:
                opened = parse_time(issue.get("openedDate"))
                if opened_after and opened and opened < opened_after:
                    return issues  # ordered by openedDate desc
                issues.append(issue)
            if len(page) < PAGE:
                return issues
            offset += PAGE

    def _chat(self, issue_id: str) -> list[dict[str, Any]]:
        chat: list[dict[str, Any]] = []
        offset = 0
        while True:
            page = (
                self.client.get(f"/sale/issues/{issue_id}/chat", limit=PAGE, offset=offset).get("chat") or []
            )
            chat.extend(page)
            if len(page) < PAGE:
                return chat
            offset += PAGE

    def fetch(self, cursor: dict[str, Any]) -> SourceResult:
        seen: dict[str, list[Any]] = dict(cursor.get("seen") or {})
        if not cursor.get("imported"):
            issues = self._list(opened_after=timezone.now() - timedelta(days=IMPORT_DAYS))
        else:
            issues = self._list(statuses=OPEN_STATUSES)
        listed = {i.get("id") for i in issues}
        for issue_id in [i for i in seen if i not in listed]:
            # Left the open list: read its final state once (closed, accepted, rejected…).
            issues.append(self.client.get(f"/sale/issues/{issue_id}"))
        result = SourceResult()
        new_seen: dict[str, list[Any]] = {}
        for issue in issues:
            update = issue_update(issue)
            if update is None:
                continue
            result.updates.append(update)
            signature = _signature(issue)
            if seen.get(update.external_id) != signature:
                for raw in self._chat(update.external_id):
                    item = chat_to_inbound(
                        raw, issue_id=update.external_id, kind=update.kind, buyer_login=update.buyer_login
                    )
                    if item is not None:
                        result.items.append(item)
            if update.marketplace_state in OPEN_STATUSES:
                new_seen[update.external_id] = signature
        result.cursor = {"imported": True, "seen": new_seen, "synced_at": iso(timezone.now())}
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
