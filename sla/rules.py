"""Which messages start and which stop a reply clock. # rules.md §2.1

The one place these rules live: `inbox.services` uses the predicates for the conversation's
`awaiting_reply_since`, `sla.services` for clocks, and the replay selects the same messages in SQL
with the matching `Q` objects. Change a predicate and its `Q` together (tests/sla/test_rules.py).
"""

from __future__ import annotations

from django.db.models import Q

from inbox.models import Message

#: The ConversationEvent kind an agent's "no reply needed" writes (audit; the replay reads it back).
NO_REPLY_NEEDED_EVENT = "no_reply_needed"


def is_clock_start(message: Message) -> bool:
    """Only a person's inbound message starts a reply clock (rules.md §2.1).

    Inbound auto-replies, bounces, bulk mail and marketplace system messages never start one.
    """
    return (
        message.direction == Message.Direction.INBOUND
        and message.author_type == Message.AuthorType.BUYER
        and message.classification == Message.Classification.HUMAN
    )


def is_human_reply(message: Message) -> bool:
    """Only a delivered reply written by a person stops it (rules.md §2.1).

    Automatic outbound messages (autoresponders, acknowledgements, bulk notifications) never do.
    """
    return (
        message.direction == Message.Direction.OUTBOUND
        and message.author_type == Message.AuthorType.AGENT
        and message.delivery_status == Message.DeliveryStatus.DELIVERED
    )


#: SQL twin of `is_clock_start`.
CLOCK_START_Q = Q(
    direction=Message.Direction.INBOUND,
    author_type=Message.AuthorType.BUYER,
    classification=Message.Classification.HUMAN,
)
#: SQL twin of `is_human_reply`.
HUMAN_REPLY_Q = Q(
    direction=Message.Direction.OUTBOUND,
    author_type=Message.AuthorType.AGENT,
    delivery_status=Message.DeliveryStatus.DELIVERED,
)
