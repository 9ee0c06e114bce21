"""Delivery and sync records: what each attempt to talk to a channel did."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from inbox.fields import EncryptedJSONField
from inbox.models import ChannelAccount, Message


class DeliveryAttempt(models.Model):
    """One try at delivering an outbound message (the outbox's attempt log)."""

    class Outcome(models.TextChoices):
        DELIVERED = "delivered", _("Delivered")
        TRANSIENT = "transient", _("Temporary failure")
        PERMANENT = "permanent", _("Permanent failure")
        RECONCILED = "reconciled", _("Found already delivered")

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="delivery_attempts")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=12, choices=Outcome.choices)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True, default="")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["message", "number"], name="deliveryattempt_unique")]

    def __str__(self) -> str:
        return f"attempt {self.number} of message {self.message_id}: {self.outcome}"


class SyncRun(models.Model):
    """One sync of one account: how much it found and what it cost (HTTP calls)."""

    account = models.ForeignKey(ChannelAccount, on_delete=models.CASCADE, related_name="sync_runs")
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    ok = models.BooleanField(default=False)
    new_messages = models.PositiveIntegerField(default=0)
    seen_messages = models.PositiveIntegerField(default=0)
    http_calls = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    # Payloads this run could not use (SyncProblem rows recorded or seen again).
    problems = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["account", "-started_at"], name="syncrun_account_idx")]

    def __str__(self) -> str:
        return f"sync of account {self.account_id} at {self.started_at:%Y-%m-%d %H:%M:%S}"


class SyncProblem(models.Model):
    """A payload a sync could not (fully) use, kept raw for the seller and for us (issue #9).

    One bad thread, issue or message never stops the rest of the sync; it is recorded here once
    (unique per account, kind, external id and problem digest) and seen again by later syncs only as
    `count` and `last_seen_at`. `raw` is the offending payload, cut to `sync_problems.RAW_LIMIT`
    characters of JSON (`raw_size` is the full size). `resolved_at` is set when a retried item reads
    cleanly. See integrations/sync_problems.py.
    """

    class Code(models.TextChoices):
        THREAD_UNREADABLE = "thread_unreadable", _("A conversation in the channel's list could not be read.")
        MESSAGES_UNREADABLE = "messages_unreadable", _("The messages of a conversation could not be read.")
        MESSAGE_UNREADABLE = "message_unreadable", _("A message could not be read and was not imported.")
        MESSAGE_PARTIAL = (
            "message_partial",
            _("A message was imported, but part of it was unusual or unreadable."),
        )
        ISSUE_UNREADABLE = "issue_unreadable", _("A discussion or claim could not be read.")
        STORE_FAILED = "store_failed", _("A conversation could not be saved.")
        SOURCE_FAILED = "source_failed", _("Part of the account could not be synchronised.")

    organization = models.ForeignKey("inbox.Organization", on_delete=models.CASCADE, related_name="+")
    account = models.ForeignKey(ChannelAccount, on_delete=models.CASCADE, related_name="sync_problems")
    run = models.ForeignKey(SyncRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    kind = models.CharField(max_length=20)  # thread | message | issue | conversation | source
    external_id = models.CharField(max_length=300, blank=True, default="")
    code = models.CharField(max_length=30, choices=Code.choices)
    detail = models.TextField(blank=True, default="")
    problem_hash = models.CharField(max_length=64)
    raw = models.JSONField(null=True, blank=True)
    raw_size = models.PositiveIntegerField(default=0)
    raw_truncated = models.BooleanField(default=False)
    retrying = models.BooleanField(default=False)
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    count = models.PositiveIntegerField(default=1)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "kind", "external_id", "problem_hash"], name="syncproblem_unique"
            )
        ]
        indexes = [models.Index(fields=["account", "-last_seen_at"], name="syncproblem_account_idx")]

    def __str__(self) -> str:
        return f"{self.code} {self.kind} {self.external_id} of account {self.account_id}"


