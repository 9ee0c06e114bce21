"""Allegro-specific actions in the conversation view (claim decisions)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from inbox import selectors
from inbox import services as inbox_services
from inbox.models import ConversationEvent
from inbox.views import _conversation_context, member_required
from integrations.contracts import ChannelError

from .adapter import AllegroAdapter
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
            adapter.claim_decide(conversation.external_id, status=status, message=message, partial_refund=refund)
            update = issue_update(adapter.client.get(f"/sale/issues/{conversation.external_id}"))
            if update is not None:
                inbox_services.conversation_apply_update(conversation.account, update)
            inbox_services.conversation_event_record(
                conversation, ConversationEvent.Kind.STATE_CHANGED, actor=request.user,
                decision=status, refund=refund[0] if refund else None,
            )
        except ChannelError as exc:
            error = exc.user_message
    if not request.htmx:
        return redirect("inbox:conversation-detail", pk=conversation.pk)
    conversation.refresh_from_db()
    context = _conversation_context(request, conversation)
    context["claim_error"] = error
    return render(request, "inbox/inbox.html#conversation-pane", context, status=422 if error else 200)
