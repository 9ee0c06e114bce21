"""Webhook subscriptions pages (owners and team leads; everyone else gets 404). Issue #8.

The list page creates subscriptions; a subscription's page edits it and shows its latest
deliveries with every attempt (status code, error, the receiver's answer). A signing secret is
shown once, in the response to the POST that created or rotated it.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages as flash
from django.core.validators import URLValidator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from inbox.views import lead_required

from . import webhooks
from .models import WebhookSubscription

LIST_TEMPLATE = "integrations/webhooks.html"
DETAIL_TEMPLATE = "integrations/webhooks_detail.html"


class WebhookSubscriptionForm(forms.Form):
    url = forms.URLField(
        label=gettext_lazy("Endpoint URL"),
        max_length=1000,
        validators=[URLValidator(schemes=["http", "https"])],
        assume_scheme="https",
        help_text=gettext_lazy("Replydesk POSTs signed JSON here (see the signature scheme below)."),
    )
    description = forms.CharField(label=gettext_lazy("Description"), max_length=200, required=False)
    events = forms.MultipleChoiceField(
        label=gettext_lazy("Events"),
        choices=WebhookSubscription.Event.choices,
        widget=forms.CheckboxSelectMultiple,
    )

    def service_kwargs(self) -> dict:
        data = self.cleaned_data
        return {"url": data["url"], "events": data["events"], "description": data["description"]}


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"  # the page may hold a secret shown once
    return response


@require_http_methods(["GET", "POST"])
@lead_required
def webhook_list(request: HttpRequest) -> HttpResponse:
    org = request.membership.organization
    form = WebhookSubscriptionForm(request.POST or None)
    context = {"form": form, "new_secret": None, "new_subscription": None}
    status = 200
    if request.method == "POST":
        if form.is_valid():
            subscription, secret = webhooks.webhook_subscription_create(
                organization=org, acting_user=request.user, **form.service_kwargs()
            )
            context.update(new_secret=secret, new_subscription=subscription, form=WebhookSubscriptionForm())
        else:
            status = 422
    context["subscriptions"] = webhooks.webhook_subscription_list(organization=org)
    return _no_store(render(request, LIST_TEMPLATE, context, status=status))


def _detail(
    request: HttpRequest, subscription: WebhookSubscription, *, form=None, new_secret=None, status=200
):
    form = form or WebhookSubscriptionForm(
        initial={
            "url": subscription.url,
            "description": subscription.description,
            "events": subscription.events,
        }
    )
    context = {
        "subscription": subscription,
        "form": form,
        "new_secret": new_secret,
        "deliveries": webhooks.webhook_delivery_list(subscription),
    }
    return _no_store(render(request, DETAIL_TEMPLATE, context, status=status))


@require_http_methods(["GET", "POST"])
@lead_required
def webhook_detail(request: HttpRequest, pk: int) -> HttpResponse:
    subscription = webhooks.webhook_subscription_get(organization=request.membership.organization, pk=pk)
    if request.method == "POST":
        form = WebhookSubscriptionForm(request.POST)
        if not form.is_valid():
            return _detail(request, subscription, form=form, status=422)
        webhooks.webhook_subscription_update(subscription, acting_user=request.user, **form.service_kwargs())
        flash.success(request, _("Webhook saved."))
        return redirect("webhooks:webhook-detail", pk=subscription.pk)
    return _detail(request, subscription)


@require_POST
@lead_required
def webhook_toggle(request: HttpRequest, pk: int) -> HttpResponse:
    subscription = webhooks.webhook_subscription_get(organization=request.membership.organization, pk=pk)
    webhooks.webhook_subscription_set_active(
        subscription, active=not subscription.is_active, acting_user=request.user
    )
    return redirect("webhooks:webhook-detail", pk=subscription.pk)


@require_POST
@lead_required
def webhook_rotate_secret(request: HttpRequest, pk: int) -> HttpResponse:
    subscription = webhooks.webhook_subscription_get(organization=request.membership.organization, pk=pk)
    secret = webhooks.webhook_subscription_rotate_secret(subscription, acting_user=request.user)
    subscription.refresh_from_db()
    return _detail(request, subscription, new_secret=secret)


@require_POST
@lead_required
def webhook_ping(request: HttpRequest, pk: int) -> HttpResponse:
    subscription = webhooks.webhook_subscription_get(organization=request.membership.organization, pk=pk)
    webhooks.webhook_ping(subscription, acting_user=request.user)
    flash.success(request, _("Test event queued."))
    return redirect("webhooks:webhook-detail", pk=subscription.pk)


@require_POST
@lead_required
def webhook_delete(request: HttpRequest, pk: int) -> HttpResponse:
    subscription = webhooks.webhook_subscription_get(organization=request.membership.organization, pk=pk)
    webhooks.webhook_subscription_delete(subscription, acting_user=request.user)
    flash.success(request, _("Webhook deleted."))
    return redirect("webhooks:webhook-list")


@require_POST
@lead_required
def webhook_delivery_redeliver(request: HttpRequest, pk: int) -> HttpResponse:
    delivery = webhooks.webhook_delivery_get(organization=request.membership.organization, pk=pk)
    webhooks.webhook_delivery_redeliver(delivery, acting_user=request.user)
    flash.success(request, _("Delivery queued again."))
    return redirect("webhooks:webhook-detail", pk=delivery.subscription_id)
