"""HTML views of the SLA engine: reply policies (leads), alerts (everyone's own), the metrics board.

Routed from inbox/urls.py (one URL namespace for the whole UI); they reuse the inbox's access
decorators, so the organization always comes from the signed-in user's membership.
"""

from __future__ import annotations

from django.contrib import messages as flash
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from inbox.models import Conversation
from inbox.views import lead_required, member_required

from . import selectors, services
from .forms import DayOffForm, PolicyForm


def _policies_context(request: HttpRequest, forms: dict | None = None, day_off_form=None) -> dict:
    org = request.membership.organization
    policies = selectors.sla_policies_effective(organization_id=org.pk)
    rows = []
    for kind, label in Conversation.Kind.choices:
        form = (forms or {}).get(kind) or PolicyForm(
            initial=PolicyForm.initial_for(policies[kind]), prefix=kind
        )
        rows.append({"kind": kind, "label": label, "form": form, "policy": policies[kind]})
    return {
        "rows": rows,
        "days_off": selectors.sla_day_off_list(organization=org),
        "day_off_form": day_off_form or DayOffForm(),
    }


@require_http_methods(["GET", "POST"])
@lead_required
def policy_list(request: HttpRequest) -> HttpResponse:
    """Per-kind limits, team targets, business hours, warning levels; and the extra days off."""
    if request.method == "POST":
        kind = request.POST.get("kind", "")
        if kind not in Conversation.Kind.values:
            return redirect("inbox:sla-policies")
        form = PolicyForm(request.POST, prefix=kind)
        if form.is_valid():
            services.sla_policy_update(
                request.membership.organization,
                conversation_kind=kind,
                acting_user=request.user,
                **form.to_service_kwargs(),
            )
            flash.success(request, _("Reply policy saved. New clocks use it from now on."))
            return redirect("inbox:sla-policies")
        return render(
            request, "sla/policies.html", _policies_context(request, forms={kind: form}), status=422
        )
    return render(request, "sla/policies.html", _policies_context(request))


@require_POST
@lead_required
def day_off_add(request: HttpRequest) -> HttpResponse:
    form = DayOffForm(request.POST)
    if not form.is_valid():
        return render(request, "sla/policies.html", _policies_context(request, day_off_form=form), status=422)
    services.sla_day_off_add(
        request.membership.organization,
        day=form.cleaned_data["day"],
        note=form.cleaned_data["note"],
        acting_user=request.user,
    )
    flash.success(request, _("Day off added."))
    return redirect("inbox:sla-policies")


@require_POST
@lead_required
def day_off_delete(request: HttpRequest, pk: int) -> HttpResponse:
    day_off = selectors.sla_day_off_get(organization=request.membership.organization, pk=pk)
    services.sla_day_off_remove(day_off, acting_user=request.user)
    flash.success(request, _("Day off removed."))
    return redirect("inbox:sla-policies")


@require_GET
@member_required
def alert_list(request: HttpRequest) -> HttpResponse:
    org = request.membership.organization
    context = {
        "alerts": selectors.sla_alert_list(user=request.user, organization=org),
        "unread": selectors.sla_alert_unread_count(user=request.user, organization=org),
    }
    return render(request, "sla/alerts.html", context)


@require_POST
@member_required
def alerts_read(request: HttpRequest) -> HttpResponse:
    services.sla_alerts_mark_read(user=request.user, organization=request.membership.organization)
    return redirect("inbox:sla-alerts")


@require_POST
@member_required
def alert_read(request: HttpRequest, pk: int) -> HttpResponse:
    """Mark one alert read and open its conversation."""
    alert = selectors.sla_alert_get(user=request.user, organization=request.membership.organization, pk=pk)
    services.sla_alerts_mark_read(
        user=request.user, organization=request.membership.organization, alert_ids=[alert.pk]
    )
    return redirect("inbox:conversation-detail", pk=alert.conversation_id)


@require_GET
@lead_required
def metrics_board(request: HttpRequest) -> HttpResponse:
    """Rolling 30-day reply figures (rules.md §3) of the organization, per account, kind, agent, day."""
    try:
        days = min(max(int(request.GET.get("days", 30)), 1), 90)
    except ValueError:
        days = 30
    board = selectors.sla_metrics_board(organization=request.membership.organization, days=days)
    return render(request, "sla/metrics.html", {"board": board, "days": days})
