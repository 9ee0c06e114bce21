"""HTML views (htmx). Each view parses input, calls one service or selector, and renders.

A full request renders the whole page; an htmx request renders only the partial it targets
(`template.html#partial`), so the same view serves both.
"""

from __future__ import annotations

from datetime import timedelta
from functools import wraps

from celery import current_app
from django.conf import settings
from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from . import cases, search, selectors, services
from .forms import AssignForm, ReplyForm
from .models import Conversation, Message


def reply_warnings(conversation: Conversation, text: str) -> list[str]:
    """Translated warnings from the REPLY_CHECKS hooks (e.g. an unedited template, rules.md §5)."""
    warnings: list[str] = []
    for path in settings.REPLY_CHECKS:
        warnings += [_(w) for w in import_string(path)(conversation, text)]
    return warnings


def member_required(view):
    """Signed in and a member of an organization; `request.membership` is then set."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        if request.membership is None:
            raise Http404("No workspace")
        return view(request, *args, **kwargs)

    return wrapper


def lead_required(view):
    @member_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        if not request.membership.is_lead:
            raise Http404("Leads only")
        return view(request, *args, **kwargs)

    return wrapper


def _list_params(request: HttpRequest) -> dict:
    # A search (?q=) looks through every conversation unless a filter is chosen as well.
    filter_name = request.GET.get("filter", "all" if request.GET.get("q", "").strip() else "awaiting")
    if filter_name not in selectors.FILTERS:
        filter_name = "awaiting"
    kind = request.GET.get("kind", "")
    if kind not in Conversation.Kind.values:
        kind = ""
    # "Breaching within N hours" (overdue included), e.g. ?due_within=4.
    try:
        due_within = float(request.GET.get("due_within", ""))
    except ValueError:
        due_within = None
    if due_within is not None and not 0 <= due_within <= 24 * 30:
        due_within = None
    # Discussions and claims: Sales Center's states (in progress, unresolved, closed).
    state = request.GET.get("state", "")
    if state not in cases.STATE_GROUPS:
        state = ""
    # Waiting lists: by deadline (default) or by the quality-score points at risk.
    sort = request.GET.get("sort", "due")
    if sort not in selectors.SORTS:
        sort = "due"
    return {"filter_name": filter_name, "kind": kind, "due_within": due_within, "state": state, "sort": sort}


DUE_WITHIN_CHOICES = (1, 4, 24)


def _list_rows(request: HttpRequest, params: dict):
    """The list's rows: the filtered inbox, or the search results (best first) for `?q=`."""
    org = request.membership.organization
    q = request.GET.get("q", "")
    if not q.strip():
        return selectors.conversation_list(organization=org, user=request.user, **params)
    return selectors.conversation_search(
        organization=org,
        user=request.user,
        q=q,
        filter_name=params["filter_name"],
        kind=params["kind"],
        due_within=params["due_within"],
        state=params["state"],
    )


def _list_context(request: HttpRequest, params: dict) -> dict:
    from sla import selectors as sla_selectors

    org = request.membership.organization
    due_within = params["due_within"]
    search_query = search.search_query_parse(request.GET.get("q", ""))
    return {
        "conversations": _list_rows(request, params),
        "counts": selectors.conversation_counts(organization=org, user=request.user),
        "alerts_unread": sla_selectors.sla_alert_unread_count(user=request.user, organization=org),
        "filter_name": params["filter_name"],
        "kind": params["kind"],
        # As written in URLs: "4" rather than "4.0".
        "due_within": "" if due_within is None else f"{due_within:g}",
        "due_within_choices": [(str(h), _("≤ %(h)s h") % {"h": h}) for h in DUE_WITHIN_CHOICES],
        "filters": [
            ("awaiting", _("Awaiting reply")),
            ("mine", _("Mine")),
            ("unassigned", _("Unassigned")),
            ("all", _("All")),
            ("closed", _("Closed")),
        ],
        "state": params["state"],
        "sort": params["sort"],
        "sortable": params["filter_name"] == "awaiting" or due_within is not None,
        "sorts": [("due", _("Deadline")), ("risk", _("Score at risk"))],
        "kinds": [("", _("All types"))] + [(k.value, k.label) for k in Conversation.Kind],
        "states": [
            ("", _("Any state")),
            ("in_progress", _("In progress")),
            ("unresolved", _("Unresolved")),
            ("closed", _("Closed")),
        ],
        "query_string": request.GET.urlencode(),
        # Search: the query as typed, and why it was not searched (too long, no word), if so.
        "q": search_query.raw,
        "search_error": search_query.error,
        "search_max_length": search.MAX_QUERY_LENGTH,
    }


