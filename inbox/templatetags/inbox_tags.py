from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.translation import gettext as _

register = template.Library()


@register.filter
def duration_since(value: datetime | None) -> str:
    """Compact elapsed time: "45 min", "3 h 20 min", "2 d 4 h"."""
    if not value:
        return ""
    seconds = max(int((timezone.now() - value).total_seconds()), 0)
    minutes, hours, days = seconds // 60 % 60, seconds // 3600 % 24, seconds // 86400
    if days:
        return _("%(d)s d %(h)s h") % {"d": days, "h": hours}
    if hours:
        return _("%(h)s h %(m)s min") % {"h": hours, "m": minutes}
    return _("%(m)s min") % {"m": minutes}


@register.simple_tag(takes_context=True)
def qs(context, **changes) -> str:
    """The current list's query string with some parameters changed ("" removes one)."""
    params = context["request"].GET.copy()
    for key, value in changes.items():
        if value in ("", None):
            params.pop(key, None)
        else:
            params[key] = value
    params.pop("page", None)
    return params.urlencode()


@register.filter
def new_subject(message_subject: str, conversation_subject: str) -> str:
    """A message's subject when it says more than the conversation's ("" for "Re: <the same>" or the
    same with our token), without our conversation token: shown above the message only then."""
    if not message_subject:
        return ""
    from integrations.email.threads import subject_key, subject_without_token

    if subject_key(message_subject) == subject_key(conversation_subject):
        return ""
    return subject_without_token(message_subject)
