"""Connecting an Allegro account with the OAuth2 device flow (allegro-api.md §1).

The owner starts the flow; we show the verification URL and code; a Celery task polls the token
endpoint at the interval Allegro asks for until the seller approves (or the code expires), then
stores the tokens encrypted, reads /me for the account's identity and triggers the first sync.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from inbox.models import ChannelAccount, Organization

from .client import AllegroClient, OAuth


def allegro_connect_start(*, organization: Organization, name: str = "") -> ChannelAccount:
    started = OAuth().device_start()
    now = timezone.now()
    interval = int(started.get("interval") or 5)
    account = ChannelAccount.objects.create(
        organization=organization,
        kind=ChannelAccount.Kind.ALLEGRO,
        name=name or "Allegro",
        health=ChannelAccount.Health.CONNECTING,
        credentials={"device_code": started["device_code"]},
        connect_state={
            "user_code": started.get("user_code", ""),
            "verification_uri": started.get("verification_uri", ""),
            "verification_uri_complete": started.get("verification_uri_complete", ""),
            "expires_at": (now + timedelta(seconds=int(started.get("expires_in") or 3600))).isoformat(),
            "interval": interval,
            "status": "pending",
        },
    )
    return account


def allegro_connect_poll(account_id: int) -> tuple[str, int]:
    """One poll of the token endpoint. Returns (state, seconds until the next poll).

    state: "pending" (poll again), "connected", "failed" (expired / denied).
    """
    account = ChannelAccount.objects.get(pk=account_id)
    state: dict[str, Any] = dict(account.connect_state or {})
    if account.health != ChannelAccount.Health.CONNECTING:
        return ("connected" if account.health == ChannelAccount.Health.OK else "failed"), 0
    interval = int(state.get("interval") or 5)
    expires_at = state.get("expires_at")
    if expires_at and datetime.fromisoformat(expires_at) < timezone.now():
        _fail(account, state, "Kod autoryzacji wygasł — połącz konto ponownie.")
        return "failed", 0
    device_code = (account.credentials or {}).get("device_code", "")
    result, tokens = OAuth().device_poll(device_code)
    if result == "authorization_pending":
        return "pending", interval
    if result == "slow_down":
        state["interval"] = interval + 5
        ChannelAccount.objects.filter(pk=account.pk).update(connect_state=state)
        return "pending", interval + 5
    if tokens is None:
        reason = {
            "access_denied": "Sprzedawca odmówił dostępu.",
        }.get(result, f"Autoryzacja nie powiodła się ({result}).")
        _fail(account, state, reason)
        return "failed", 0
    account.credentials = tokens.as_credentials()
    me = AllegroClient(account).get("/me")
    with transaction.atomic():
        account = ChannelAccount.objects.select_for_update().get(pk=account.pk)
        account.credentials = tokens.as_credentials()
        account.external_id = str(me.get("id") or "")
        account.name = str(me.get("login") or account.name)
        account.health = ChannelAccount.Health.OK
        account.connect_state = {"status": "connected", "login": me.get("login", "")}
        account.last_sync_error = ""
        account.save()
    return "connected", 0


def _fail(account: ChannelAccount, state: dict[str, Any], reason: str) -> None:
    state.update(status="failed", error=reason)
    ChannelAccount.objects.filter(pk=account.pk).update(
        connect_state=state, health=ChannelAccount.Health.AUTH_FAILED, last_sync_error=reason, credentials={}
    )