class EmailSource(models.Model):
    """The raw bytes of one mail of a mailbox, exactly as the server gave them (or as we sent them).

    Kept for every mail, also unparseable ones and our own loops that never become a Message. A
    Message points back by `(account, external_id)`; attachments are cut from these bytes when
    needed. Dedupe key (rules: Message-ID plus content hash): the same `message_id` and
    `content_sha256` in one account is the same mail, wherever and however often it is fetched.
    """

    class Direction(models.TextChoices):
        INBOUND = "in", _("Inbound")
        OUTBOUND = "out", _("Outbound")

    organization = models.ForeignKey("inbox.Organization", on_delete=models.CASCADE, related_name="+")
    account = models.ForeignKey(ChannelAccount, on_delete=models.CASCADE, related_name="email_sources")
    direction = models.CharField(max_length=3, choices=Direction.choices, default=Direction.INBOUND)
    # The Message-ID header without angle brackets; a synthetic one (from the hash) when missing.
    message_id = models.CharField(max_length=998)
    # sha256 of the body bytes and the identifying headers (not the trace headers, which differ per copy).
    content_sha256 = models.CharField(max_length=64)
    # The inbox Message this became ("" when none: our own mail coming back).
    external_id = models.CharField(max_length=1000, blank=True, default="")
    kind = models.CharField(max_length=12, blank=True, default="")  # parsing.EmailKind
    folder = models.CharField(max_length=500, blank=True, default="")
    uidvalidity = models.BigIntegerField(null=True, blank=True)
    uid = models.BigIntegerField(null=True, blank=True)
    size = models.PositiveIntegerField(default=0)
    raw = models.BinaryField()
    problems = models.JSONField(blank=True, default=list)
    # Outbound: when the SMTP server accepted it (what `find_sent` trusts after a crash mid-send).
    accepted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "message_id", "content_sha256"], name="emailsource_unique_content"
            )
        ]
        indexes = [
            # Dedupe and reconciliation: WHERE account_id=? AND message_id IN (…).
            models.Index(fields=["account", "message_id"], name="emailsource_msgid_idx"),
            # A Message's raw source: WHERE account_id=? AND external_id=?.
            models.Index(fields=["account", "external_id"], name="emailsource_extid_idx"),
        ]

    def __str__(self) -> str:
        return self.message_id

    def __repr__(self) -> str:
        return f"<EmailSource {self.pk} {self.direction} {self.message_id!r}>"


# --- Outbound webhooks (issue #8, integrations/webhooks.py, docs/webhooks.md) --------------------


class WebhookSubscription(models.Model):
    """An organization's endpoint that receives signed event notifications."""

    class Event(models.TextChoices):
        CONVERSATION_CREATED = "conversation.created", _("Conversation created")
        MESSAGE_RECEIVED = "message.received", _("Message received")
        MESSAGE_SENT = "message.sent", _("Message sent")
        SLA_WARNING = "sla.warning", _("Reply deadline soon")
        SLA_BREACHED = "sla.breached", _("Reply deadline breached")
        QUALITY_UPDATED = "quality.updated", _("Quality updated")

    organization = models.ForeignKey("inbox.Organization", on_delete=models.CASCADE, related_name="+")
    url = models.URLField(_("URL"), max_length=1000)
    description = models.CharField(_("description"), max_length=200, blank=True, default="")
    # Event types (Event values) this endpoint wants.
    events = models.JSONField(default=list)
    # {"current": "whsec_…", "previous": "whsec_…", "previous_until": ISO time}: signing secrets,
    # encrypted with FIELD_ENCRYPTION_KEYS. After a rotation both are signed with for 24 h.
    secrets = EncryptedJSONField(default=dict)
    is_active = models.BooleanField(default=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=300, blank=True, default="")
    # Deliveries in a row that failed for good; at settings.WEBHOOK_DISABLE_AFTER_FAILURES the
    # subscription is disabled. A success resets it.
    consecutive_failures = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            # Every emitted event: WHERE organization_id=? AND is_active (a handful of rows).
            models.Index(fields=["organization", "is_active"], name="webhooksub_org_active_idx"),
        ]

    def __str__(self) -> str:
        return self.url

    def __repr__(self) -> str:  # never the secrets
        return f"<WebhookSubscription {self.pk} {self.url!r}>"


