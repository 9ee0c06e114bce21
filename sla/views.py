"""HTML views of the SLA engine: reply policies (leads), alerts (everyone's own), the metrics board.

Routed from inbox/urls.py (one URL namespace for the whole UI); they reuse the inbox's access
decorators, so the organization always comes from the signed-in user's membership.
"""

from __future__ import annotations

import csv
import json

from celery import current_app
from django.contrib import messages as flash
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from inbox.models import Conversation
from inbox.views import lead_required, member_required

from . import board_selectors, quality, quality_selectors, quality_services, selectors, services
from .charts import line_chart
from .forms import DayOffForm, PolicyForm, QualityConfigForm


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
    org = request.membership.organization
    board, extra = board_selectors.sla_board_cached(organization=org, days=days)
    table = request.GET.get("export")
    if table:
        return _metrics_csv(board, extra, table, days)
    context = {
        "board": board,
        "days": days,
        "heatmap": _heatmap_cells(extra["heatmap"]),
        "team": extra["team"],
        **_day_charts(board),
    }
    if request.htmx:
        # The poll: the rendered region itself is shared for the cache's few seconds (per language).
        html = board_selectors.board_cached(
            "metrics-html",
            org,
            lambda: render_to_string("sla/metrics.html#metrics-board", context, request=request),
            days,
            get_language(),
            request.get_full_path(),
        )
        return HttpResponse(html)
    return render(request, "sla/metrics.html", context)


CSV_TABLES = ("account", "kind", "agent", "day", "heatmap")

TEAM_FIGURE_TITLES = {
    "over": gettext_lazy("Over the team target now"),
    "today": gettext_lazy("Team target breached today"),
}


def _key_of_organization(org, dimension: str, key: str) -> None:
    """Tenancy of a drill-down key: another organization's account or user is a 404, not an empty list."""
    if dimension == "account" and not org.channel_accounts.filter(pk=int(key)).exists():
        raise Http404("No such account")
    if dimension == "agent" and key != "none" and not org.memberships.filter(user_id=int(key)).exists():
        raise Http404("No such agent")


@require_GET
@lead_required
def metrics_team(request: HttpRequest, figure: str, dimension: str, key: str) -> HttpResponse:
    """The conversations behind a team-target figure of the reply-times board (whole organization, an
    account or an assignee): open and over the target now, or breached today."""
    if figure not in TEAM_FIGURE_TITLES or dimension not in board_selectors.TEAM_DIMENSIONS:
        raise Http404("Unknown figure")
    if (dimension == "account" and not key.isdigit()) or (
        dimension == "agent" and key != "none" and not key.isdigit()
    ):
        raise Http404("Bad key")
    org = request.membership.organization
    _key_of_organization(org, dimension, key)
    clocks = board_selectors.sla_team_conversations(
        organization=org, figure=figure, dimension=dimension, key=key
    )
    context = {"clocks": clocks, "figure": figure, "title": TEAM_FIGURE_TITLES[figure], "now": timezone.now()}
    return render(request, "sla/metrics_team.html", context)


def _day_charts(board: dict) -> dict:
    days = board["by_day"]
    labels = [r.key.strftime("%d.%m") if r.key else "" for r in days]
    on_time = line_chart(
        labels,
        [
            (
                "on_time",
                _("on-time rate (%)"),
                [round(r.on_time_rate * 100, 1) if r.due else None for r in days],
            )
        ],
        y_min=0,
        y_max=100,
    )
    reply = line_chart(
        labels,
        [
            (
                "avg",
                _("average reply time (h)"),
                [
                    round(r.avg_policy_seconds / 3600, 2) if r.avg_policy_seconds is not None else None
                    for r in days
                ],
            ),
            (
                "p90",
                _("p90 reply time (h)"),
                [
                    round(r.p90_policy_seconds / 3600, 2) if r.p90_policy_seconds is not None else None
                    for r in days
                ],
            ),
        ],
        y_min=0,
    )
    return {"chart_on_time": on_time, "chart_reply": reply}


WEEKDAYS = (
    gettext_lazy("Mon"),
    gettext_lazy("Tue"),
    gettext_lazy("Wed"),
    gettext_lazy("Thu"),
    gettext_lazy("Fri"),
    gettext_lazy("Sat"),
    gettext_lazy("Sun"),
)


def _heatmap_cells(heatmap: dict) -> dict:
    peak = heatmap["peak"] or 1
    rows = []
    for index, line in enumerate(heatmap["grid"]):
        rows.append(
            {
                "label": WEEKDAYS[index],
                "y": 20 + index * 18,
                "cells": [
                    {"x": 40 + hour * 22, "n": n, "opacity": f"{0.08 + 0.92 * n / peak:.2f}" if n else ""}
                    for hour, n in enumerate(line)
                ],
            }
        )
    return {"rows": rows, "hours": [{"x": 51 + h * 22, "h": h} for h in range(0, 24, 3)], **heatmap}


