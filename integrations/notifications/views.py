"""HTML views of notification hygiene (issue #7), for team leads: the held list (release / drop),
the seller's triggers, the report ("mails saved"), settings and templates with a preview."""

from __future__ import annotations

from django.contrib import messages as flash
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from inbox.views import lead_required
from integrations.contracts import ChannelError
from integrations.models import NotificationTemplate, PlannedNotification

from . import planner, services
from .forms import PreviewForm, SettingsForm, TemplateForm, TriggerForm


def _days(request: HttpRequest) -> int:
    try:
        return min(max(int(request.GET.get("days", 14)), 1), 90)
    except ValueError:
        return 14


@require_http_methods(["GET"])
@lead_required
def notification_list(request: HttpRequest) -> HttpResponse:
    org = request.membership.organization
    days = services.notification_report(org, days=_days(request))
    held = list(services.held_list(org)[:200])
    recent = list(services.recent_list(org))
    for row in (*held, *recent):
        row.reason_text = services.reason_display(row.reason)
    return render(
        request,
        "integrations/notifications/list.html",
        {
            "held": held,
            "recent": recent,
            "days": len(days),
            "report": days,
            "totals": services.report_totals(days),
            "trigger_form": TriggerForm(organization=org),
            "settings": services.settings_for(org),
        },
    )


@require_POST
@lead_required
def notification_trigger(request: HttpRequest) -> HttpResponse:
    org = request.membership.organization
    form = TriggerForm(request.POST, organization=org)
    if form.is_valid():
        try:
            row = services.seller_trigger(
                org,
                kind=form.cleaned_data["kind"],
                order_id=form.cleaned_data["order_id"],
                account=form.cleaned_data["account"],
                language=form.cleaned_data["language"] or None,
            )
        except (ValueError, ChannelError) as exc:
            flash.error(request, _("Could not plan the notification: %(error)s") % {"error": exc})
        else:
            flash.success(
                request,
                _("Notification %(kind)s for order %(order)s: %(state)s.")
                % {"kind": row.kind, "order": row.order_id, "state": row.get_state_display()},
            )
    else:
        flash.error(request, _("Check the form: %(errors)s") % {"errors": form.errors.as_text()})
    return redirect("notifications:notification-list")


@require_POST
@lead_required
def notification_release(request: HttpRequest, pk: int) -> HttpResponse:
    row = get_object_or_404(PlannedNotification, pk=pk, organization=request.membership.organization)
    if row.state != planner.HELD:
        flash.error(request, _("Only held notifications can be released."))
    else:
        row = services.notification_release(row, acting_user=request.user)
        flash.success(request, _("Released: %(state)s.") % {"state": row.get_state_display()})
    return redirect("notifications:notification-list")


@require_POST
@lead_required
def notification_drop(request: HttpRequest, pk: int) -> HttpResponse:
    row = get_object_or_404(PlannedNotification, pk=pk, organization=request.membership.organization)
    if row.state != planner.HELD:
        flash.error(request, _("Only held notifications can be dropped."))
    else:
        services.notification_drop(row)
        flash.success(request, _("Dropped: the buyer will not get this message."))
    return redirect("notifications:notification-list")


@require_http_methods(["GET", "POST"])
@lead_required
def notification_settings(request: HttpRequest) -> HttpResponse:
    org = request.membership.organization
    instance = services.settings_for(org)
    form = SettingsForm(request.POST or None, instance=instance)
    if request.method == "POST":
        if form.is_valid():
            form.save()
            flash.success(request, _("Notification settings saved."))
            return redirect("notifications:notification-settings")
        return render(request, "integrations/notifications/settings.html", {"form": form}, status=422)
    return render(request, "integrations/notifications/settings.html", {"form": form})


@require_http_methods(["GET", "POST"])
@lead_required
def template_list(request: HttpRequest) -> HttpResponse:
    """One text per kind and language; a preview renders it with a real order when one is given."""
    org = request.membership.organization
    status = 200
    if request.method == "POST":
        form = TemplateForm(request.POST)
        if form.is_valid():
            services.template_save(org, **form.cleaned_data)
            flash.success(request, _("Template saved."))
            return redirect("notifications:template-list")
        status = 422
    preview_form = PreviewForm(request.GET or None, organization=org)
    preview_error = ""
    context = services.preview_context(org)
    if preview_form.is_bound and preview_form.is_valid():
        try:
            context = services.preview_context(
                org,
                account=preview_form.cleaned_data["account"],
                order_id=preview_form.cleaned_data["order_id"],
            )
        except ChannelError as exc:
            preview_error = exc.user_message
    rows = []
    for kind, kind_label in NotificationTemplate.Kind.choices:
        for language, language_label in NotificationTemplate.Language.choices:
            body = services.template_text(org.pk, kind, language)
            rows.append(
                {
                    "kind_label": kind_label,
                    "language_label": language_label,
                    "form": TemplateForm(initial={"kind": kind, "language": language, "body": body}),
                    "preview": services.template_render(org, kind=kind, language=language, context=context),
                }
            )
    return render(
        request,
        "integrations/notifications/templates.html",
        {
            "rows": rows,
            "preview_form": preview_form,
            "preview_error": preview_error,
            "variables": planner.VARIABLES,
        },
        status=status,
    )