class WebhookDelivery(models.Model):
    """One event for one subscription: the webhook outbox row (Saleor's EventDelivery)."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed")

    organization = models.ForeignKey("inbox.Organization", on_delete=models.CASCADE, related_name="+")
    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries")
    # The event's id: the same for every subscription, stable across retries (receivers dedupe on it).
    event_id = models.UUIDField()
    event_type = models.CharField(max_length=40)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    # Long waits between attempts are parked here and picked up by the beat sweep.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    sending_started_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # Emitting the same event twice (a retried service, a replayed signal) stores one row.
            models.UniqueConstraint(fields=["subscription", "event_id"], name="webhookdelivery_unique_event"),
        ]
        indexes = [
            # Sweep: WHERE status IN ('pending','sending') [AND next_attempt_at <= now] (small set).
            models.Index(
                fields=["status", "next_attempt_at"],
                condition=models.Q(status__in=["pending", "sending"]),
                name="webhookdelivery_outbox_idx",
            ),
            # Subscription page: WHERE subscription_id=? ORDER BY created_at DESC LIMIT 50.
            models.Index(fields=["subscription", "-created_at"], name="webhookdelivery_sub_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id}"

    def __repr__(self) -> str:
        return f"<WebhookDelivery {self.pk} {self.event_type} {self.status}>"


class WebhookAttempt(models.Model):
    """One HTTP POST of a delivery, as the receiver answered it (shown on the subscription page)."""

    class Outcome(models.TextChoices):
        DELIVERED = "delivered", _("Delivered")
        TRANSIENT = "transient", _("Temporary failure")
        PERMANENT = "permanent", _("Permanent failure")

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_rows")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    duration_ms = models.PositiveIntegerField(default=0)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True, default="")
    # The first 500 characters of the receiver's answer (for the owner debugging their endpoint).
    response_excerpt = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["delivery", "number"], name="webhookattempt_unique")]

    def __str__(self) -> str:
        return f"#{self.number} {self.outcome} {self.status_code or ''}".strip()


# --- Notification hygiene (issue #7; integrations/notifications/) --------------------------------


class NotificationSettings(models.Model):
    """Per-organization switches and limits of the notification planner and autoresponders."""

    organization = models.OneToOneField(
        "inbox.Organization", on_delete=models.CASCADE, related_name="notification_settings"
    )
    enabled = models.BooleanField(_("send order notifications"), default=True)
    merge_window_minutes = models.PositiveIntegerField(_("merge window (minutes)"), default=30)
    cap_per_order = models.PositiveIntegerField(_("messages per order at most"), default=2)
    cap_per_buyer_day = models.PositiveIntegerField(_("messages per buyer per day at most"), default=4)
    return_address = models.TextField(_("return address"), blank=True, default="")
    # Automatic acknowledgements: off unless the seller turns them on (rules.md §5).
    autoresponder_enabled = models.BooleanField(_("automatic acknowledgement"), default=False)
    autoresponder_text = models.TextField(_("acknowledgement text"), blank=True, default="")
    autoresponder_period_hours = models.PositiveIntegerField(
        _("at most one acknowledgement per conversation every (hours)"), default=24
    )
    # Agent replies: warn before sending a bare, unedited template.
    template_warning_enabled = models.BooleanField(_("warn about unedited templates"), default=True)
    undo_seconds = models.PositiveIntegerField(_("undo window (seconds)"), default=10)

    def __str__(self) -> str:
        return f"notification settings of {self.organization_id}"


class NotificationTemplate(models.Model):
    """The text of one notification kind in one language; `{buyer_name}`-style variables."""

    class Kind(models.TextChoices):
        ORDER_PACKED = "order_packed", _("Order packed")
        INVOICE_ISSUED = "invoice_issued", _("Invoice issued")
        RETURN_RECEIVED = "return_received", _("Return received")

    class Language(models.TextChoices):
        PL = "pl", _("Polish")
        EN = "en", _("English")

    organization = models.ForeignKey("inbox.Organization", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    language = models.CharField(_("language"), max_length=2, choices=Language.choices, default=Language.PL)
    body = models.TextField(_("text"))
    is_active = models.BooleanField(_("active"), default=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "kind", "language"], name="notificationtemplate_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} ({self.language})"


class OrderEventCursor(models.Model):
    """The last Allegro order event (`GET /order/events?from=`) stored for one account."""

    account = models.OneToOneField(
        ChannelAccount, on_delete=models.CASCADE, related_name="order_event_cursor"
    )
    last_event_id = models.CharField(max_length=40, blank=True, default="")
    polled_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True, default="")

    def __str__(self) -> str:
        return f"order events of {self.account_id} after {self.last_event_id or '-'}"


class PlannedNotification(models.Model):
    """One thing that could be told to a buyer, and what the planner decided about it."""

    class State(models.TextChoices):
        PLANNED = "planned", _("Planned")
        MERGED = "merged", _("Merged")
        SUPPRESSED = "suppressed", _("Suppressed (duplicate)")
        HELD = "held", _("Held")
        SENT = "sent", _("Sent")
        DROPPED = "dropped", _("Dropped")

    class Source(models.TextChoices):
        ALLEGRO = "allegro", _("Allegro order event")
        SELLER = "seller", _("Seller")

    organization = models.ForeignKey("inbox.Organization", on_delete=models.CASCADE, related_name="+")
    account = models.ForeignKey(
        ChannelAccount, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=30)
    source = models.CharField(max_length=10, choices=Source.choices)
    # Allegro's order event id (unique per account: a repeated event is stored once).
    event_id = models.CharField(max_length=40, blank=True, default="")
    order_id = models.CharField(max_length=100)
    # Buyer key: Allegro login, or the e-mail address of a buyer from elsewhere.
    buyer = models.CharField(max_length=320)
    buyer_email = models.CharField(max_length=320, blank=True, default="")
    language = models.CharField(max_length=2, default="pl")
    context = models.JSONField(blank=True, default=dict)
    state = models.CharField(max_length=10, choices=State.choices)
    reason = models.CharField(max_length=300, blank=True, default="")
    text = models.TextField(blank=True, default="")
    occurred_at = models.DateTimeField(default=timezone.now)
    planned_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="merged_items"
    )
    message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # A held notification released by the seller skips the compliance check.
    released = models.BooleanField(default=False)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "event_id"],
                condition=~models.Q(event_id=""),
                name="plannednotification_unique_event",
            )
        ]
        indexes = [
            # Flush: WHERE state='planned' (small set).
            models.Index(
                fields=["organization", "buyer", "planned_at"],
                condition=models.Q(state="planned"),
                name="plannednotif_planned_idx",
            ),
            # Caps and repeats: WHERE organization_id=? AND buyer=? ORDER BY planned_at.
            models.Index(fields=["organization", "buyer", "planned_at"], name="plannednotif_buyer_idx"),
            # Report: WHERE organization_id=? AND planned_at >= ?.
            models.Index(fields=["organization", "planned_at"], name="plannednotif_report_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.order_id} → {self.buyer}: {self.state}"


class AutoresponderLog(models.Model):
    """Each automatic acknowledgement considered for an inbound message (sent, skipped, loop)."""

    class Outcome(models.TextChoices):
        SENT = "sent", _("Sent")
        SKIPPED = "skipped", _("Skipped")
        LOOP = "loop", _("Loop stopped")

    organization = models.ForeignKey("inbox.Organization", on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey("inbox.Conversation", on_delete=models.CASCADE, related_name="+")
    inbound = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="+")
    reply = models.ForeignKey(Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    reason = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"autoresponder for message {self.inbound_id}: {self.outcome}"
