"""Marketplace cases (discussions, claims) as agents see them: labels and the dated timeline.

The timeline follows rules.md §6; Allegro does not publish these rules (allegro-api.md §7 marks them
unverified), so the day counts are settings (DISCUSSION_TIMELINE) and the UI says they are estimates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _

from .models import Conversation

STATE_LABELS = {
    "DISPUTE_ONGOING": _("Discussion in progress"),
    "DISPUTE_UNRESOLVED": _("Discussion unresolved"),
    "DISPUTE_CLOSED": _("Discussion closed"),
    "CLAIM_SUBMITTED": _("Claim submitted"),
    "CLAIM_ACCEPTED": _("Claim accepted"),
    "CLAIM_REJECTED": _("Claim rejected"),
    # "Problemy z zakupem" threads of the beta /messaging (allegro-api.md §3, unverified statuses).
    "OPEN": _("Purchase problem open"),
    "CLOSED": _("Purchase problem closed"),
}
# The Sales Center's three state filters (issue #4): in progress, unresolved, closed.
STATE_GROUPS = {
    "in_progress": ("DISPUTE_ONGOING", "CLAIM_SUBMITTED", "OPEN"),
    "unresolved": ("DISPUTE_UNRESOLVED",),
    "closed": ("DISPUTE_CLOSED", "CLAIM_ACCEPTED", "CLAIM_REJECTED", "CLOSED"),
}
EXPECTATION_LABELS = {
    "REPAIR": _("repair"),
    "EXCHANGE": _("exchange"),
    "REFUND": _("refund"),
    "PARTIAL_REFUND": _("partial refund"),
}
NOT_RECEIVED_REASONS = {"NO_PRODUCT_RECEIVED", "DID_NOT_RECEIVE_GOODS_AFTER_PAYMENT"}
DEFAULT_TIMELINE = {
    "unresolved_after_days_not_received": 7,
    "unresolved_after_days_other": 14,
    "auto_close_days": 30,
}


@dataclass(frozen=True)
class Milestone:
    at: datetime
    label: str
    past: bool


def _time(value: Any) -> datetime | None:
    return parse_datetime(value) if isinstance(value, str) else None


def case_timeline(conversation: Conversation, *, now: datetime) -> list[Milestone]:
    """Dated milestones of a discussion or claim (rules.md §6), oldest first."""
    issue = (conversation.details or {}).get("issue") or {}
    if conversation.kind not in (Conversation.Kind.DISCUSSION, Conversation.Kind.CLAIM) or not issue:
        return []
    rules = {**DEFAULT_TIMELINE, **getattr(settings, "DISCUSSION_TIMELINE", {})}
    opened = _time(issue.get("openedDate"))
    points: list[tuple[datetime, str]] = []
    if opened:
        points.append((opened, str(_("opened"))))
    if (
        conversation.kind == Conversation.Kind.DISCUSSION
        and opened
        and issue.get("status") == "DISPUTE_ONGOING"
    ):
        reason = (issue.get("reason") or {}).get("type")
        days = rules[
            "unresolved_after_days_not_received"
            if reason in NOT_RECEIVED_REASONS
            else "unresolved_after_days_other"
        ]
        points.append((opened + timedelta(days=days), str(_("buyer may mark it unresolved from"))))
        points.append(
            (
                opened + timedelta(days=rules["auto_close_days"]),
                str(_("closes automatically on (unless marked)")),
            )
        )
    if due := _time(issue.get("statusDueDate")):
        points.append((due, str(_("current state due"))))
    if decision := _time(issue.get("decisionDueDate")):
        points.append((decision, str(_("claim decision due"))))
    return [Milestone(at=at, label=label, past=at <= now) for at, label in sorted(points, key=lambda p: p[0])]


def case_summary(conversation: Conversation) -> dict[str, Any]:
    """What the conversation view shows about the order and the buyer's case."""
    issue = (conversation.details or {}).get("issue") or {}
    expectations = []
    for exp in issue.get("expectations") or []:
        if not isinstance(exp, dict):
            continue
        label = EXPECTATION_LABELS.get(str(exp.get("name")), exp.get("name") or "—")
        refund = exp.get("refund") or {}
        expectations.append(
            f"{label} {refund.get('amount')} {refund.get('currency')}" if refund else str(label)
        )
    reason = issue.get("reason") or {}
    offer = issue.get("offer") or {}
    checkout = issue.get("checkoutForm") or {}
    return {
        "state_label": STATE_LABELS.get(conversation.marketplace_state, conversation.marketplace_state),
        "type": issue.get("type"),
        "reference": issue.get("referenceNumber"),
        "checkout_form_id": checkout.get("id") or conversation.order_id,
        "ordered_at": _time(checkout.get("createdAt")),
        "offer_id": offer.get("id") or conversation.offer_id,
        "quantity": offer.get("quantity"),
        "expectations": expectations,
        "reason_type": reason.get("type"),
        "reason_description": reason.get("description"),
        "description": issue.get("description"),
        "right": issue.get("right"),
        "decision_due": _time(issue.get("decisionDueDate")),
        "return_required": issue.get("returnRequired"),
        "is_claim": conversation.kind == Conversation.Kind.CLAIM,
        "claim_open": conversation.marketplace_state == "CLAIM_SUBMITTED",
    }
