"""The notification planner: pure decisions (no ORM, no clock; callers pass `now`).

What Allegro already sends to the buyer (purchase confirmation, payment received, parcel status,
cancellation) is never sent again: such signals are *suppressed* and counted. The seller's own
triggers (order packed, invoice issued, return received) are *planned*; what is due to one buyer
within the merge window becomes one message (*merged*); a cap per buyer and order *holds* the rest
for the seller to release or drop (rules.md §5).
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta


def gettext_noop(message: str) -> str:
    """Marks a msgid for makemessages; pure modules do not import Django's translation."""
    return message


# Allegro order event type → notification kind (allegro-api.md §8).
ALLEGRO_EVENT_KINDS = {
    "BOUGHT": "purchase_confirmation",
    "READY_FOR_PROCESSING": "payment_received",
    "FULFILLMENT_STATUS_CHANGED": "parcel_status",
    "BUYER_CANCELLED": "order_cancelled",
    "AUTO_CANCELLED": "order_cancelled",
}
# FILLED_IN (checkout filled in, not paid) and BUYER_MODIFIED tell the buyer nothing new: ignored.

# What the marketplace already tells the buyer itself (rules.md §5): never sent again.
MARKETPLACE_SENT = frozenset(
    {"purchase_confirmation", "payment_received", "parcel_status", "order_shipped", "order_cancelled"}
)
# What sellers say is worth a message (seed 002).
SELLER_KINDS = ("order_packed", "invoice_issued", "return_received")
ALL_KINDS = tuple(sorted(MARKETPLACE_SENT)) + SELLER_KINDS
# Order in which the parts of a merged message appear.
KIND_ORDER = {kind: i for i, kind in enumerate(SELLER_KINDS)}

PLANNED = "planned"
MERGED = "merged"
SUPPRESSED = "suppressed"
HELD = "held"
SENT = "sent"
DROPPED = "dropped"

# Reasons (English msgids; views translate them).
R_MARKETPLACE = gettext_noop("Allegro already sends this to the buyer")
R_REPEAT = gettext_noop("Already notified for this order")
R_CANCELLED = gettext_noop("The order was cancelled")
R_CAP_ORDER = gettext_noop("Limit of messages for this order reached")
R_CAP_BUYER = gettext_noop("Limit of messages to this buyer today reached")
R_NO_CHANNEL = gettext_noop("No channel to reach this buyer")
R_DISABLED = gettext_noop("Notifications are turned off")
R_MERGED = gettext_noop("Merged into one message")
R_COMPLIANCE = gettext_noop("Repeats a marketplace notification")
R_UNKNOWN = gettext_noop("Not known whether Allegro received it: check the conversation before sending again")


@dataclass(frozen=True)
class Policy:
    enabled: bool = True
    merge_window: timedelta = timedelta(minutes=30)
    cap_per_order: int = 2
    cap_per_buyer_day: int = 4


@dataclass(frozen=True)
class Signal:
    """Something happened to an order: an Allegro order event or a seller trigger."""

    kind: str
    order_id: str
    buyer: str  # buyer key: Allegro login, or e-mail address
    occurred_at: datetime
    event_id: str = ""


@dataclass(frozen=True)
class Prior:
    """A notification already recorded (any state)."""

    kind: str
    order_id: str
    buyer: str
    state: str
    planned_at: datetime
    event_id: str = ""


@dataclass(frozen=True)
class Decision:
    state: str
    reason: str = ""


