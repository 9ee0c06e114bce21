"""Read paths of the inbox. Every selector takes the organization and scopes by it."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.shortcuts import get_object_or_404
from django.utils import timezone

from .models import ChannelAccount, Conversation, ConversationRead, Message, Organization

FILTERS = ("awaiting", "mine", "unassigned", "all", "closed")
# The "closed" and "due soon" counts stop there (shown as "999+"): counting every closed conversation
# would read the organization's history, every overdue one a probe each, on each refresh.
COUNT_LIMIT = 999
# "due": the marketplace deadline, soonest first (the default of the waiting lists); "risk": the points
# of the quality score that answering now saves at the next daily cut-off, most first (then "due").
SORTS = ("due", "risk")


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
    sort: str = "due",
) -> QuerySet[Conversation]:
    """Rows for the inbox list, with each row's open reply clocks prefetched (`sla_open_clocks`).

    "awaiting" is sorted by the marketplace deadline, soonest (or most overdue) first; `due_within`
    (hours) keeps only conversations whose marketplace deadline is at most that far away, overdue
    ones included, and sorts them the same way. Both join the open marketplace clock and walk the
    partial index `slaclock_org_open_due_idx` (organization, due_at) in order, so a page reads about
    `limit` index entries at any number of conversations. A constant number of queries: the rows
    and one prefetch of the clocks. `limit=None` returns the ordered queryset unsliced (API paging).

    `sort="risk"` (waiting lists only) orders by `risk_points`, the points of the customer-service area
    that answering the conversation now saves at the next daily cut-off (`sla.quality_selectors`), most
    first, then by deadline: a CASE evaluated by the database over the open marketplace clocks (their
    partial index), with terms from six aggregate queries — the cost follows the open queue, not the
    number of conversations.
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
    by_deadline = filter_name == "awaiting" or due_within is not None
    if by_deadline:
        # The planner cannot know that the conversations with an open marketplace clock are nearly
        # all ones these filters keep (waiting, not closed): joined directly, it estimates a handful
        # of rows and sorts every waiting conversation instead of walking the clock index and stopping
        # at `limit` (bench/inbox_pages.py: 100+ ms at 1,000,000 conversations, 1 % waiting). So the
        # filters are checked by a correlated LIMIT 1 subquery, one primary-key probe per row read,
        # which it estimates as keeping every row (as in sla_open_marketplace_count).
        match = qs.filter(pk=OuterRef("pk")).values("pk")[:1]
        qs = Conversation.objects.filter(organization=organization)
        qs = qs.alias(list_match=Subquery(match)).filter(list_match__isnull=False)
    read = ConversationRead.objects.filter(
        conversation=OuterRef("pk"), user=user, read_at__gte=OuterRef("last_inbound_at")
    )
    # The account's secrets are never shown in a list: not read, not decrypted 50 times a page.
    qs = qs.select_related("account", "assignee", "contact").defer("account__credentials")
    qs = qs.annotate(is_read=Exists(read)).prefetch_related(sla_selectors.sla_open_clocks_prefetch())
    if by_deadline:
        due_before = (now or timezone.now()) + timedelta(hours=due_within) if due_within is not None else None
        # One filter() call: the ordering below reuses this join.
        qs = qs.filter(sla_selectors.sla_open_marketplace_q(organization=organization, due_before=due_before))
        if sort == "risk":
            from sla.quality_selectors import quality_risk_terms

            terms = quality_risk_terms(organization=organization, now=now)
            qs = qs.annotate(risk_points=terms.expression()).order_by(
                "-risk_points", "sla_clocks__due_at", "id"
            )
        else:
            qs = qs.order_by("sla_clocks__due_at", "id")
    else:
        qs = qs.order_by("-last_message_at", "-id")
    return qs if limit is None else qs[:limit]


