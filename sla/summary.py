"""The daily summary for leads (issue #6): yesterday's reply figures and the quality mirror, by e-mail at
an organization's chosen Europe/Warsaw hour, and the same page printable in the browser.

Sent at most once per organization and local day: the beat (`sla.tasks.daily_summaries_send`, every
5 min) claims the day with an INSERT into `DailySummarySent` (unique on organization and day), in its own
transaction, before sending; a second beat, a retry or a concurrent worker gets the unique violation and
sends nothing. A send that raises gives the claim back (the next beat tries again); a worker killed
between the claim and the send loses that day's e-mail (at most once, never twice).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from inbox.models import Membership, Organization

from .models import DailySummaryConfig, DailySummarySent
from .quality_selectors import forecast_sentence, quality_attribution, quality_board
from .selectors import LOCAL_TZ, sla_metrics

logger = logging.getLogger(__name__)

DEFAULT_ROLES = [Membership.Role.OWNER.value, Membership.Role.LEAD.value]


def summary_config(*, organization: Organization) -> DailySummaryConfig:
    """The organization's settings (an unsaved default — off, 07:00, owners and leads — when none)."""
    config = DailySummaryConfig.objects.filter(organization=organization).first()
    return config or DailySummaryConfig(organization=organization, roles=list(DEFAULT_ROLES))


def summary_config_update(
    organization: Organization, *, enabled: bool, hour: int, roles: list[str], language: str, acting_user=None
) -> DailySummaryConfig:
    if not 0 <= hour <= 23:
        raise ValueError("hour must be 0–23")
    if not roles or any(r not in (Membership.Role.OWNER, Membership.Role.LEAD) for r in roles):
        raise ValueError("roles: owners and/or leads")
    config, _ = DailySummaryConfig.objects.update_or_create(
        organization=organization,
        defaults={
            "enabled": enabled,
            "hour": hour,
            "roles": list(roles),
            "language": language,
            "updated_at": timezone.now(),
            "updated_by": acting_user,
        },
    )
    return config


def summary_recipients(*, organization: Organization, roles: list[str]) -> list[str]:
    """E-mail addresses of the members with one of `roles` (sorted, without duplicates or blanks)."""
    emails = (
        Membership.objects.filter(organization=organization, role__in=roles, user__is_active=True)
        .exclude(user__email="")
        .values_list("user__email", flat=True)
    )
    return sorted(set(emails))


@dataclass
class AccountSummary:
    name: str
    mirrored: float
    mirrored_grade: str
    official: float | None
    official_grade: str
    official_day: date | None
    difference: float | None
    forecast_score: float
    forecast: str


def summary_data(*, organization: Organization, now: datetime | None = None) -> dict:
    """Yesterday's (Europe/Warsaw) figures: replies, on-time rate, breaches; per Allegro account the
    mirrored area of yesterday beside the official figure of that day (or the newest one), today's
    forecast to the cut-off; the agent and the hour that lost the most points over 30 days."""
    now = now or timezone.now()
    today = timezone.localtime(now, LOCAL_TZ).date()
    yesterday = today - timedelta(days=1)
    end_of_yesterday = datetime.combine(today, time(0), tzinfo=LOCAL_TZ) - timedelta(microseconds=1)
    day = sla_metrics(organization=organization, days=1, now=end_of_yesterday)[0]
    board = quality_board(organization=organization, now=now)
    accounts = []
    for aq in board["accounts"]:
        by_day = {h["day"]: h for h in aq.history}
        y = by_day.get(yesterday) or aq.history[-1]
        official = y["official"] or aq.official
        compared, what = None, ""
        if official is not None:
            from .quality import official_compared

            compared, what = official_compared(official.score, official.metrics, list(aq.area_codes))
        accounts.append(
            AccountSummary(
                name=aq.account.name,
                mirrored=y["mirrored"].score,
                mirrored_grade=y["mirrored"].grade,
                official=compared,
                official_grade=official.grade if official else "",
                official_day=official.day if official else None,
                # Allegro's total (of 500) is not comparable with our area (of 110): grades only then.
                difference=round(y["mirrored"].score - compared, 1) if what == "area" else None,
                forecast_score=aq.forecast.at_cutoff.score,
                forecast=forecast_sentence(aq.forecast),
            )
        )
    lost = quality_attribution(organization=organization, now=now)
    top = {dim: (rows[0] if rows else None) for dim, rows in lost["dimensions"].items()}
    return {
        "organization": organization,
        "day": yesterday,
        "now": now,
        "replies": day.replied,
        "on_time_rate": day.on_time_rate,
        "on_time": day.on_time,
        "due": day.due,
        "breaches": day.breaches,
        "waiting_now": day.waiting_now,
        "accounts": accounts,
        "lost": lost["lost"],
        "top_agent": top["agent"],
        "top_hour": top["hour"],
        "top_account": top["account"],
        "top_kind": top["kind"],
    }


