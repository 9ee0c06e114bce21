"""Allegro-specific pages and actions: connecting an account (device flow), claim decisions."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.contrib import messages as flash
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from inbox import selectors
from inbox import services as inbox_services
from inbox.models import ConversationEvent
from inbox.views import _conversation_context, lead_required, member_required
from integrations.contracts import ChannelError

from .adapter import AllegroAdapter
from .connect import allegro_connect_start
from .sources.issues import CLAIM_ACCEPT, CLAIM_REJECT, issue_update


@require_POST
@member_required
def claim_decide(request: HttpRequest, pk: int) -> HttpResponse:
    conversation = selectors.conversation_get(organization=request.membership.organization, pk=pk)
    status = request.POST.get("status", "")
    message = request.POST.get("message", "").strip()
    error = ""
    refund = None
    if conversation.kind != "claim" or conversation.account.kind != "allegro":
        error = _("Only Allegro claims take a decision.")
    elif status not in CLAIM_ACCEPT + CLAIM_REJECT:
        error = _("Choose a decision.")
    elif not message:
        error = _("Write a message to the buyer.")
    elif status == "ACCEPTED_PARTIAL_REFUND":
        try:
            amount = Decimal(request.POST.get("amount", "").replace(",", "."))
            if amount <= 0:
                raise InvalidOperation
            refund = (f"{amount:.2f}", "PLN")
        except InvalidOperation:
            error = _("Enter the partial refund amount.")
    if not error:
        adapter = AllegroAdapter(conversation.account)
        try:
            adapter.claim_decide(
                conversation.external_id, status=status, message=message, partial_refund=refund
            )
            update = issue_update(adapter.client.get(f"/sale/issues/{conversation.external_id}"))
            if update is not None:
                inbox_services.conversation_apply_update(conversation.account, update)
            inbox_services.conversation_event_record(
                conversation,
                ConversationEvent.Kind.STATE_CHANGED,
                actor=request.user,
                decision=status,
                refund=refund[0] if refund else None,
            )
        except ChannelError as exc:
            error = exc.user_message
    if not request.htmx:
        return redirect("inbox:conversation-detail", pk=conversation.pk)
    conversation.refresh_from_db()
    context = _conversation_context(request, conversation)
    context["claim_error"] = error
    return render(request, "inbox/inbox.html#conversation-pane", context, status=422 if error else 200)


@require_POST
@lead_required
def account_connect(request: HttpRequest) -> HttpResponse:
    """Start the OAuth2 device flow; the accounts page shows the link and code and polls the state."""
    from integrations.tasks import allegro_connect_poll

    try:
        account = allegro_connect_start(
            organization=request.membership.organization, name=request.POST.get("name", "").strip()[:200]
        )
    except ChannelError as exc:
        flash.error(
            request, _("Could not start the Allegro authorization: %(reason)s") % {"reason": exc.user_message}
        )
        return redirect("inbox:account-list")
    allegro_connect_poll.apply_async(
        args=[account.pk], countdown=int(account.connect_state.get("interval", 5))
    )
    return redirect(reverse("inbox:account-list") + f"#account-{account.pk}")