def conversation_search(
    *,
    organization: Organization,
    user,
    q: str,
    filter_name: str = "all",
    kind: str = "",
    due_within: float | None = None,
    state: str = "",
    limit: int = 50,
    offset: int = 0,
    now: datetime | None = None,
) -> list[Conversation]:
    """Conversations of the organization matching the search `q` (inbox/search.py), best first:
    the same rows as `conversation_list` (its filters apply), each with `search_snippet` (safe HTML,
    the match in <mark>) and `search_hit`. At most `search.MAX_RESULTS` are ranked; `offset` pages
    through them. A query that cannot be searched (blank, too long) returns no rows: see
    `search.search_query_parse(q).error`. At most 16 queries (SET LOCAL work_mem included)."""
    from . import search

    query = search.search_query_parse(q)
    if filter_name not in FILTERS:
        filter_name = "all"
    # The filter goes into the candidate queries too, so that they fill a page of this filter.
    scope = None if filter_name == "all" else _filter_q(filter_name, user)
    if kind:
        scope = (scope or Q()) & Q(kind=kind)
    if state:
        from .cases import STATE_GROUPS

        scope = (scope or Q()) & Q(marketplace_state__in=STATE_GROUPS[state])
    hits = search.search_hits(
        organization=organization, query=query, conversations=scope, wanted=offset + limit
    )
    if not hits:
        return []
    rank = {hit.conversation_id: i for i, hit in enumerate(hits)}
    # The candidates already respect the filters, except `due_within` (a join on the clocks): only
    # then do all of them have to be read to cut the page.
    ids = list(rank) if due_within is not None else list(rank)[offset : offset + limit]
    rows = conversation_list(
        organization=organization,
        user=user,
        filter_name=filter_name,
        kind=kind,
        due_within=due_within,
        state=state,
        limit=None,
        now=now,
    ).filter(pk__in=ids)
    page = sorted(rows, key=lambda c: rank[c.pk])
    if due_within is not None:
        page = page[offset : offset + limit]
    search.snippets_attach(page, hits, query)
    return page


def conversation_counts(
    *, organization: Organization, user, due_within: float = 4, now: datetime | None = None
) -> dict[str, int | bool]:
    """The count beside each filter, and how many waiting conversations are due within `due_within`
    hours or overdue ("due_soon", one query over the open-clock index, up to COUNT_LIMIT then
    `due_soon_more`). Three queries whatever the
    number of conversations: the open filters over the open conversations only (the partial index
    `conv_org_open_idx`); "closed" up to COUNT_LIMIT (then `closed_more`), as counting every
    closed conversation would read the organization's whole history on each refresh."""
    from sla import selectors as sla_selectors

    # _filter_q of the open filters, less the "not closed" the WHERE already applies: every column read
    # is in the index, so it is an index-only scan (and a column that is never null is counted).
    open_filters = {
        "awaiting": Q(awaiting_reply_since__isnull=False),
        "mine": Q(assignee=user),
        "unassigned": Q(assignee__isnull=True),
    }
    counts = (
        Conversation.objects.filter(organization=organization)
        .exclude(status=Conversation.Status.CLOSED)
        .aggregate(**{name: Count("organization", filter=q) for name, q in open_filters.items()})
    )
    closed = Conversation.objects.filter(organization=organization, status=Conversation.Status.CLOSED)
    counts["closed"] = closed[: COUNT_LIMIT + 1].count()
    counts["closed_more"] = counts["closed"] > COUNT_LIMIT
    counts["closed"] = min(counts["closed"], COUNT_LIMIT)
    awaiting = Conversation.objects.filter(organization=organization).filter(_filter_q("awaiting", user))
    counts["due_soon"] = sla_selectors.sla_open_marketplace_count(
        organization=organization,
        due_before=(now or timezone.now()) + timedelta(hours=due_within),
        conversations=awaiting,
        limit=COUNT_LIMIT + 1,
    )
    counts["due_soon_more"] = counts["due_soon"] > COUNT_LIMIT
    counts["due_soon"] = min(counts["due_soon"], COUNT_LIMIT)
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
