from django.contrib import admin

from .models import (
    Alert,
    QualityConfig,
    QualitySnapshot,
    ResponseRecord,
    SlaClock,
    SlaDailyRollup,
    SlaDayOff,
    SlaEvent,
    SlaPolicy,
)


@admin.register(SlaPolicy)
class SlaPolicyAdmin(admin.ModelAdmin):
    list_display = (
        "organization",
        "conversation_kind",
        "marketplace_limit_minutes",
        "marketplace_calendar",
        "team_target_minutes",
        "team_calendar",
        "business_hours",
        "warning_minutes",
    )
    list_filter = ("conversation_kind",)


@admin.register(SlaDayOff)
class SlaDayOffAdmin(admin.ModelAdmin):
    list_display = ("organization", "day", "note")


class ReadOnlyAdmin(admin.ModelAdmin):
    """Clocks, events, records and rollups are written by sla.services only."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(SlaClock)
class SlaClockAdmin(ReadOnlyAdmin):
    list_display = (
        "conversation",
        "kind",
        "started_at",
        "due_at",
        "breached_at",
        "satisfied_at",
        "cancelled_at",
    )
    list_filter = ("kind",)
    raw_id_fields = ("conversation", "start_message", "satisfied_by")


@admin.register(SlaEvent)
class SlaEventAdmin(ReadOnlyAdmin):
    list_display = ("conversation", "clock", "kind", "at", "actor", "created_at")
    list_filter = ("kind",)
    raw_id_fields = ("clock", "conversation")


@admin.register(ResponseRecord)
class ResponseRecordAdmin(ReadOnlyAdmin):
    list_display = (
        "conversation",
        "received_at",
        "replied_at",
        "marketplace_met",
        "team_met",
        "no_reply_needed",
        "agent",
    )
    list_filter = ("marketplace_met", "no_reply_needed", "conversation_kind")
    raw_id_fields = ("conversation", "start_message", "reply_message")


@admin.register(SlaDailyRollup)
class SlaDailyRollupAdmin(ReadOnlyAdmin):
    list_display = ("organization", "day", "account", "conversation_kind", "agent_key", "replied", "on_time")


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdmin):
    list_display = ("user", "conversation", "kind", "clock_kind", "level_minutes", "created_at", "read_at")
    raw_id_fields = ("conversation", "clock")


@admin.register(QualitySnapshot)
class QualitySnapshotAdmin(ReadOnlyAdmin):
    list_display = ("organization", "account", "day", "score", "grade", "max_score", "fetched_at")
    list_filter = ("grade",)


@admin.register(QualityConfig)
class QualityConfigAdmin(admin.ModelAdmin):
    list_display = ("organization", "orders_30d", "company_account", "updated_at", "updated_by")
    raw_id_fields = ("updated_by",)