def _metrics_csv(board: dict, extra: dict, table: str, days: int) -> HttpResponse:
    if table not in CSV_TABLES:
        raise Http404("Unknown table")
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="reply-times-{table}-{days}d.csv"'
    writer = csv.writer(response)
    if table == "heatmap":
        writer.writerow(["weekday", *range(24)])
        for index, line in enumerate(extra["heatmap"]["grid"]):
            writer.writerow([index + 1, *line])
        return response
    columns = [
        "key",
        "label",
        "due",
        "on_time",
        "on_time_rate",
        "replied",
        "avg_policy_seconds",
        "avg_wall_seconds",
        "p50_policy_seconds",
        "p90_policy_seconds",
        "breaches",
        "overdue_unanswered",
        "no_reply",
        "team_measured",
        "team_met",
        "waiting_now",
        "oldest_waiting_since",
    ]
    extras = (
        ["due_1h", "due_4h", "replies_today", "breached_today", "on_time_7", *board_selectors.TEAM_FIGURES]
        if table in ("account", "agent")
        else []
    )
    writer.writerow(columns + extras)
    for row in board[f"by_{table}"]:
        values = [getattr(row, c) for c in columns]
        values += [row.extra.get(e) for e in extras]
        writer.writerow(
            ["" if v is None else (v.isoformat() if hasattr(v, "isoformat") else v) for v in values]
        )
    return response


# --- quality mirror (rules.md §4) ------------------------------------------------------------------

METRIC_LABELS = {
    "messages_on_time": gettext_lazy("Messages answered on time"),
    "messages_avg_time": gettext_lazy("Average message reply time"),
    "discussions_on_time": gettext_lazy("Discussions answered on time"),
    "discussions_avg_time": gettext_lazy("Average discussion reply time"),
    "discussions_unresolved": gettext_lazy("Unresolved discussions"),
    "no_discussions": gettext_lazy("No discussions at all"),
}
GRADE_LABELS = {
    "SUPER": gettext_lazy("Super"),
    "GOOD": gettext_lazy("Good"),
    "NEUTRAL": gettext_lazy("Neutral"),
    "NEEDS_IMPROVEMENT": gettext_lazy("Needs improvement"),
}
CRITERION_LABELS = {
    "company_account": gettext_lazy("Company account"),
    "super_days": gettext_lazy("Super on at least 14 of the last 30 days"),
    "at_least_good": gettext_lazy("At least Good through the last 30 days"),
    "orders": gettext_lazy("At least 50 completed orders in 30 days"),
}
STATUS_LABELS = {
    "met": gettext_lazy("met"),
    "not_met": gettext_lazy("not met"),
    "unknown": gettext_lazy("unknown"),
}


def _grade_label(grade: str) -> str:
    key = quality.official_grade(grade)
    return str(GRADE_LABELS.get(key, grade or "—"))


def _value_text(code: str, value: float | None) -> str:
    if value is None:
        return "—"
    if code.endswith("_on_time") or code == "discussions_unresolved":
        return f"{value * 100:.1f} %"
    if code.endswith("_avg_time"):
        return f"{value:.1f} h"
    return f"{value:g}"


def _rule_text(metric: quality.MetricScore, rule: dict) -> str:
    fixed = {
        "nothing due": _("nothing due in the window"),
        "nothing replied": _("nothing replied in the window"),
        "none unresolved": _("none unresolved"),
        "orders unknown": _("number of orders unknown (set it below)"),
        "no discussions": _("no discussions in the window"),
        "has discussions": _("applies only without discussions"),
    }
    if metric.rule in fixed:
        return fixed[metric.rule]
    code = metric.code
    if code.endswith("_on_time"):
        return _("≥ %(t)s on time: %(plus)s, below: %(minus)s") % {
            "t": f"{rule['threshold'] * 100:g} %",
            "plus": f"{rule['plus']:+g}",
            "minus": f"{rule['minus']:+g}",
        }
    if code.endswith("_avg_time"):
        return _("%(max)s points within %(full)s h, 0 at %(zero)s h, linear between") % {
            "max": f"{rule['max_points']:g}",
            "full": f"{rule['full_hours']:g}",
            "zero": f"{rule['zero_hours']:g}",
        }
    if code == "discussions_unresolved":
        return _("%(max)s points with none, 0 at %(ratio)s of orders") % {
            "max": f"{rule['max_points']:g}",
            "ratio": f"{rule['zero_ratio'] * 100:g} %",
        }
    if code == "no_discussions":
        return _("up to %(max)s points, in proportion to orders (full at %(orders)s)") % {
            "max": f"{rule['max_points']:g}",
            "orders": f"{rule['full_at_orders']:g}",
        }
    return metric.rule


