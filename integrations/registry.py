"""Channel kind → adapter class (dotted paths, imported lazily)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.utils.module_loading import import_string

if TYPE_CHECKING:
    from inbox.models import ChannelAccount

    from .contracts import ChannelAdapter

ADAPTERS = {
    "allegro": "integrations.allegro.adapter.AllegroAdapter",
    "email": "integrations.email.adapter.EmailAdapter",
}


def get_adapter(account: ChannelAccount) -> ChannelAdapter:
    try:
        path = ADAPTERS[account.kind]
    except KeyError as exc:
        raise LookupError(f"No adapter for channel kind {account.kind!r}") from exc
    return import_string(path)(account)
