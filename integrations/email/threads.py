"""Which conversation a mail belongs to (rules.md §1: one conversation per mail thread).

The first rule that matches wins:

1. **Our own mail.** A Message-ID we generated (an outbound reply of this mailbox) named by
   In-Reply-To, References or, for a bounce, by the returned original (its Message-ID or its
   ``X-Replydesk-Id``) → that reply's conversation.
2. **In-Reply-To and References.** Any stored mail they name (newest reference first), or a
   conversation whose thread root they name → that conversation.
3. **The subject token** ``[#RD-123]`` that our replies carry → conversation 123 of this mailbox,
   but only when the sender is that conversation's contact (a token alone must not let anyone
   write into somebody else's conversation).
4. **Same buyer, same subject, within 14 days.** A conversation of the same contact — or of the
   same Allegro order, via the masked address's ``+txid`` — whose subject normalises to the same
   (``normalize_subject``: "Re:/Odp:/Fwd:" and the token stripped), with activity within 14 days
   before this mail → that conversation.
5. Otherwise a **new conversation**, keyed by the thread root: the first References id, else
   In-Reply-To, else the mail's own Message-ID. A later mail of the same thread names that root,
   so it meets the conversation in rule 2 even when the root itself was never seen.

The token is short on purpose and goes at the end of our subjects ("Re: Zamówienie 123 [#RD-45]"):
it survives clients that drop In-Reply-To (some webmails, "reply" from a phone's share sheet).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Q

from inbox.models import ChannelAccount, ContactIdentity, Conversation, Message

from .parsing import normalize_subject

SUBJECT_WINDOW = timedelta(days=14)
_TOKEN = re.compile(r"\s*\[#RD-(\d{1,12})\]", re.IGNORECASE)
_CONVERSATION_KEY_MAX = 200  # Conversation.external_id
_MESSAGE_KEY_MAX = 300  # Message.external_id


def subject_token(conversation_pk: int) -> str:
    return f"[#RD-{conversation_pk}]"


def subject_token_id(subject: str) -> int | None:
    match = _TOKEN.search(subject or "")
    return int(match.group(1)) if match else None


def subject_without_token(subject: str) -> str:
    return _TOKEN.sub("", subject or "").strip()


def subject_key(subject: str) -> str:
    """What two subjects of one thread have in common ("" when nothing is left)."""
    return normalize_subject(subject_without_token(subject))


def _bounded(value: str, limit: int) -> str:
    if len(value) <= limit:
        return value
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"{value[: limit - 33]}#{digest}"


def message_key(message_id: str) -> str:
    """Message.external_id for a Message-ID (long ids are shortened with a hash, deterministically)."""
    return _bounded(message_id, _MESSAGE_KEY_MAX)


def conversation_key(message_id: str) -> str:
    """Conversation.external_id for a thread root Message-ID."""
    return _bounded(message_id, _CONVERSATION_KEY_MAX)


def contact_identity_of(address: str) -> tuple[str, str]:
    """(ContactIdentity kind, value) as `inbox.services.conversation_get_or_create` stores them."""
    address = (address or "").strip().lower()
    kind = (
        ContactIdentity.Kind.ALLEGROMAIL
        if address.endswith("@allegromail.pl")
        else ContactIdentity.Kind.EMAIL
    )
    return kind, address


@dataclass
class ThreadContext:
    """What one fetch has already threaded (Message-ID → conversation key), stored or not yet.

    `sources` is filled by a batch import (`ingest.email_import`) inside its transaction: the
    stored `EmailSource` rows of each Message-ID it looked up at once (an absent key means "not
    looked up", an empty list "none stored").
    """

    by_message_id: dict[str, str] = field(default_factory=dict)
    sources: dict[str, list[tuple]] = field(default_factory=dict)


@dataclass(frozen=True)
class ThreadMatch:
    conversation_external_id: str
    rule: str  # "own", "references", "token", "subject", "new"
    conversation_id: int | None = None


def _first_in_order(
    ids: Sequence[str], found: dict[str, tuple[str, int | None]]
) -> tuple[str, int | None] | None:
    for candidate in ids:
        if candidate in found:
            return found[candidate]
    return None


def thread_resolve(
    account: ChannelAccount,
    *,
    message_id: str,
    thread_ids: Sequence[str],
    own_candidate_ids: Sequence[str] = (),
    replydesk_keys: Iterable[str] = (),
    subject: str,
    contact_address: str,
    order_id: str,
    at: datetime,
    outbound: bool = False,
    context: ThreadContext | None = None,
) -> ThreadMatch:
    """The conversation (by external id) this mail belongs to; see the module docstring."""
    context = context or ThreadContext()
    ids = [i for i in dict.fromkeys(thread_ids) if i]

    # 1. Our own replies, named by the mail (or by the original a bounce returns), and 2. any
    # stored mail named by In-Reply-To/References: one query for both.
    own_ids = [i for i in dict.fromkeys([*own_candidate_ids, *ids]) if i]
    stored: dict[str, tuple[str, int | None]] = {}
    if own_ids:
        keys = {message_key(i): i for i in own_ids}
        own: dict[str, tuple[str, int | None]] = {}
        for ext, direction, conv_ext, conv_id in Message.objects.filter(
            account=account, external_id__in=list(keys)
        ).values_list("external_id", "direction", "conversation__external_id", "conversation_id"):
            stored[keys[ext]] = (conv_ext, conv_id)
            if direction == Message.Direction.OUTBOUND:
                own[keys[ext]] = (conv_ext, conv_id)
        hit = _first_in_order(own_ids, own)
        if hit:
            return ThreadMatch(hit[0], "own", hit[1])
    keys_list = [k for k in replydesk_keys if k]
    if keys_list:
        row = (
            Message.objects.filter(
                account=account, direction=Message.Direction.OUTBOUND, idempotency_key__in=keys_list
            )
            .values_list("conversation__external_id", "conversation_id")
            .first()
        )
        if row:
            return ThreadMatch(row[0], "own", row[1])
    if ids:
        found = {i: (context.by_message_id[i], None) for i in ids if i in context.by_message_id}
        for i in ids:
            if i in stored:
                found.setdefault(i, stored[i])
        hit = _first_in_order(ids, found)
        if hit:
            return ThreadMatch(hit[0], "references", hit[1])
        conv_keys = {conversation_key(i): i for i in ids}
        for conv_ext, conv_id in Conversation.objects.filter(
            account=account, kind=Conversation.Kind.EMAIL, external_id__in=list(conv_keys)
        ).values_list("external_id", "id"):
            found.setdefault(conv_keys[conv_ext], (conv_ext, conv_id))
        hit = _first_in_order(ids, found)
        if hit:
            return ThreadMatch(hit[0], "references", hit[1])

    # The sender as a contact identity (joined in the queries below, not looked up on its own).
    identity_kind, identity_value = contact_identity_of(contact_address)
    is_contact = Q(
        contact__identities__organization_id=account.organization_id,
        contact__identities__kind=identity_kind,
        contact__identities__value=identity_value,
    )

    # 3. The subject token, for the conversation's own contact (or the seller writing).
    token = subject_token_id(subject)
    if token is not None and (outbound or identity_value):
        conversations = Conversation.objects.filter(account=account, kind=Conversation.Kind.EMAIL, pk=token)
        if not outbound:
            conversations = conversations.filter(is_contact)
        row = conversations.values_list("external_id", "id").first()
        if row:
            return ThreadMatch(row[0], "token", row[1])

    # 4. Same contact or same order, same normalised subject, active within 14 days of this mail.
    # The sender's contacts are looked up first (a unique index) and their conversations then by
    # contact id: joined in one statement, the planner may walk every conversation of the account
    # per mail instead (an import of thousands of mails slowed down as it went).
    key = subject_key(subject)
    contact_ids: list[int] = []
    if key and identity_value:
        contact_ids = list(
            ContactIdentity.objects.filter(
                organization_id=account.organization_id, kind=identity_kind, value=identity_value
            ).values_list("contact_id", flat=True)
        )
    if key and (contact_ids or order_id):
        who = Q(pk__in=[])
        if contact_ids:
            who |= Q(contact_id__in=contact_ids)
        if order_id:
            who |= Q(order_id=order_id)
        rows = (
            Conversation.objects.filter(
                who,
                account=account,
                kind=Conversation.Kind.EMAIL,
                last_message_at__gte=at - SUBJECT_WINDOW,
            )
            .order_by("-last_message_at")
            .values_list("external_id", "id", "subject")[:50]
        )
        for conv_ext, conv_id, conversation_subject in rows:
            if subject_key(conversation_subject) == key:
                return ThreadMatch(conv_ext, "subject", conv_id)

    # 5. A new conversation, keyed by the thread root. `thread_ids` is In-Reply-To, then References
    # newest first: the root is the last one (the first References id).
    return ThreadMatch(conversation_key(ids[-1] if ids else message_id), "new", None)
