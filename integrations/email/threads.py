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
   before this mail → that conversation (the most recent; of two as recent, the newer).
5. Otherwise a **new conversation**, keyed by the thread root: the first References id, else
   In-Reply-To, else the mail's own Message-ID. A later mail of the same thread names that root,
   so it meets the conversation in rule 2 even when the root itself was never seen.

The token is short on purpose and goes at the end of our subjects ("Re: Zamówienie 123 [#RD-45]"):
it survives clients that drop In-Reply-To (some webmails, "reply" from a phone's share sheet).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import F, Q, Window
from django.db.models.functions import RowNumber

from inbox.models import ChannelAccount, ContactIdentity, Conversation, Message

from .parsing import normalize_subject

SUBJECT_WINDOW = timedelta(days=14)
_TOKEN = re.compile(r"\s*\[#RD-(\d{1,12})\]", re.IGNORECASE)
_CONVERSATION_KEY_MAX = 200  # Conversation.external_id
_MESSAGE_KEY_MAX = 300  # Message.external_id
SUBJECT_CANDIDATES = 50  # rule 4 reads a contact's (or order's) most recent conversations only
_IN_CHUNK = 1000


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
    looked up", an empty list "none stored"). `lookups`, also a batch import's, holds what
    `thread_resolve` would otherwise ask the database per mail.
    """

    by_message_id: dict[str, str] = field(default_factory=dict)
    sources: dict[str, list[tuple]] = field(default_factory=dict)
    lookups: ThreadLookups | None = None


@dataclass(frozen=True)
class _Candidate:
    """A conversation rule 4 may pick: (external id, id, subject key, last activity)."""

    external_id: str
    id: int
    key: str
    last_message_at: datetime


@dataclass
class ThreadLookups:
    """`thread_resolve`'s lookups for a whole batch of mails, read in a few queries at its start.

    Used inside the batch's one transaction, and kept current by the batch itself: `stored()` is
    told every message it stores, so a later mail of the batch sees what an earlier one created
    exactly as a query would. A key that was not looked up at the start is looked up (and kept)
    when a mail asks for it, so the lookups are a cache: never a reason to thread differently.

    - `messages`: message key → (direction, conversation key, conversation id), or None if absent.
    - `conversations`: e-mail conversation key → id, or None if absent.
    - `contacts`: (identity kind, value) → the contacts' ids (rule 4's "same buyer").
    - rule 4's candidates: the 50 most recent conversations of every contact and order the batch
      names, active since `since` (the batch's oldest mail less 14 days), overlaid by the
      conversations the batch touched (`touched`, the live objects the store keeps).
    """

    account: ChannelAccount
    messages: dict[str, tuple[str, str, int] | None] = field(default_factory=dict)
    conversations: dict[str, int | None] = field(default_factory=dict)
    contacts: dict[tuple[str, str], tuple[int, ...]] = field(default_factory=dict)
    since: datetime | None = None
    by_contact: dict[int, list[_Candidate]] = field(default_factory=dict)
    by_order: dict[str, list[_Candidate]] = field(default_factory=dict)
    touched: dict[int, Conversation] = field(default_factory=dict)

    def prefetch(
        self,
        *,
        message_ids: Iterable[str],
        addresses: Iterable[str],
        order_ids: Iterable[str],
        since: datetime | None,
    ) -> None:
        """Look up, for the whole batch: the stored messages and conversations its thread ids name,
        its senders' contacts and rule 4's candidates of those contacts and orders since `since`."""
        account = self.account
        ids = [i for i in dict.fromkeys(message_ids) if i]
        self._messages_load([message_key(i) for i in ids])
        self._conversations_load([conversation_key(i) for i in ids])
        identities = {contact_identity_of(a) for a in addresses if a}
        identities.discard((ContactIdentity.Kind.EMAIL, ""))
        self._contacts_load(identities)
        if since is None:
            return
        self.since = since
        contact_ids = {c for ids_ in self.contacts.values() for c in ids_}
        orders = {o for o in order_ids if o}
        recent = Conversation.objects.filter(
            account=account, kind=Conversation.Kind.EMAIL, last_message_at__gte=since
        )
        # The 50 most recent per contact (and per order), as rule 4 reads them for one mail.
        for column, values, into in (
            ("contact_id", contact_ids, self.by_contact),
            ("order_id", orders, self.by_order),
        ):
            if not values:
                continue
            rank = Window(
                RowNumber(), partition_by=[F(column)], order_by=[F("last_message_at").desc(), F("id").desc()]
            )
            rows = (
                recent.filter(**{f"{column}__in": values})
                .annotate(rank=rank)
                .filter(rank__lte=SUBJECT_CANDIDATES)
                .values_list(column, "external_id", "id", "subject", "last_message_at")
            )
            for value in values:
                into[value] = []
            for value, ext, pk, subject, last in rows:
                into[value].append(_Candidate(ext, pk, subject_key(subject), last))

    @staticmethod
    def _load(cache: dict, keys: list[str], rows: Callable[[list[str]], Iterable[tuple]]) -> None:
        """Read the keys `cache` lacks ((key, value) `rows`, 1,000 keys a query); absent ones as None."""
        missing = [k for k in dict.fromkeys(keys) if k not in cache]
        for start in range(0, len(missing), _IN_CHUNK):
            chunk = missing[start : start + _IN_CHUNK]
            cache.update(dict.fromkeys(chunk))
            cache.update(rows(chunk))

    def _messages_load(self, keys: list[str]) -> None:
        def rows(chunk: list[str]) -> Iterable[tuple]:
            found = Message.objects.filter(account=self.account, external_id__in=chunk).values_list(
                "external_id", "direction", "conversation__external_id", "conversation_id"
            )
            return ((ext, (direction, conv_ext, conv_id)) for ext, direction, conv_ext, conv_id in found)

        self._load(self.messages, keys, rows)

    def _conversations_load(self, keys: list[str]) -> None:
        def rows(chunk: list[str]) -> Iterable[tuple]:
            return Conversation.objects.filter(
                account=self.account, kind=Conversation.Kind.EMAIL, external_id__in=chunk
            ).values_list("external_id", "id")

        self._load(self.conversations, keys, rows)

    def _contacts_load(self, identities: set[tuple[str, str]]) -> None:
        identities = {i for i in identities if i not in self.contacts}
        if not identities:
            return
        found: dict[tuple[str, str], list[int]] = {i: [] for i in identities}
        query = Q()
        for kind, value in identities:
            query |= Q(kind=kind, value=value)
        for kind, value, contact_id in ContactIdentity.objects.filter(
            query, organization_id=self.account.organization_id
        ).values_list("kind", "value", "contact_id"):
            found[(kind, value)].append(contact_id)
        self.contacts.update({i: tuple(ids) for i, ids in found.items()})

    # --- what thread_resolve asks -------------------------------------------------------------

    def stored_messages(self, keys: list[str]) -> dict[str, tuple[str, str, int]]:
        self._messages_load(keys)
        return {k: self.messages[k] for k in keys if self.messages[k] is not None}

    def stored_conversations(self, keys: list[str]) -> dict[str, int]:
        self._conversations_load(keys)
        return {k: self.conversations[k] for k in keys if self.conversations[k] is not None}

    def contact_ids(self, identity: tuple[str, str]) -> tuple[int, ...]:
        self._contacts_load({identity})
        return self.contacts[identity]

    def candidates(self, contact_ids: Iterable[int], order_id: str, since: datetime) -> list[_Candidate]:
        """Rule 4's candidates: the 50 most recent e-mail conversations of these contacts or this
        order active since `since` (of two as recent, the newer first) — from what the batch read at
        its start and has touched since, or else from the database."""
        contact_ids = set(contact_ids)
        if (
            self.since is None
            or since < self.since
            or not contact_ids <= self.by_contact.keys()
            or (order_id and order_id not in self.by_order)
        ):
            who = Q(pk__in=[])
            if contact_ids:
                who |= Q(contact_id__in=contact_ids)
            if order_id:
                who |= Q(order_id=order_id)
            rows = (
                Conversation.objects.filter(
                    who, account=self.account, kind=Conversation.Kind.EMAIL, last_message_at__gte=since
                )
                .order_by("-last_message_at", "-id")
                .values_list("external_id", "id", "subject", "last_message_at")[:SUBJECT_CANDIDATES]
            )
            return [_Candidate(ext, pk, subject_key(subject), last) for ext, pk, subject, last in rows]
        found: dict[int, _Candidate] = {}
        for contact_id in contact_ids:
            found.update((c.id, c) for c in self.by_contact[contact_id])
        if order_id:
            found.update((c.id, c) for c in self.by_order[order_id])
        for conversation in self.touched.values():  # as this batch left them
            found.pop(conversation.pk, None)
            if conversation.contact_id in contact_ids or (order_id and conversation.order_id == order_id):
                found[conversation.pk] = _Candidate(
                    conversation.external_id,
                    conversation.pk,
                    subject_key(conversation.subject),
                    conversation.last_message_at,
                )
        rows = sorted(
            (c for c in found.values() if c.last_message_at >= since),
            key=lambda c: (c.last_message_at, c.id),
            reverse=True,
        )
        return rows[:SUBJECT_CANDIDATES]

    # --- what the batch tells -----------------------------------------------------------------

    def stored(self, message: Message, *, contact_address: str) -> None:
        """A message the batch stored (in its conversation, which stays current in memory)."""
        conversation = message.conversation
        self.messages[message.external_id] = (message.direction, conversation.external_id, conversation.pk)
        if conversation.kind != Conversation.Kind.EMAIL:
            return
        key = conversation.external_id
        created = key in self.conversations and self.conversations[key] is None
        self.conversations[key] = conversation.pk
        self.touched[conversation.pk] = conversation
        identity = contact_identity_of(contact_address)
        if identity[1] and self.contacts.get(identity) == ():
            if created and conversation.contact_id is not None:
                # The store created the conversation and, the address being unknown, its contact:
                # a new contact, whose only conversations are this batch's.
                self.contacts[identity] = (conversation.contact_id,)
                self.by_contact.setdefault(conversation.contact_id, [])
            else:
                del self.contacts[identity]  # ask again when a mail needs it

    def identity_added(self, identity: tuple[str, str]) -> None:
        """An identity was attached to a contact (a masked address): read it again when asked."""
        self.contacts.pop(identity, None)


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
    # A batch's lookups, or for a mail alone its own, read as it asks (a query each).
    lookups = context.lookups or ThreadLookups(account)
    own_ids = [i for i in dict.fromkeys([*own_candidate_ids, *ids]) if i]
    stored: dict[str, tuple[str, int | None]] = {}
    if own_ids:
        keys = {message_key(i): i for i in own_ids}
        own: dict[str, tuple[str, int | None]] = {}
        for ext, (direction, conv_ext, conv_id) in lookups.stored_messages(list(keys)).items():
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
        for conv_ext, conv_id in lookups.stored_conversations(list(conv_keys)).items():
            found.setdefault(conv_keys[conv_ext], (conv_ext, conv_id))
        hit = _first_in_order(ids, found)
        if hit:
            return ThreadMatch(hit[0], "references", hit[1])

    identity_kind, identity_value = contact_identity_of(contact_address)

    # 3. The subject token, for the conversation's own contact (or the seller writing).
    token = subject_token_id(subject)
    if token is not None and (outbound or identity_value):
        conversations = Conversation.objects.filter(account=account, kind=Conversation.Kind.EMAIL, pk=token)
        if not outbound:
            conversations = conversations.filter(
                contact__identities__organization_id=account.organization_id,
                contact__identities__kind=identity_kind,
                contact__identities__value=identity_value,
            )
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
        contact_ids = list(lookups.contact_ids((identity_kind, identity_value)))
    if key and (contact_ids or order_id):
        for candidate in lookups.candidates(contact_ids, order_id, at - SUBJECT_WINDOW):
            if candidate.key == key:
                return ThreadMatch(candidate.external_id, "subject", candidate.id)

    # 5. A new conversation, keyed by the thread root. `thread_ids` is In-Reply-To, then References
    # newest first: the root is the last one (the first References id).
    return ThreadMatch(conversation_key(ids[-1] if ids else message_id), "new", None)
