"""Mailbox settings pages (owners and team leads only; everyone else gets 404).

Each view parses input, calls one service, and renders. The "Test connection" button posts the
form over htmx and gets the `#connection-test` partial back.
"""

from __future__ import annotations

from django.contrib import messages as flash
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from inbox.models import ChannelAccount
from inbox.views import lead_required

from . import services
from .forms import MailboxForm
from .mailbox import MailboxSettings

TEMPLATE = "integrations/email/mailbox_form.html"


def _mailbox_get(request: HttpRequest, pk: int) -> ChannelAccount:
    return get_object_or_404(
        ChannelAccount, organization=request.membership.organization, kind=ChannelAccount.Kind.EMAIL, pk=pk
    )


@require_http_methods(["GET"])
@lead_required
def mailbox_list(request: HttpRequest) -> HttpResponse:
    mailboxes = ChannelAccount.objects.filter(
        organization=request.membership.organization, kind=ChannelAccount.Kind.EMAIL
    ).order_by("created_at")
    return render(request, "integrations/email/mailbox_list.html", {"mailboxes": mailboxes})


@require_http_methods(["GET", "POST"])
@lead_required
def mailbox_create(request: HttpRequest) -> HttpResponse:
    form = MailboxForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            account = services.mailbox_create(
                organization=request.membership.organization,
                name=form.cleaned_data["name"],
                mailbox=form.mailbox(),
            )
        except services.MailboxExists:
            form.add_error("from_email", _("This address is already connected."))
        else:
            flash.success(
                request, _("Mailbox %(name)s added; the first sync has started.") % {"name": account.name}
            )
            return redirect("inbox:account-list")
    return render(request, TEMPLATE, {"form": form, "account": None}, status=422 if form.errors else 200)


@require_http_methods(["GET", "POST"])
@lead_required
def mailbox_edit(request: HttpRequest, pk: int) -> HttpResponse:
    account = _mailbox_get(request, pk)
    stored = MailboxSettings.from_account(account)
    if request.method == "POST":
        form = MailboxForm(request.POST, stored=stored)
        if form.is_valid():
            try:
                services.mailbox_update(account, name=form.cleaned_data["name"], mailbox=form.mailbox())
            except services.MailboxExists:
                form.add_error("from_email", _("This address is already connected."))
            else:
                flash.success(request, _("Mailbox %(name)s saved.") % {"name": account.name})
                return redirect("mailboxes:mailbox-list")
    else:
        form = MailboxForm(initial=MailboxForm.initial_from(account.name, stored), stored=stored)
    return render(request, TEMPLATE, {"form": form, "account": account}, status=422 if form.errors else 200)


def _test(request: HttpRequest, stored: MailboxSettings | None) -> HttpResponse:
    form = MailboxForm(request.POST, stored=stored)
    context = {"form": form, "checks": [], "tested": True}
    if form.is_valid():
        context["checks"] = services.mailbox_check(form.mailbox())
    return render(request, TEMPLATE + "#connection-test", context)


@require_POST
@lead_required
def mailbox_test(request: HttpRequest) -> HttpResponse:
    return _test(request, None)


@require_POST
@lead_required
def mailbox_test_existing(request: HttpRequest, pk: int) -> HttpResponse:
    return _test(request, MailboxSettings.from_account(_mailbox_get(request, pk)))
