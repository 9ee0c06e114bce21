"""Reply deadlines: policies, clocks, their transitions, response records, daily rollups, alerts.

rules.md §2 and §3. Every row carries `organization` (selectors scope by it). Times are UTC.

Invariants (enforced by constraints where the database can):
* a conversation has at most one *open* clock (neither satisfied nor cancelled) per clock kind;
* a clock is marked breached / warned at most once per level (compare-and-set updates in
  `sla.services.sla_clocks_check`); `breached_at` is the due instant, the detection time is the
  `SlaEvent.created_at` of the "breached" event;
* every metric is computed from `ResponseRecord` (one per inbound→reply pair) and from the open
  clocks; `SlaDailyRollup` is a cache of ResponseRecord sums that `manage.py sla_replay` rebuilds.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from inbox.models import ChannelAccount, Conversation, Message, Organization

from . import policy as defaults

OPEN_Q = Q(satisfied_at__isnull=True, cancelled_at__isnull=True)


class CalendarKind(models.TextChoices):
    WORKING_DAYS = "working_days", _("Working days (24 h, not weekends or holidays)")
    BUSINESS_HOURS = "business_hours", _("Business hours")
    CALENDAR_HOURS = "calendar_hours", _("Calendar hours (24/7)")


class ClockKind(models.TextChoices):
    MARKETPLACE = defaults.MARKETPLACE, _("Marketplace limit")
    TEAM = defaults.TEAM, _("Team target")


class SlaPolicy(models.Model):
    """An organization's reply policy for one conversation kind. # rules.md §2.2

    Rows are optional: without one, `sla.selectors.sla_policy_effective` returns the defaults of
    `sla.policy`. The policies page writes a row the first time a lead saves that kind.
    """

    # Indexed by slapolicy_unique_kind (organization first), as are the other FKs marked db_index=False
    # below by the composite index that starts with them: every index slows the beat's writes.
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="sla_policies", db_index=False
    )
    conversation_kind = models.CharField(max_length=12, choices=Conversation.Kind.choices)
    marketplace_limit_minutes = models.PositiveIntegerField(
        default=defaults.DEFAULT_MARKETPLACE_LIMIT_MINUTES
    )
    marketplace_calendar = models.CharField(
        max_length=16, choices=CalendarKind.choices, default=defaults.DEFAULT_MARKETPLACE_CALENDAR
    )
    # Null: no team target for this kind.
    team_target_minutes = models.PositiveIntegerField(
        null=True, blank=True, default=defaults.DEFAULT_TEAM_TARGET_MINUTES
    )
    team_calendar = models.CharField(
        max_length=16, choices=CalendarKind.choices, default=defaults.DEFAULT_TEAM_CALENDAR
    )
    # calculations.parse_windows syntax, e.g. "mon-fri 08:00-18:00" or "mon-fri 08:00-12:00,13:00-17:00".
    business_hours = models.CharField(max_length=200, default=defaults.DEFAULT_BUSINESS_HOURS)
    # Running time left (minutes) at which a clock is "due soon", e.g. [240, 60].
    warning_minutes = models.JSONField(default=list)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "conversation_kind"], name="slapolicy_unique_kind"
            )
        ]

    def __str__(self) -> str:
        return f"{self.organization} {self.conversation_kind}"


class SlaDayOff(models.Model):
    """An extra day off of the organization: no clock runs on it (rules.md §2.3)."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="sla_days_off", db_index=False
    )
    day = models.DateField()
    note = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "day"], name="sladayoff_unique_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.note}"