def _conversation_context(request: HttpRequest, conversation: Conversation) -> dict:
    from sla import selectors as sla_selectors
    from sla.forms import NoReplyNeededForm

    org = request.membership.organization
    return {
        "conversation": conversation,
        "thread": selectors.message_list_for_conversation(conversation),
        "members": selectors.organization_members(organization=org),
        "related": selectors.contact_conversations(conversation),
        "reply_form": ReplyForm(),
        "now": timezone.now(),
        "sla_clocks": sla_selectors.sla_open_clocks(conversation),
        "sla_last_record": sla_selectors.sla_last_record(conversation),
        "no_reply_form": NoReplyNeededForm(),
        "case": cases.case_summary(conversation),
        "timeline": cases.case_timeline(conversation, now=timezone.now()),
    }


@require_GET
@member_required
def conversation_list(request: HttpRequest) -> HttpResponse:
    params = _list_params(request)
    context = _list_context(request, params)
    if request.htmx and request.htmx.target == "conversation-list":
        # The list alone (polled, or refreshed after a change); its counters come with it out of band.
        return render(request, "inbox/inbox.html#conversation-list", {**context, "list_only": True})
    return render(request, "inbox/inbox.html", context)


@require_GET
@member_required
def conversation_detail(request: HttpRequest, pk: int) -> HttpResponse:
    conversation = selectors.conversation_get(organization=request.membership.organization, pk=pk)
    services.conversation_mark_read(conversation, user=request.user)
    context = _conversation_context(request, conversation)
    if request.htmx and request.htmx.target == "conversation-header":
        return render(request, "inbox/inbox.html#conversation-header", context)
    if request.htmx and not request.htmx.boosted:
        return render(request, "inbox/inbox.html#conversation-pane", context)
    context.update(_list_context(request, _list_params(request)))
    return render(request, "inbox/inbox.html", context)


@require_GET
@member_required
def conversation_thread(request: HttpRequest, pk: int) -> HttpResponse:
    """The message thread alone (polled while a reply is on its way, and for new buyer messages)."""
    conversation = selectors.conversation_get(organization=request.membership.organization, pk=pk)
    # Polled every second while a reply is on its way: render the thread from what it needs only
    # (the full pane context would also query members, clocks, related conversations…).
    thread_context = {
        "conversation": conversation,
        "thread": selectors.message_list_for_conversation(conversation),
        "now": timezone.now(),
    }
    response = render(request, "inbox/inbox.html#message-thread", thread_context)
    # A reply was just delivered: the header's clocks and the list change too.
    just_now = timezone.now() - timedelta(seconds=3)
    if conversation.messages.filter(
        direction=Message.Direction.OUTBOUND, delivered_at__gte=just_now
    ).exists():
        response["HX-Trigger"] = "conversation-changed"
    return response


def _pane(request: HttpRequest, conversation: Conversation, *, status: int = 200) -> HttpResponse:
    """After an action: the refreshed conversation pane for htmx, a redirect to it otherwise."""
    if not request.htmx:
        return redirect("inbox:conversation-detail", pk=conversation.pk)
    conversation.refresh_from_db()
    response = render(
        request,
        "inbox/inbox.html#conversation-pane",
        _conversation_context(request, conversation),
        status=status,
    )
    response["HX-Trigger"] = "conversation-changed"
    return response


@require_POST
@member_required
def conversation_reply(request: HttpRequest, pk: int) -> HttpResponse:
    conversation = selectors.conversation_get(organization=request.membership.organization, pk=pk)
    form = ReplyForm(request.POST, request.FILES)
    if not form.is_valid():
        context = _conversation_context(request, conversation)
        context["reply_form"] = form
        return render(request, "inbox/inbox.html#conversation-pane", context, status=422)
    if not request.POST.get("confirmed"):
        warnings = reply_warnings(conversation, form.cleaned_data["text"])
        if warnings:
            context = _conversation_context(request, conversation)
            context["reply_form"] = form
            context["reply_warnings"] = warnings
            return render(request, "inbox/inbox.html#conversation-pane", context, status=422)
    try:
        services.message_reply_create(
            conversation,
            text=form.cleaned_data["text"],
            acting_user=request.user,
            idempotency_key=form.cleaned_data.get("idempotency_key"),
            attachments=form.cleaned_data.get("attachments") or [],
            undo_seconds=import_string(settings.REPLY_UNDO_SECONDS)(conversation.organization_id),
        )
    except PermissionError as exc:
        form.add_error(None, str(exc))
        context = _conversation_context(request, conversation)
        context["reply_form"] = form
        return render(request, "inbox/inbox.html#conversation-pane", context, status=409)
    return _pane(request, conversation)