def _quality_context(request: HttpRequest) -> dict:
    org = request.membership.organization
    board = board_selectors.board_cached(
        "quality", org, lambda: quality_selectors.quality_board(organization=org)
    )
    scheme = board["settings"].scheme
    rules = {m["code"]: m for m in scheme["metrics"]}
    threshold = rules.get("messages_on_time", {}).get("threshold", 0.95)
    accounts = []
    for aq in board["accounts"]:
        labels = [h["day"].strftime("%d.%m") for h in aq.history]
        chart = line_chart(
            labels,
            [
                ("mirrored", _("Our customer-service area"), [h["mirrored"].score for h in aq.history]),
                (
                    "official",
                    _("Allegro's official score"),
                    [h["official"].score if h["official"] else None for h in aq.history],
                ),
            ],
            y_min=0,
        )
        accounts.append(
            {
                "aq": aq,
                "grade": _grade_label(aq.mirrored.grade),
                "official_grade": _grade_label(aq.official.grade) if aq.official else "—",
                "metrics": [
                    {
                        "code": m.code,
                        "label": METRIC_LABELS.get(m.code, m.code),
                        "value": _value_text(m.code, m.value),
                        "points": m.points,
                        "max_points": m.max_points,
                        "rule": _rule_text(m, rules.get(m.code, {})),
                        "small_sample": m.small_sample,
                    }
                    for m in aq.mirrored.metrics
                ],
                "sentence": quality_selectors.forecast_sentence(aq.forecast, threshold=threshold),
                "checklist": [
                    {
                        "label": CRITERION_LABELS[c.code],
                        "status": c.status,
                        "status_label": STATUS_LABELS[c.status],
                        "detail": c.detail,
                    }
                    for c in aq.checklist
                ],
                "chart": chart,
            }
        )
    return {"board": board, "accounts": accounts, "attribution": _attribution_context(org)}


ATTRIBUTION_TITLES = {
    "agent": gettext_lazy("By agent"),
    "account": gettext_lazy("By account"),
    "hour": gettext_lazy("By hour of the buyer's message"),
    "kind": gettext_lazy("By kind of conversation"),
}


def _attribution_context(org) -> dict:
    data = board_selectors.board_cached(
        "lost", org, lambda: quality_selectors.quality_attribution(organization=org)
    )
    return {
        "lost": data["lost"],
        "tables": [
            {
                "dimension": dim,
                "title": ATTRIBUTION_TITLES[dim],
                "rows": [
                    {"row": r, "key": "none" if r.key is None else str(r.key)}
                    for r in data["dimensions"][dim]
                ],
            }
            for dim in quality_selectors.ATTRIBUTION_DIMENSIONS
        ],
    }


@require_GET
@lead_required
def quality_board(request: HttpRequest) -> HttpResponse:
    """Today's mirrored customer-service area vs Allegro's official score, forecast, Super Seller."""
    if request.GET.get("export") == "history":
        return _quality_csv(quality_selectors.quality_board(organization=request.membership.organization))
    if request.GET.get("export") == "lost":
        return _lost_csv(quality_selectors.quality_attribution(organization=request.membership.organization))
    context = _quality_context(request)
    if request.htmx:
        return render(request, "sla/quality.html#quality-board", context)
    settings = context["board"]["settings"]
    context["config_form"] = QualityConfigForm(
        initial={
            "scheme": json.dumps(settings.override, indent=2, ensure_ascii=False)
            if settings.override
            else "",
            "orders_30d": settings.orders_30d,
            "company_account": {True: "yes", False: "no", None: ""}[settings.company_account],
        }
    )
    context["default_scheme"] = json.dumps(quality.DEFAULT_SCHEME, indent=2)
    return render(request, "sla/quality.html", context)


