"""What every Allegro source shares: time parsing and the Source interface."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from integrations.contracts import (
    ConversationUpdate,
    FetchProblem,
    InboundMessage,
    OutboundMessage,
    SendReceipt,
)

from ..client import AllegroClient


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = parse_datetime(value)
    except ValueError:
        return None
    if parsed is None:
        return None
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, UTC)
    return parsed


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class SourceResult:
    items: list[InboundMessage] = field(default_factory=list)
    updates: list[ConversationUpdate] = field(default_factory=list)
    cursor: dict[str, Any] = field(default_factory=dict)
    # Payloads that could not be used (issue #9) and items retried after a problem that now read cleanly.
    problems: list[FetchProblem] = field(default_factory=list)
    resolved: list[tuple[str, str]] = field(default_factory=list)


# Problem codes (integrations.models.SyncProblem.Code values; sources stay free of the ORM).
THREAD_UNREADABLE = "thread_unreadable"
MESSAGES_UNREADABLE = "messages_unreadable"
MESSAGE_UNREADABLE = "message_unreadable"
ISSUE_UNREADABLE = "issue_unreadable"
# Times a sync reads a failing thread or issue again before it records it and moves on.
MAX_RETRIES = 3


def kind_of(value: Any) -> str:
    """The JSON type name of a parsed value, for problem notes ("a string", "null"…)."""
    names = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def keep_objects(entries: list, into: list, problems: list, what: str) -> None:
    """Append a page's JSON objects to `into`; any other entry is noted as an unreadable message."""
    for entry in entries:
        if isinstance(entry, dict):
            into.append(entry)
        else:
            problems.append((MESSAGE_UNREADABLE, f"a {what} entry is {kind_of(entry)}, not an object", entry))


class Source(Protocol):
    """One Allegro resource family that yields conversations (Message Center, issues, …).

    `name` is stored in each conversation's details["source"], so replies are routed back to the
    source the conversation came from; the inbox never sees the difference.
    """

    name: str

    def __init__(self, client: AllegroClient) -> None: ...

    def fetch(self, cursor: dict[str, Any]) -> SourceResult: ...

    def send(self, message: OutboundMessage) -> SendReceipt: ...

    def find_sent(self, message: OutboundMessage) -> SendReceipt | None: ...
