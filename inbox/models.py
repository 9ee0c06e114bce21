"""The inbox's domain model. Vendor-neutral: nothing here knows Allegro's or IMAP's shapes.

Every row that a user can reach carries `organization` so that every query can be scoped to it
(selectors always filter by the request's organization; an outsider gets 404).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .fields import EncryptedJSONField


class Organization(models.Model):
    """A seller's workspace."""

    name = models.CharField(_("name"), max_length=200)
    slug = models.SlugField(unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", _("Owner")
        LEAD = "lead", _("Team lead")
        AGENT = "agent", _("Agent")

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.AGENT)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "user"], name="membership_unique")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.organization} ({self.role})"

    @property
    def is_lead(self) -> bool:
        return self.role in (self.Role.OWNER, self.Role.LEAD)


class ChannelAccount(models.Model):
    """A connected marketplace account or mailbox. Secrets live encrypted in `credentials`."""

    class Kind(models.TextChoices):
        ALLEGRO = "allegro", "Allegro"
        EMAIL = "email", _("E-mail")

    class Health(models.TextChoices):
        CONNECTING = "connecting", _("Connecting")
        OK = "ok", _("OK")
        ERROR = "error", _("Sync errors")
        AUTH_FAILED = "auth_failed", _("Authorization lost")
        DISABLED = "disabled", _("Disabled")

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="channel_accounts")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    name = models.CharField(_("name"), max_length=200)
    # Allegro user id or mailbox address, once known.
    external_id = models.CharField(max_length=200, blank=True, default="")
    credentials = EncryptedJSONField(blank=True, default=dict)
    # Opaque to the inbox; each adapter defines its own cursor format.
    sync_cursor = models.JSONField(blank=True, default=dict)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    last_sync_error = models.TextField(blank=True, default="")
    consecutive_failures = models.PositiveIntegerField(default=0)
    health = models.CharField(max_length=12, choices=Health.choices, default=Health.CONNECTING)
    is_active = models.BooleanField(default=True)
    # The last authorization flow state shown to the owner (verification URL, user code, expiry).
    connect_state = models.JSONField(blank=True, default=dict)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "kind", "external_id"],
                condition=~Q(external_id=""),
                name="channelaccount_unique_external",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.name}"

    def __repr__(self) -> str:  # never show credentials
        return f"<ChannelAccount {self.pk} {self.kind} {self.name!r}>"