@require_POST
@member_required
def conversation_assign(request: HttpRequest, pk: int) -> HttpResponse:
    org = request.membership.organization
    conversation = selectors.conversation_get(organization=org, pk=pk)
    form = AssignForm(request.POST, organization=org, user=request.user)
    if form.is_valid():
        services.conversation_assign(
            conversation, assignee=form.cleaned_data["assignee"], acting_user=request.user
        )
    return _pane(request, conversation)


@require_POST
@member_required
def conversation_close(request: HttpRequest, pk: int) -> HttpResponse:
    conversation = selectors.conversation_get(organization=request.membership.organization, pk=pk)
    services.conversation_close(conversation, acting_user=request.user)
    return _pane(request, conversation)


@require_POST
@member_required
def conversation_reopen(request: HttpRequest, pk: int) -> HttpResponse:
    conversation = selectors.conversation_get(organization=request.membership.organization, pk=pk)
    services.conversation_reopen(conversation, acting_user=request.user)
    return _pane(request, conversation)


@require_POST
@member_required
def conversation_no_reply_needed(request: HttpRequest, pk: int) -> HttpResponse:
    """An agent decides no reply is needed (audited, with a reason): the reply clocks stop."""
    from sla import services as sla_services
    from sla.forms import NoReplyNeededForm

    conversation = selectors.conversation_get(organization=request.membership.organization, pk=pk)
    form = NoReplyNeededForm(request.POST)
    if not form.is_valid():
        context = _conversation_context(request, conversation)
        context["no_reply_form"] = form
        return render(request, "inbox/inbox.html#conversation-pane", context, status=422)
    reason = form.cleaned_data["reason"]
    sla_services.sla_no_reply_needed(conversation, reason=reason, acting_user=request.user)
    return _pane(request, conversation)


@require_POST
@member_required
def message_undo(request: HttpRequest, pk: int, message_pk: int) -> HttpResponse:
    """Take a reply back inside its undo window; its text returns to the reply box."""
    conversation = selectors.conversation_get(organization=request.membership.organization, pk=pk)
    message = conversation.messages.filter(pk=message_pk, direction=Message.Direction.OUTBOUND).first()
    if message is None:
        raise Http404
    text = services.message_reply_undo(message, acting_user=request.user)
    if not request.htmx:
        return redirect("inbox:conversation-detail", pk=conversation.pk)
    context = _conversation_context(request, conversation)
    if text is None:
        context["reply_warnings"] = [_("Too late: the reply has already left.")]
    else:
        context["reply_form"] = ReplyForm(initial={"text": text})
    return render(request, "inbox/inbox.html#conversation-pane", context)


@require_POST
@member_required
def message_retry(request: HttpRequest, pk: int, message_pk: int) -> HttpResponse:
    conversation = selectors.conversation_get(organization=request.membership.organization, pk=pk)
    message = conversation.messages.filter(pk=message_pk, direction=Message.Direction.OUTBOUND).first()
    if message is None:
        raise Http404
    services.message_retry(message, acting_user=request.user)
    return _pane(request, conversation)


# --- channel accounts --------------------------------------------------------------------------


@require_GET
@member_required
def account_list(request: HttpRequest) -> HttpResponse:
    organization = request.membership.organization
    accounts = list(selectors.channel_account_list(organization=organization))
    # Payloads a sync could not use (issue #9), by name: inbox does not import integrations.
    problems = import_string("integrations.sync_problems.sync_problem_list")(
        organization=organization, account_ids=[a.pk for a in accounts]
    )
    for account in accounts:
        account.sync_health = problems.get(account.pk, {"count": 0, "recent": []})
    if request.htmx and request.htmx.target == "account-list":
        return render(request, "inbox/accounts.html#account-list", {"accounts": accounts})
    return render(request, "inbox/accounts.html", {"accounts": accounts})


@require_POST
@lead_required
def account_sync_now(request: HttpRequest, pk: int) -> HttpResponse:
    account = selectors.channel_account_get(organization=request.membership.organization, pk=pk)
    current_app.send_task(services.SYNC_TASK, args=[account.pk])
    flash.success(request, _("Synchronisation of %(name)s started.") % {"name": account.name})
    return redirect("inbox:account-list")
