"""Template helpers of the SLA badge and boards."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone
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