class SlaClock(models.Model):
    """One reply clock: from the earliest unanswered buyer message to the first human reply."""

    # Not indexed alone: organization-wide reads use the partial indexes below (only deleting an
    # organization scans); the conversation is the first column of slaclock_conv_idx.
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+", db_index=False)
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="sla_clocks", db_index=False
    )
    kind = models.CharField(max_length=12, choices=ClockKind.choices)
    start_message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_at = models.DateTimeField()
    due_at = models.DateTimeField()
    # The next warning instant not yet marked; null once all are marked or the clock stopped.
    next_warn_at = models.DateTimeField(null=True, blank=True)
    # How many warning levels (policy_snapshot["warn_minutes"], most generous first) are marked.
    warned_levels = models.PositiveSmallIntegerField(default=0)
    # The due instant, once the breach is marked (by the beat, or by a late reply/cancellation).
    breached_at = models.DateTimeField(null=True, blank=True)
    satisfied_at = models.DateTimeField(null=True, blank=True)
    satisfied_by = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    cancelled_at = models.DateTimeField(null=True, blank=True)
    # Limit, calendar, days off and warning instants the clock was started with (sla.policy.ClockPlan).
    policy_snapshot = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "kind"], condition=OPEN_Q, name="slaclock_one_open_per_kind"
            ),
        ]
        indexes = [
            # Beat, breaches: WHERE breached_at IS NULL AND satisfied_at IS NULL AND cancelled_at IS NULL
            # AND due_at <= now ORDER BY due_at LIMIT n FOR UPDATE SKIP LOCKED
            # (sla.services._mark_breaches). Holds only open, unmarked clocks and is read from its
            # start up to `now`: the cost grows with the number due, not with the number open.
            models.Index(
                fields=["due_at"],
                condition=Q(breached_at__isnull=True, satisfied_at__isnull=True, cancelled_at__isnull=True),
                name="slaclock_breach_due_idx",
            ),
            # Beat, warnings: WHERE next_warn_at IS NOT NULL AND next_warn_at <= now ORDER BY next_warn_at
            # LIMIT n FOR UPDATE SKIP LOCKED (sla.services._mark_warnings). next_warn_at is nulled when a
            # clock stops, breaches or has no warning left, so only pending warnings are indexed.
            models.Index(
                fields=["next_warn_at"], condition=Q(next_warn_at__isnull=False), name="slaclock_warn_due_idx"
            ),
            # Inbox "due soonest" / "breaching within N h" and the metrics' "waiting now", "oldest
            # waiting", "unanswered overdue": WHERE organization_id=? AND kind='marketplace' AND
            # satisfied_at IS NULL AND cancelled_at IS NULL [AND due_at <= ?] ORDER BY due_at LIMIT 50
            # (inbox.selectors.conversation_list, sla.selectors.sla_metrics). Walked in order, so a
            # page costs ~50 index entries whatever the number of conversations.
            models.Index(
                fields=["organization", "due_at"],
                condition=Q(kind=defaults.MARKETPLACE, satisfied_at__isnull=True, cancelled_at__isnull=True),
                name="slaclock_org_open_due_idx",
            ),
            # A conversation's clock history (latest stop, rebuilds): WHERE conversation_id=?.
            models.Index(fields=["conversation", "started_at"], name="slaclock_conv_idx"),
            # Deleting a message (a synced copy folded into our reply) sets it NULL:
            # WHERE satisfied_by_id IN (...). Partial: open clocks (the beat's updates) skip it.
            models.Index(
                fields=["satisfied_by"],
                condition=Q(satisfied_by__isnull=False),
                name="slaclock_satisfied_by_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} clock of {self.conversation_id} due {self.due_at:%Y-%m-%d %H:%M}"

    @property
    def is_open(self) -> bool:
        return self.satisfied_at is None and self.cancelled_at is None


class SlaEvent(models.Model):
    """A transition of a clock. `at` is the instant it happened; `created_at` when we recorded it."""

    class Kind(models.TextChoices):
        STARTED = "started", _("Started")
        WARNED = "warned", _("Due soon")
        BREACHED = "breached", _("Breached")
        SATISFIED = "satisfied", _("Satisfied")
        CANCELLED = "cancelled", _("Cancelled")

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+", db_index=False)
    clock = models.ForeignKey(SlaClock, on_delete=models.CASCADE, related_name="events")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+", db_index=False)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, db_index=False
    )
    at = models.DateTimeField()
    data = models.JSONField(blank=True, default=dict)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            # A conversation's SLA history: WHERE conversation_id=? ORDER BY at.
            models.Index(fields=["conversation", "at"], name="slaevent_conv_idx"),
            # Deleting a user sets it NULL: WHERE actor_id IN (...). Beat events have none.
            models.Index(fields=["actor"], condition=Q(actor__isnull=False), name="slaevent_actor_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.at:%Y-%m-%d %H:%M}"


class ResponseRecord(models.Model):
    """One inbound→reply pair (or an agent's "no reply needed"). # rules.md §2.1, §3

    `decided_at` = min(replied_at, marketplace due): the instant the outcome was known (on time at
    the reply, late at the deadline). Windows and `day` (its Europe/Warsaw date) are taken on it.
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+", db_index=False)
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="sla_records", db_index=False
    )
    account = models.ForeignKey(ChannelAccount, on_delete=models.CASCADE, related_name="+")
    conversation_kind = models.CharField(max_length=12, choices=Conversation.Kind.choices)
    channel = models.CharField(max_length=10, choices=ChannelAccount.Kind.choices)
    start_message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reply_message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The person who replied (or who decided that no reply was needed).
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    received_at = models.DateTimeField()
    replied_at = models.DateTimeField()  # the reply, or the "no reply needed" decision
    wall_seconds = models.BigIntegerField()
    marketplace_due_at = models.DateTimeField()
    marketplace_seconds = models.BigIntegerField()  # running time on the marketplace calendar
    marketplace_met = models.BooleanField()
    team_due_at = models.DateTimeField(null=True, blank=True)
    team_seconds = models.BigIntegerField(null=True, blank=True)
    team_met = models.BooleanField(null=True, blank=True)
    no_reply_needed = models.BooleanField(default=False)
    no_reply_reason = models.CharField(max_length=300, blank=True, default="")
    decided_at = models.DateTimeField()
    day = models.DateField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "received_at"], name="responserecord_unique_episode"
            )
        ]
        indexes = [
            # Percentiles of a window: WHERE organization_id=? AND decided_at >= ? AND NOT no_reply_needed
            # (sla.selectors.sla_metrics): only the window's rows are read, never the history.
            models.Index(
                fields=["organization", "decided_at"],
                condition=Q(no_reply_needed=False),
                name="resprec_org_decided_idx",
            ),
            # Rollup rebuild of one day: WHERE organization_id=? AND day IN (...) GROUP BY ...
            models.Index(fields=["organization", "day"], name="resprec_org_day_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.conversation_id} {self.received_at:%Y-%m-%d %H:%M} → {self.replied_at:%H:%M}"


class SlaDailyRollup(models.Model):
    """Sums of the ResponseRecords of one day, account, conversation kind and agent (rules.md §3).

    Kept up to date by additive upserts in the same transaction as the records; rebuilt from the
    records by the replay. `agent_key` is the agent's user id, 0 for none (a key column cannot be
    NULL in an `ON CONFLICT` target).
    """

    # The additive columns (upserted as sums by sla.services, read by the boards).
    SUMS = (
        "replied",
        "on_time",
        "late",
        "breached",
        "no_reply",
        "marketplace_seconds",
        "wall_seconds",
        "team_measured",
        "team_met",
        "team_breached",
        "team_seconds",
    )

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+", db_index=False)
    day = models.DateField()
    account = models.ForeignKey(ChannelAccount, on_delete=models.CASCADE, related_name="+")
    conversation_kind = models.CharField(max_length=12, choices=Conversation.Kind.choices)
    channel = models.CharField(max_length=10, choices=ChannelAccount.Kind.choices)
    agent_key = models.BigIntegerField(default=0)
    replied = models.IntegerField(default=0)
    on_time = models.IntegerField(default=0)
    late = models.IntegerField(default=0)
    breached = models.IntegerField(
        default=0
    )  # marketplace clock breached (replied late or no reply after due)
    no_reply = models.IntegerField(default=0)
    marketplace_seconds = models.BigIntegerField(default=0)  # sums over replied records
    wall_seconds = models.BigIntegerField(default=0)
    team_measured = models.IntegerField(default=0)
    team_met = models.IntegerField(default=0)
    team_breached = models.IntegerField(default=0)
    team_seconds = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            # Also the index of the 30-day board: WHERE organization_id=? AND day BETWEEN ? AND ?.
            models.UniqueConstraint(
                fields=["organization", "day", "account", "conversation_kind", "agent_key"],
                name="sladailyrollup_key",
            )
        ]

    def __str__(self) -> str:
        return (
            f"{self.organization_id} {self.day} {self.account_id} {self.conversation_kind} {self.agent_key}"
        )


class Alert(models.Model):
    """An in-app alert to one user: a clock is due soon or breached."""

    class Kind(models.TextChoices):
        WARNING = "warning", _("Due soon")
        BREACHED = "breached", _("Breached")

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+", db_index=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sla_alerts", db_index=False
    )
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    clock = models.ForeignKey(
        SlaClock, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts", db_index=False
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    clock_kind = models.CharField(max_length=12, choices=ClockKind.choices)
    # Warning level (running minutes left); 0 for a breach.
    level_minutes = models.PositiveIntegerField(default=0)
    due_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # Belt and braces behind the compare-and-set marks: one alert per clock, user and level.
            models.UniqueConstraint(
                fields=["clock", "user", "kind", "level_minutes"],
                condition=Q(clock__isnull=False),
                name="alert_unique_per_level",
            )
        ]
        indexes = [
            # The alerts indicator: WHERE user_id=? AND organization_id=? AND read_at IS NULL.
            models.Index(
                fields=["user", "organization", "-created_at"],
                condition=Q(read_at__isnull=True),
                name="alert_user_unread_idx",
            ),
            # The alerts list: WHERE user_id=? AND organization_id=? ORDER BY created_at DESC LIMIT n.
            models.Index(fields=["user", "organization", "-created_at"], name="alert_user_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.clock_kind} → {self.user_id}"


class QualitySnapshot(models.Model):
    """Allegro's official daily quality figures of one account (`GET /sale/quality`, rules.md §4).

    One row per account and day (`resultFor`), upserted by `sla.services.quality_import`; `metrics`
    is a list of plain dicts {"code", "name", "score", "max_score"} (no vendor shapes beyond that).
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+", db_index=False)
    account = models.ForeignKey(ChannelAccount, on_delete=models.CASCADE, related_name="+", db_index=False)
    day = models.DateField()
    score = models.FloatField()
    grade = models.CharField(max_length=40, blank=True, default="")
    max_score = models.FloatField(null=True, blank=True)
    metrics = models.JSONField(default=list, blank=True)
    fetched_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "day"], name="qualitysnapshot_unique_day"),
        ]
        indexes = [
            # The board and the report: WHERE organization_id=? AND day BETWEEN ? AND ?.
            models.Index(fields=["organization", "day"], name="qualitysnapshot_org_day_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.day} {self.score} {self.grade}"


class QualityConfig(models.Model):
    """An organization's override of the quality scheme (sla.quality.DEFAULT_SCHEME), edited by leads.

    `scheme` holds only what differs (metrics by code, bands whole). `orders_30d` and
    `company_account` are facts we cannot read from the inbox (rules.md §4: unresolved-discussion
    ratio, "no discussions" points, Super Seller criteria); null = unknown.
    """

    organization = models.OneToOneField(Organization, on_delete=models.CASCADE, related_name="quality_config")
    scheme = models.JSONField(default=dict, blank=True)
    orders_30d = models.PositiveIntegerField(null=True, blank=True)
    company_account = models.BooleanField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return f"quality scheme of {self.organization_id}"


class DailySummaryConfig(models.Model):
    """An organization's daily e-mail summary for leads (issue #6): on/off, the local hour, who gets it."""

    organization = models.OneToOneField(
        Organization, on_delete=models.CASCADE, related_name="daily_summary_config"
    )
    enabled = models.BooleanField(default=False)
    # The Europe/Warsaw hour (0–23) from which the day's summary (of the day before) is sent.
    hour = models.PositiveSmallIntegerField(default=7)
    # Membership roles that receive it (members with an e-mail address).
    roles = models.JSONField(default=list, blank=True)
    # The language of the e-mail (there is no per-user language preference yet); Polish by default.
    language = models.CharField(max_length=8, default="pl")
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return f"daily summary of {self.organization_id} at {self.hour}:00"


class DailySummarySent(models.Model):
    """One row per organization and local day once its summary is claimed for sending: the unique
    constraint is what keeps two beats, or a retry, from sending it twice (`sla.summary`)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+", db_index=False)
    day = models.DateField()  # the local day the summary was sent on (it reports the day before)
    claimed_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    recipients = models.JSONField(default=list, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "day"], name="dailysummarysent_unique_day"),
        ]

    def __str__(self) -> str:
        return f"summary of {self.organization_id} on {self.day}"