def _base_url() -> str:
    return getattr(settings, "REPLYDESK_BASE_URL", "http://127.0.0.1:8000").rstrip("/")


def summary_render(data: dict, *, language: str = "pl", for_print: bool = False) -> tuple[str, str, str]:
    """(subject, plain text, HTML) in `language`. The HTML is one self-contained printable page."""
    base = _base_url()
    context = {
        **data,
        "links": {
            "metrics": base + reverse("inbox:sla-metrics"),
            "quality": base + reverse("inbox:sla-quality"),
        },
        "for_print": for_print,
    }
    with translation.override(language):
        from django.utils.translation import gettext as _

        subject = _("Replydesk: daily summary of %(day)s — %(org)s") % {
            "day": data["day"].strftime("%d.%m.%Y"),
            "org": data["organization"].name,
        }
        context["subject"] = subject
        text = render_to_string("sla/summary_email.txt", context)
        html = render_to_string("sla/summary_email.html", context)
    return subject, text, html


def daily_summary_send(config: DailySummaryConfig, *, now: datetime | None = None) -> bool:
    """Send today's summary of `config`'s organization if it is on, its hour has come (Europe/Warsaw)
    and nobody sent it yet today. True when this call sent it."""
    now = now or timezone.now()
    local = timezone.localtime(now, LOCAL_TZ)
    if not config.enabled or local.hour < config.hour:
        return False
    organization = config.organization
    recipients = summary_recipients(organization=organization, roles=config.roles or DEFAULT_ROLES)
    if not recipients:
        return False
    try:
        with transaction.atomic():
            claim = DailySummarySent.objects.create(
                organization=organization, day=local.date(), claimed_at=now
            )
    except IntegrityError:
        return False  # already sent (or being sent) today
    try:
        subject, text, html = summary_render(
            summary_data(organization=organization, now=now), language=config.language
        )
        mail = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, to=recipients)
        mail.attach_alternative(html, "text/html")
        mail.send()
    except Exception:
        claim.delete()  # give the day back: the next beat tries again
        raise
    DailySummarySent.objects.filter(pk=claim.pk).update(sent_at=timezone.now(), recipients=recipients)
    logger.info(
        "daily summary sent", extra={"organization_id": organization.pk, "recipients": len(recipients)}
    )
    return True


def daily_summaries_send(*, now: datetime | None = None) -> int:
    """The beat: every enabled organization whose hour has come and whose summary is not sent today."""
    now = now or timezone.now()
    local = timezone.localtime(now, LOCAL_TZ)
    sent_today = DailySummarySent.objects.filter(day=local.date()).values("organization_id")
    configs = (
        DailySummaryConfig.objects.filter(enabled=True, hour__lte=local.hour)
        .exclude(organization_id__in=sent_today)
        .select_related("organization")
    )
    sent = 0
    for config in configs:
        try:
            sent += daily_summary_send(config, now=now)
        except Exception:
            logger.exception("daily summary failed", extra={"organization_id": config.organization_id})
    return sent