def _quality_csv(board: dict) -> HttpResponse:
    """Per account and day: our area (total, grade, each metric's points) beside the official figures."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="quality-30d.csv"'
    writer = csv.writer(response)
    codes = [m["code"] for m in board["settings"].scheme["metrics"]]
    writer.writerow(
        ["account", "day", "mirrored_score", "mirrored_grade", *codes, "official_score", "official_grade"]
    )
    for aq in board["accounts"]:
        for h in aq.history:
            mirrored, official = h["mirrored"], h["official"]
            points = {m.code: m.points for m in mirrored.metrics}
            writer.writerow(
                [
                    aq.account.name,
                    h["day"].isoformat(),
                    mirrored.score,
                    mirrored.grade,
                    *[points.get(c, "") for c in codes],
                    official.score if official else "",
                    official.grade if official else "",
                ]
            )
    return response


def _lost_csv(data: dict) -> HttpResponse:
    """The attribution of lost points: one block of rows per dimension."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="quality-lost-points-30d.csv"'
    writer = csv.writer(response)
    writer.writerow(
        [
            "dimension",
            "key",
            "label",
            "late_replies",
            "overdue_unanswered",
            "slow_seconds",
            "points_on_time",
            "points_avg_time",
            "points_lost",
        ]
    )
    for dim in quality_selectors.ATTRIBUTION_DIMENSIONS:
        for r in data["dimensions"][dim]:
            writer.writerow(
                [
                    dim,
                    "" if r.key is None else r.key,
                    r.label,
                    r.late_replies,
                    r.overdue_unanswered,
                    round(r.slow_seconds),
                    r.points_on_time,
                    r.points_avg_time,
                    r.points,
                ]
            )
    return response


@require_GET
@lead_required
def quality_lost(request: HttpRequest, dimension: str, key: str) -> HttpResponse:
    """The conversations behind one row of the attribution: late, overdue or slow in the window."""
    if dimension not in quality_selectors.ATTRIBUTION_DIMENSIONS:
        raise Http404("Unknown dimension")
    numeric = dimension in ("account", "hour") or (dimension == "agent" and key != "none")
    if (numeric and not key.isdigit()) or (dimension == "kind" and key not in Conversation.Kind.values):
        raise Http404("Bad key")
    org = request.membership.organization
    _key_of_organization(org, dimension, key)
    rows = quality_selectors.quality_lost_conversations(organization=org, dimension=dimension, key=key)
    data = quality_selectors.quality_attribution(organization=org)
    row = next(
        (r for r in data["dimensions"][dimension] if ("none" if r.key is None else str(r.key)) == key), None
    )
    context = {"rows": rows, "dimension": dimension, "title": ATTRIBUTION_TITLES[dimension], "row": row}
    return render(request, "sla/quality_lost.html", context)


@require_POST
@lead_required
def quality_import_now(request: HttpRequest) -> HttpResponse:
    org = request.membership.organization
    for account_id in quality_services.quality_accounts(org):
        current_app.send_task("sla.tasks.quality_snapshots_import", args=[account_id])
    flash.success(request, _("Import of the official quality figures started."))
    return redirect("inbox:sla-quality")


@require_POST
@lead_required
def quality_config(request: HttpRequest) -> HttpResponse:
    form = QualityConfigForm(request.POST)
    if form.is_valid():
        quality_services.quality_config_update(
            request.membership.organization, acting_user=request.user, **form.to_service_kwargs()
        )
        flash.success(request, _("Quality scheme saved."))
        return redirect("inbox:sla-quality")
    context = _quality_context(request)
    context["config_form"] = form
    context["default_scheme"] = json.dumps(quality.DEFAULT_SCHEME, indent=2)
    return render(request, "sla/quality.html", context, status=422)


# --- the daily summary for leads (sla/summary.py) ---------------------------------------------------


@require_GET
@lead_required
def summary_print(request: HttpRequest) -> HttpResponse:
    """The daily summary as a printable page (the same HTML as the e-mail), in the viewer's language."""
    from . import summary

    data = summary.summary_data(organization=request.membership.organization)
    _subject, _text, html = summary.summary_render(data, language=get_language(), for_print=True)
    return HttpResponse(html)


@require_http_methods(["GET", "POST"])
@lead_required
def summary_settings(request: HttpRequest) -> HttpResponse:
    """On/off, the hour (Europe/Warsaw), the recipients' roles and the language of the daily summary."""
    from . import summary
    from .forms import DailySummaryForm

    org = request.membership.organization
    config = summary.summary_config(organization=org)
    if request.method == "POST":
        form = DailySummaryForm(request.POST)
        if form.is_valid():
            summary.summary_config_update(org, acting_user=request.user, **form.cleaned_data)
            flash.success(request, _("Daily summary settings saved."))
            return redirect("inbox:sla-summary")
        status = 422
    else:
        form = DailySummaryForm(
            initial={
                "enabled": config.enabled,
                "hour": config.hour,
                "roles": config.roles or summary.DEFAULT_ROLES,
                "language": config.language,
            }
        )
        status = 200
    context = {
        "form": form,
        "recipients": summary.summary_recipients(
            organization=org, roles=config.roles or summary.DEFAULT_ROLES
        ),
        "sent": summary.DailySummarySent.objects.filter(organization=org).order_by("-day")[:7],
    }
    return render(request, "sla/summary_settings.html", context, status=status)
