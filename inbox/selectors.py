"""Read paths of the inbox. Every selector takes the organization and scopes by it."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.shortcuts import get_object_or_404

from .models import ChannelAccount, Conversation, ConversationEvent, ConversationRead, Message, Organization

FILTERS = ("awaiting", "mine", "unassigned", "all", "closed")


def _filter_q(name: str, user) -> Q:
    open_ = ~Q(status=Conversation.Status.CLOSED)
    return {
        "awaiting": Q(awaiting_reply_since__isnull=False) & open_,
        "mine": Q(assignee=user) & open_,
        "unassigned": Q(assignee__isnull=True) & open_,
        "all": Q(),
        "closed": Q(status=Conversation.Status.CLOSED),
    }[name]


def conversation_list(
    *, organization: Organization, user, filter_name: str = "awaiting", kind: str = "", limit: int = 50
) -> QuerySet[Conversation]:
    """Rows for the inbox list; waiting conversations first, the longest wait on top."""
    if filter_name not in FILTERS:
        filter_name = "awaiting"
    qs = Conversation.objects.filter(organization=organization).filter(_filter_q(filter_name, user))
    if kind:
        qs = qs.filter(kind=kind)
    read = ConversationRead.objects.filter(conversation=OuterRef("pk"), user=user, read_at__gte=OuterRef("last_inbound_at"))
    qs = qs.select_related("account", "assignee", "contact").annotate(is_read=Exists(read))
    if filter_name == "awaiting":
        qs = qs.order_by("awaiting_reply_since", "id")
    else:
        qs = qs.order_by("-last_message_at", "-id")
    return qs[:limit]


def conversation_counts(*, organization: Organization, user) -> dict[str, int]:
    """The count beside each filter, in one query."""
    return Conversation.objects.filter(organization=organization).aggregate(
        **{name: Count("id", filter=_filter_q(name, user)) for name in FILTERS if name != "all"}
    )


def conversation_get(*, organization: Organization, pk: int) -> Conversation:
    """One conversation of this organization, or 404 (never another organization's)."""
    return get_object_or_404(
        Conversation.objects.select_related("account", "assignee", "contact"), organization=organization, pk=pk
    )


def message_list_for_conversation(conversation: Conversation) -> QuerySet[Message]:
    return (
        Message.objects.filter(conversation=conversation)
        .select_related("author_user")
        .prefetch_related("attachments")
        .order_by("source_created_at", "id")
    )


def conversation_events(conversation: Conversation) -> QuerySet[ConversationEvent]:
    return ConversationEvent.objects.filter(conversation=conversation).select_related("actor").order_by("created_at")


def organization_members(*, organization: Organization):
    return get_user_model().objects.filter(memberships__organization=organization).order_by("username")


def channel_account_list(*, organization: Organization) -> QuerySet[ChannelAccount]:
    return ChannelAccount.objects.filter(organization=organization).order_by("created_at")


def channel_account_get(*, organization: Organization, pk: int) -> ChannelAccount:
    return get_object_or_404(ChannelAccount, organization=organization, pk=pk)


def contact_conversations(conversation: Conversation) -> QuerySet[Conversation]:
    """Other conversations of the same buyer (across channels)."""
    if conversation.contact_id is None:
        return Conversation.objects.none()
    return (
        Conversation.objects.filter(organization_id=conversation.organization_id, contact_id=conversation.contact_id)
        .exclude(pk=conversation.pk)
        .order_by("-last_message_at")[:10]
    )