class Contact(models.Model):
    """A buyer across channels; identities (login, masked addresses, e-mails) point at it."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="contacts")
    display_name = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.display_name or f"#{self.pk}"


class ContactIdentity(models.Model):
    class Kind(models.TextChoices):
        ALLEGRO_LOGIN = "allegro_login", _("Allegro login")
        ALLEGRO_ID = "allegro_id", _("Allegro user id")
        ALLEGROMAIL = "allegromail", _("Masked Allegro e-mail")
        EMAIL = "email", _("E-mail")

    # Indexed by contactidentity_unique (organization, kind, value), which leads with it.
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, db_index=False)
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="identities")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    value = models.CharField(max_length=320)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "kind", "value"], name="contactidentity_unique")
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


class Conversation(models.Model):
    class Kind(models.TextChoices):
        MESSAGE = "message", _("Message")
        DISCUSSION = "discussion", _("Discussion")
        CLAIM = "claim", _("Claim")
        EMAIL = "email", _("E-mail")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        PENDING = "pending", _("Pending")
        SNOOZED = "snoozed", _("Snoozed")
        CLOSED = "closed", _("Closed")

    # Both indexed by composite indexes that lead with them (conv_org_recent_idx,
    # conversation_unique_external): a single-column index would only cost writes and, for a new
    # account without statistics yet, tempt the planner into walking the account's rows.
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="conversations", db_index=False
    )
    account = models.ForeignKey(
        ChannelAccount, on_delete=models.PROTECT, related_name="conversations", db_index=False
    )
    kind = models.CharField(max_length=12, choices=Kind.choices)
    # Thread id, issue id or mail-thread root, unique per account and kind.
    external_id = models.CharField(max_length=200)
    subject = models.CharField(max_length=500, blank=True, default="")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    snoozed_until = models.DateTimeField(null=True, blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="conversations"
    )
    order_id = models.CharField(max_length=100, blank=True, default="")
    offer_id = models.CharField(max_length=100, blank=True, default="")
    # Marketplace-side state shown to agents (e.g. an issue's status) and why replying is impossible.
    marketplace_state = models.CharField(max_length=40, blank=True, default="")
    reply_blocked_reason = models.CharField(max_length=300, blank=True, default="")
    details = models.JSONField(blank=True, default=dict)
    created_at = models.DateTimeField(default=timezone.now)
    last_message_at = models.DateTimeField(null=True, blank=True)
    last_inbound_at = models.DateTimeField(null=True, blank=True)
    last_outbound_at = models.DateTimeField(null=True, blank=True)
    # The latest delivered reply written by a person (automatic messages never count, rules.md §2.1).
    last_reply_at = models.DateTimeField(null=True, blank=True)
    # Set at the earliest unanswered buyer message; cleared by a delivered human reply (rules.md §2.1).
    awaiting_reply_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "kind", "external_id"], name="conversation_unique_external"
            )
        ]
        indexes = [
            # Inbox "awaiting reply" list, oldest wait first: WHERE organization_id=? AND
            # awaiting_reply_since IS NOT NULL ORDER BY awaiting_reply_since.
            models.Index(
                fields=["organization", "awaiting_reply_since"],
                condition=Q(awaiting_reply_since__isnull=False),
                name="conv_org_awaiting_idx",
            ),
            # "All" list ordered by most recent activity.
            models.Index(fields=["organization", "-last_message_at"], name="conv_org_recent_idx"),
            # The open conversations only (most are closed once answered): the "mine" and "unassigned"
            # lists (WHERE organization_id=? AND assignee_id=? | IS NULL AND NOT status='closed' ORDER BY
            # last_message_at DESC) and the filters' counts, index-only (conversation_counts).
            models.Index(
                fields=["organization", "assignee", "-last_message_at", "awaiting_reply_since"],
                condition=~Q(status="closed"),
                name="conv_org_open_idx",
            ),
            # Conversations about one order (e-mail threading by order, the contact of an order).
            models.Index(
                fields=["organization", "order_id"], condition=~Q(order_id=""), name="conv_org_order_idx"
            ),
            # The waiting conversations (the "awaiting" filter) by primary key: the awaiting list and
            # its "due soon" count check each open clock's conversation with an index-only probe here
            # rather than a read of the conversation's row (sla_open_marketplace_count).
            models.Index(
                fields=["id", "organization"],
                condition=Q(awaiting_reply_since__isnull=False) & ~Q(status="closed"),
                name="conv_waiting_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.subject or f"{self.get_kind_display()} {self.external_id}"


class Message(models.Model):
    class Direction(models.TextChoices):
        INBOUND = "in", _("Inbound")
        OUTBOUND = "out", _("Outbound")

    class AuthorType(models.TextChoices):
        BUYER = "buyer", _("Buyer")
        AGENT = "agent", _("Agent")
        AUTOMATION = "automation", _("Automation")
        MARKETPLACE = "marketplace", _("Marketplace")

    class DeliveryStatus(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed")

    class Classification(models.TextChoices):
        HUMAN = "human", _("Human")
        AUTO_REPLY = "auto_reply", _("Auto-reply")
        BOUNCE = "bounce", _("Bounce")
        BULK = "bulk", _("Bulk")
        SYSTEM = "system", _("System")

    # Indexed by msg_org_time_idx (organization first); the account is looked up with an external id
    # (message_unique_external). Only deleting an account reads its messages without an index.
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, db_index=False)
    account = models.ForeignKey(ChannelAccount, on_delete=models.PROTECT, related_name="+", db_index=False)
    # Indexed by msg_conv_time_idx (conversation first), which also serves the thread's order.
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages", db_index=False
    )
    direction = models.CharField(max_length=3, choices=Direction.choices)
    author_type = models.CharField(max_length=12, choices=AuthorType.choices)
    author_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    author_name = models.CharField(max_length=200, blank=True, default="")
    classification = models.CharField(
        max_length=12, choices=Classification.choices, default=Classification.HUMAN
    )
    subject = models.CharField(max_length=500, blank=True, default="")
    text = models.TextField(blank=True, default="")
    html = models.TextField(blank=True, default="")  # sanitized before storing
    # Provider id (Allegro message id, our Message-ID for mail); null while an outbound reply is pending.
    external_id = models.CharField(max_length=300, null=True, blank=True)
    # When the message was written at the source (Allegro createdAt, mail Date); our clock otherwise.
    source_created_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now)
    # Outbound delivery (the outbox). Inbound messages are stored as delivered.
    delivery_status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.DELIVERED
    )
    delivered_at = models.DateTimeField(null=True, blank=True)
    failure_reason = models.TextField(blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    sending_started_at = models.DateTimeField(null=True, blank=True)
    idempotency_key = models.UUIDField(default=uuid.uuid4, editable=False)
    # The raw payload as received (kept even when we could not interpret it).
    raw = models.JSONField(blank=True, default=dict)
    problems = models.JSONField(blank=True, default=list)

    class Meta:
        constraints = [
            # Idempotent ingest: the same provider message is stored once per account. The external
            # id leads: a lookup of a batch of ids (external_id IN …) is then always an index search,
            # even for a new account that the planner's statistics do not know yet.
            models.UniqueConstraint(
                fields=["external_id", "account"],
                condition=Q(external_id__isnull=False),
                name="message_unique_external",
            ),
            models.UniqueConstraint(fields=["idempotency_key"], name="message_unique_idempotency_key"),
        ]
        indexes = [
            # Conversation view: WHERE conversation_id=? ORDER BY source_created_at, id.
            models.Index(fields=["conversation", "source_created_at", "id"], name="msg_conv_time_idx"),
            # Search (inbox/search.py): an organization's newest messages first, so a common word
            # stops after a page of hits. The text indexes are PostgreSQL-only (migration 0004).
            models.Index(fields=["organization", "-source_created_at"], name="msg_org_time_idx"),
            # Outbox sweep: WHERE delivery_status IN ('pending','sending') (small set).
            models.Index(
                fields=["delivery_status", "next_attempt_at"],
                condition=Q(delivery_status__in=["pending", "sending"]),
                name="msg_outbox_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.direction} {self.author_type}: {self.text[:40]}"

    @property
    def is_folded(self) -> bool:
        """Automatic mail (an auto-reply, a bounce, a newsletter) is shown folded in the thread: it
        never starts or stops a reply clock, and rarely needs reading."""
        return self.classification in (
            Message.Classification.AUTO_REPLY,
            Message.Classification.BOUNCE,
            Message.Classification.BULK,
        )

    @property
    def is_outbound(self) -> bool:
        return self.direction == self.Direction.OUTBOUND


ATTACHMENTS_DIR = "attachments"  # <storage>/attachments/<organization id>/<random name>


def attachment_upload_to(instance: Attachment, filename: str) -> str:
    return f"{ATTACHMENTS_DIR}/{instance.message.organization_id}/{uuid.uuid4().hex}"


class Attachment(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=200, blank=True, default="application/octet-stream")
    size = models.PositiveBigIntegerField(default=0)
    file = models.FileField(upload_to=attachment_upload_to, blank=True)
    # Where the provider serves it (Allegro attachment URL), when we have not downloaded it.
    external_url = models.URLField(max_length=1000, blank=True, default="")
    external_id = models.CharField(max_length=300, blank=True, default="")
    content_id = models.CharField(max_length=300, blank=True, default="")
    # Why an incoming file was not stored (inbox/attachments.py: a program, a zip bomb, …); the row
    # stays so agents see that something came, and the raw mail keeps the bytes.
    refused = models.CharField(max_length=300, blank=True, default="")

    def __str__(self) -> str:
        return self.filename


class ConversationEvent(models.Model):
    """Audit trail: who did what to a conversation, and when."""

    class Kind(models.TextChoices):
        CREATED = "created", _("Conversation created")
        ASSIGNED = "assigned", _("Assigned")
        UNASSIGNED = "unassigned", _("Unassigned")
        CLOSED = "closed", _("Closed")
        REOPENED = "reopened", _("Reopened")
        REPLY_QUEUED = "reply_queued", _("Reply queued")
        REPLY_DELIVERED = "reply_delivered", _("Reply delivered")
        REPLY_FAILED = "reply_failed", _("Reply failed")
        REPLY_UNDONE = "reply_undone", _("Reply taken back")
        STATE_CHANGED = "state_changed", _("Marketplace state changed")

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="events")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    data = models.JSONField(blank=True, default=dict)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["conversation", "created_at"], name="convevent_conv_idx")]

    def __str__(self) -> str:
        return f"{self.kind} {self.created_at:%Y-%m-%d %H:%M}"


class ConversationRead(models.Model):
    """When a user last opened a conversation (drives unread marks)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="reads")
    read_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "conversation"], name="conversationread_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} read {self.conversation_id} at {self.read_at:%Y-%m-%d %H:%M}"


class ApiToken(models.Model):
    """A per-organization token for the public API (issue #8). See inbox/authentication.py.

    Only a SHA-256 of the token is stored (the token is 256 random bits, so a slow hash adds
    nothing); the token itself is shown once, when it is created. Requests made with it act on
    behalf of the member who created it (audit trail, "mine" filter) and stop working when that
    person leaves the organization or the token is revoked.
    """

    class Scope(models.TextChoices):
        READ = "read", _("Read only")
        WRITE = "write", _("Read and write")

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=100)
    scope = models.CharField(_("scope"), max_length=5, choices=Scope.choices, default=Scope.READ)
    # The first characters of the token, shown in the UI so people can tell tokens apart.
    prefix = models.CharField(max_length=16)
    # hex SHA-256 of the whole token; the lookup key of every API request (unique index).
    key_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    # Updated at most once a minute (not a write per request).
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        indexes = [
            # Token page: WHERE organization_id=? ORDER BY created_at DESC.
            models.Index(fields=["organization", "-created_at"], name="apitoken_org_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def __repr__(self) -> str:  # never the hash
        return f"<ApiToken {self.pk} {self.prefix}… {self.scope}>"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