def decide(signal: Signal, prior: Sequence[Prior], policy: Policy, *, now: datetime) -> Decision:
    """What to do with one new signal, given what is already recorded for the buyer."""
    if signal.kind in MARKETPLACE_SENT:
        return Decision(SUPPRESSED, R_MARKETPLACE)
    if not policy.enabled:
        return Decision(SUPPRESSED, R_DISABLED)
    prior = [p for p in prior if p.buyer == signal.buyer]
    same_order = [p for p in prior if p.order_id == signal.order_id]
    # Events may arrive out of order: a cancellation known at all (even if it "happened" later
    # or arrived first) stops seller notifications about the order — except the return/refund.
    if signal.kind != "return_received" and any(p.kind == "order_cancelled" for p in same_order):
        return Decision(HELD, R_CANCELLED)
    if any(p.kind == signal.kind and p.state in (PLANNED, SENT, MERGED, HELD) for p in same_order):
        return Decision(SUPPRESSED, R_REPEAT)
    # Caps count messages: each sent one, plus the buyer's open batch (planned items leave as one
    # message). A signal that joins the open batch adds no message, so no cap applies to it.
    planned = [p for p in prior if p.state == PLANNED]
    if planned and now < min(p.planned_at for p in planned) + policy.merge_window:
        return Decision(PLANNED)
    order_messages = sum(1 for p in same_order if p.state == SENT) + int(
        any(p.state == PLANNED for p in same_order)
    )
    if order_messages >= policy.cap_per_order:
        return Decision(HELD, R_CAP_ORDER)
    day_ago = now - timedelta(days=1)
    buyer_messages = sum(1 for p in prior if p.state == SENT and p.planned_at >= day_ago) + int(bool(planned))
    if buyer_messages >= policy.cap_per_buyer_day:
        return Decision(HELD, R_CAP_BUYER)
    return Decision(PLANNED)


def cancelled_orders(signals: Iterable[Signal | Prior]) -> set[str]:
    return {s.order_id for s in signals if s.kind == "order_cancelled"}


@dataclass
class Batch:
    """Planned notifications to one buyer that leave as one message."""

    buyer: str
    items: list = field(default_factory=list)  # caller's rows/objects, in send order

    @property
    def primary(self):
        return self.items[0]

    @property
    def merged(self) -> list:
        return self.items[1:]


def batches_due(
    planned: Sequence, *, window: timedelta, now: datetime, key=lambda r: (r.buyer, r.planned_at, r.kind)
) -> list[Batch]:
    """Group planned items per buyer; a group is due once the window after its first item passed.

    `planned` holds objects with `buyer`, `planned_at` and `kind` (rows or `Prior`s); `key` maps
    them to that triple. Items planned within `window` of the group's first item join it; an item
    planned later starts the buyer's next group (which waits its own window).
    """
    by_buyer: dict[str, list] = {}
    for item in sorted(planned, key=lambda r: (key(r)[0], key(r)[1])):
        by_buyer.setdefault(key(item)[0], []).append(item)
    due: list[Batch] = []
    for buyer, items in by_buyer.items():
        first_at = key(items[0])[1]
        if now < first_at + window:
            continue
        group = [i for i in items if key(i)[1] < first_at + window]
        group.sort(key=lambda i: (KIND_ORDER.get(key(i)[2], 99), key(i)[1]))
        due.append(Batch(buyer=buyer, items=group))
    return due


# --- channel choice ------------------------------------------------------------------------------

ALLEGRO_THREAD = "allegro_thread"  # the buyer's existing Allegro conversation
ALLEGRO_NEW = "allegro_new"  # start a Message Center thread about the order
EMAIL = "email"
NONE = ""


def choose_channel(
    *, buyer_login: str, has_allegro_account: bool, has_thread: bool, buyer_email: str, has_mailbox: bool
) -> str:
    """Allegro buyers are written to in Allegro's Message Center; others by e-mail if we can."""
    if buyer_login and has_allegro_account:
        return ALLEGRO_THREAD if has_thread else ALLEGRO_NEW
    if buyer_email and has_mailbox:
        return EMAIL
    return NONE


# --- templates -------------------------------------------------------------------------------------

VARIABLES = ("buyer_name", "order_id", "items", "tracking_number", "return_address")


class _Vars(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def render(template: str, context: dict) -> str:
    """`{buyer_name}`-style substitution; unknown names stay as written (no KeyError, no attributes)."""
    values = _Vars({k: str(v) for k, v in context.items() if k in VARIABLES})
    out = []
    for literal, name, _spec, _conv in string.Formatter().parse(template):
        out.append(literal)
        if name is not None:
            out.append(values[name] if name.isidentifier() else "{" + name + "}")
    return "".join(out)


def merge_texts(parts: Sequence[str], *, greeting: str = "", signature: str = "") -> str:
    body = "\n\n".join(p.strip() for p in parts if p and p.strip())
    return "\n\n".join(x for x in (greeting.strip(), body, signature.strip()) if x)
