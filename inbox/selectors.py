"""Read paths of the inbox. Every selector takes the organization and scopes by it."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from .models import ChannelAccount, Conversation, ConversationRead, Message, Organization

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
    *,
    organization: Organization,
    user,
    filter_name: str = "awaiting",
    kind: str = "",
    due_within: float | None = None,
    state: str = "",
    limit: int | None = 50,
    now: datetime | None = None,
) -> QuerySet[Conversation]:
    """Rows for the inbox list, with each row's open reply clocks prefetched (`sla_open_clocks`).

    "awaiting" is sorted by the marketplace deadline, soonest (or most overdue) first; `due_within`
    (hours) keeps only conversations whose marketplace deadline is at most that far away, overdue
    ones included, and sorts them the same way. Both join the open marketplace clock and walk the
    partial index `slaclock_org_open_due_idx` (organization, due_at) in order, so a page reads about
    `limit` index entries at any number of conversations. A constant number of queries: the rows
    and one prefetch of the clocks. `limit=None` returns the ordered queryset unsliced (API paging).
    """
    from sla import selectors as sla_selectors

    if filter_name not in FILTERS:
        filter_name = "awaiting"
    qs = Conversation.objects.filter(organization=organization).filter(_filter_q(filter_name, user))
    if kind:
        qs = qs.filter(kind=kind)
    if state:
        from .cases import STATE_GROUPS

        qs = qs.filter(marketplace_state__in=STATE_GROUPS[state])
    read = ConversationRead.objects.filter(
        conversation=OuterRef("pk"), user=user, read_at__gte=OuterRef("last_inbound_at")
    )
    qs = qs.select_related("account", "assignee", "contact").annotate(is_read=Exists(read))
    qs = qs.prefetch_related(sla_selectors.sla_open_clocks_prefetch())
    if filter_name == "awaiting" or due_within is not None:
        due_before = (now or timezone.now()) + timedelta(hours=due_within) if due_within is not None else None
        # One filter() call: the ordering below reuses this join.
        qs = qs.filter(sla_selectors.sla_open_marketplace_q(organization=organization, due_before=due_before))
        qs = qs.order_by("sla_clocks__due_at", "id")
    else:
        qs = qs.order_by("-last_message_at", "-id")
    return qs if limit is None else qs[:limit]


def conversation_counts(
    *, organization: Organization, user, due_within: float = 4, now: datetime | None = None
) -> dict[str, int]:
    """The count beside each filter (one query), and how many waiting conversations are due within
    `due_within` hours or overdue ("due_soon", one query over the open-clock index)."""
    from sla import selectors as sla_selectors

    counts = Conversation.objects.filter(organization=organization).aggregate(
        **{name: Count("id", filter=_filter_q(name, user)) for name in FILTERS if name != "all"}
    )
    awaiting = Conversation.objects.filter(organization=organization).filter(_filter_q("awaiting", user))
    counts["due_soon"] = sla_selectors.sla_open_marketplace_count(
        organization=organization,
        due_before=(now or timezone.now()) + timedelta(hours=due_within),
        conversations=awaiting,
    )
    return counts


def conversation_get(*, organization: Organization, pk: int) -> Conversation:
    """One conversation of this organization, or 404 (never another organization's)."""
    return get_object_or_404(
        Conversation.objects.select_related("account", "assignee", "contact"),
        organization=organization,
        pk=pk,
    )


def message_list_for_conversation(conversation: Conversation) -> QuerySet[Message]:
    return (
        Message.objects.filter(conversation=conversation)
        .select_related("author_user")
        .prefetch_related("attachments")
        .order_by("source_created_at", "id")
    )


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
        Conversation.objects.filter(
            organization_id=conversation.organization_id, contact_id=conversation.contact_id
        )
        .exclude(pk=conversation.pk)
        .order_by("-last_message_at")[:10]
    )
