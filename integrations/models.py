"""Delivery and sync records: what each attempt to talk to a channel did."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

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

    class Meta:
        indexes = [models.Index(fields=["account", "-started_at"], name="syncrun_account_idx")]
