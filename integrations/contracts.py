"""The one interface between the inbox and every channel (Allegro, e-mail).

The inbox sees only these vendor-neutral dataclasses; each channel lives in its own folder in
integrations/ behind a `ChannelAdapter`. See docs/architecture.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

if TYPE_CHECKING:
    from inbox.models import ChannelAccount, Message


class ChannelError(Exception):
    """A channel operation failed. `permanent` errors are not retried."""

    permanent: bool = False

    def __init__(self, message: str, *, user_message: str = "", status: int | None = None, code: str = ""):
        super().__init__(message)
        self.user_message = user_message or message
        self.status = status
        self.code = code


class TransientChannelError(ChannelError):
    permanent = False


class PermanentChannelError(ChannelError):
    permanent = True


class AuthorizationLost(PermanentChannelError):
    """The account's authorization is gone (refresh failed); the owner must reconnect it."""


@dataclass(frozen=True)
class InboundAttachment:
    filename: str
    content_type: str = "application/octet-stream"
    size: int = 0
    url: str = ""
    external_id: str = ""
    content_id: str = ""
    payload: bytes | None = None


@dataclass(frozen=True)
class InboundMessage:
    """One message as a channel delivered it, already mapped to our vocabulary."""

    external_id: str
    conversation_external_id: str
    conversation_kind: str  # inbox.models.Conversation.Kind value
    direction: str  # "in" | "out"
    author_type: str  # inbox.models.Message.AuthorType value
    created_at: datetime
    text: str
    author_name: str = ""
    subject: str = ""
    html: str = ""
    classification: str = "human"
    # The buyer behind the conversation (login, masked address, …) for the contact record.
    buyer_login: str = ""
    buyer_id: str = ""
    buyer_email: str = ""
    order_id: str = ""
    offer_id: str = ""
    attachments: tuple[InboundAttachment, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict)
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class ConversationUpdate:
    """Marketplace-side state of a conversation (e.g. an issue's status), applied on sync."""

    external_id: str
    kind: str
    subject: str = ""
    marketplace_state: str = ""
    reply_blocked_reason: str = ""
    buyer_login: str = ""
    order_id: str = ""
    offer_id: str = ""
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FetchProblem:
    """A payload a sync could not (fully) use: kept raw and shown to the seller (issue #9).

    `kind` is what it was (thread, message, issue, source…), `external_id` the channel's id of it
    (a digest of the payload when it has none), `code` one of `integrations.models.SyncProblem.Code`,
    `detail` a technical note in English, stable between syncs (no counters, no clock), `retrying`
    whether the next sync reads it again.
    """

    kind: str
    external_id: str
    code: str
    detail: str
    raw: Any = None
    retrying: bool = False


@dataclass(frozen=True)
class StoredItem:
    """An item the adapter stored itself (a mailbox stores a batch of mails per transaction): the
    sync counts it (`created`: a new message) and stores nothing more."""

    item: InboundMessage
    created: bool


@dataclass
class FetchResult:
    """What one sync found. `cursor` is saved only after every item has been stored."""

    items: Iterator[InboundMessage | StoredItem] | list[InboundMessage]
    cursor: dict[str, Any]
    conversations: list[ConversationUpdate] = field(default_factory=list)
    http_calls: int = 0
    # Payloads that could not be used (the rest of the sync went on) and (kind, external_id) of
    # items retried after a problem that now read cleanly (their problems are marked resolved).
    problems: list[FetchProblem] = field(default_factory=list)
    resolved: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class OutboundAttachment:
    filename: str
    content_type: str
    payload: bytes


@dataclass(frozen=True)
class OutboundMessage:
    message_id: int
    idempotency_key: str
    conversation_external_id: str
    conversation_kind: str
    text: str
    buyer_login: str = ""
    order_id: str = ""
    subject: str = ""
    in_reply_to: str = ""
    references: tuple[str, ...] = ()
    is_automatic: bool = False
    attachments: tuple[OutboundAttachment, ...] = ()
    # Which of the channel's sources the conversation came from (Conversation.details["source"]).
    source: str = ""
    # When the reply was written: a send can only have happened after it (reconciliation).
    created_at: datetime | None = None


@dataclass(frozen=True)
class SendReceipt:
    external_id: str
    sent_at: datetime
    raw: dict[str, Any] = field(default_factory=dict)


class ChannelAdapter(Protocol):
    kind: ClassVar[str]

    def __init__(self, account: ChannelAccount) -> None: ...

    def fetch(self, *, cursor: dict[str, Any]) -> FetchResult:
        """New inbound (and externally written outbound) items since `cursor`, and the next cursor."""

    def send(self, message: OutboundMessage) -> SendReceipt:
        """Deliver one reply; raise ChannelError (permanent or transient) on failure."""

    def find_sent(self, message: OutboundMessage) -> SendReceipt | None:
        """After a crash mid-send: the provider's copy of this reply if it did go out, else None."""


def _read(field_file) -> bytes:
    with field_file.open("rb") as fh:  # closed after reading, whatever the storage
        return fh.read()


def outbound_from_message(message: Message) -> OutboundMessage:
    conversation = message.conversation
    details = conversation.details or {}
    return OutboundMessage(
        message_id=message.pk,
        idempotency_key=str(message.idempotency_key),
        conversation_external_id=conversation.external_id,
        conversation_kind=conversation.kind,
        text=message.text,
        buyer_login=details.get("buyer_login", ""),
        order_id=conversation.order_id,
        subject=conversation.subject,
        is_automatic=message.author_type == "automation",
        attachments=tuple(
            OutboundAttachment(filename=a.filename, content_type=a.content_type, payload=_read(a.file))
            for a in message.attachments.all()
            if a.file
        ),
        source=details.get("source", ""),
        created_at=message.created_at,
    )
