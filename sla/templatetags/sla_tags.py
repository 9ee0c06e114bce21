"""Template helpers of the SLA badge and boards."""

from __future__ import annotations

import functools
from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.dates import WEEKDAYS_ABBR
from django.utils.html import format_html, format_html_join
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from sla.models import SlaClock
from sla.selectors import sla_clock_state

register = template.Library()


def _compact(seconds: float) -> str:
    """ "45 min", "3 h 20 min", "2 d 4 h"."""
    seconds = int(abs(seconds))
    minutes, hours, days = seconds // 60 % 60, seconds // 3600 % 24, seconds // 86400
    if days:
        return _("%(d)s d %(h)s h") % {"d": days, "h": hours}
    if hours and not minutes:
        return _("%(h)s h") % {"h": hours}
    if hours:
        return _("%(h)s h %(m)s min") % {"h": hours, "m": minutes}
    return _("%(m)s min") % {"m": minutes}


@register.filter
def sla_state(clock: SlaClock) -> str:
    """ "ok", "warn-1", "warn-2" … or "breached" (the badge's colour)."""
    return sla_clock_state(clock)


@register.filter
def sla_countdown(due_at: datetime) -> str:
    """Wall time to the deadline ("3 h 20 min left") or past it ("25 min overdue")."""
    if not due_at:
        return ""
    seconds = (due_at - timezone.now()).total_seconds()
    if seconds > 0:
        return _("%(time)s left") % {"time": _compact(seconds)}
    return _("%(time)s overdue") % {"time": _compact(seconds)}


@functools.lru_cache(maxsize=16)
def _badge_words(language: str | None) -> dict:
    """The badge's fixed words in one language (looked up once, not 50 times a page)."""
    return {
        "marketplace": (_("Marketplace limit"), _("Limit")),
        "team": (_("Team target"), _("Team")),
        "due": _("due"),
        "weekdays": tuple(str(WEEKDAYS_ABBR[i]) for i in range(7)),
    }


@register.simple_tag
def sla_badges(clocks) -> str:
    """Both reply clocks of one conversation as badges: `clocks` = its open SlaClocks, marketplace
    first (the inbox list prefetches them as `sla_open_clocks`). The colour follows the warning levels
    reached (sla-warn-1 = the first, most generous level; sla-warn-2 = the next) and the breach,
    computed from the clock's own instants, so it changes on time even before the beat has marked it.

    Built here rather than in an included template: the inbox list shows it on each of its 50 rows.
    """
    if not clocks:
        return ""
    now = timezone.now()
    words = _badge_words(get_language())
    rows = []
    for clock in clocks:
        state = sla_clock_state(clock, now)
        title, label = words.get(clock.kind) or words["team"]
        due = timezone.localtime(clock.due_at)
        when = f"{words['weekdays'][due.weekday()]} {due.day}.{due.month:02d} {due.hour:02d}:{due.minute:02d}"
        rows.append(
            (
                state,
                clock.kind,
                state,
                due.isoformat(),
                f"{title}: {words['due']} {when}",
                label,
                sla_countdown(clock.due_at),
            )
        )
    badges = format_html_join(
        "",
        '<span class="sla-badge sla-{}" data-clock="{}" data-state="{}" data-due="{}" title="{}">'
        '<span class="sla-label">{}</span> {}</span>',
        rows,
    )
    return format_html('<span class="sla-badges">{}</span>', badges)


@register.filter
def sla_duration(seconds: float | None) -> str:
    """A duration in seconds, compact; "—" when there is none."""
    if seconds is None:
        return "—"
    return _compact(seconds)


@register.filter
def sla_minutes(minutes: int | None) -> str:
    """A number of minutes, compact ("1 h 0 min" reads "1 h")."""
    if minutes is None:
        return "—"
    return _compact(minutes * 60)


@register.filter
def sla_percent(rate: float | None) -> str:
    if rate is None:
        return "—"
    return f"{rate * 100:.1f} %"
