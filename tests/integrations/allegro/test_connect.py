"""Connecting an account with the OAuth2 device flow, through the views and the sandbox."""

from __future__ import annotations

from django.urls import reverse

from inbox.models import ChannelAccount
from integrations.allegro.connect import allegro_connect_poll, allegro_connect_start


def test_device_flow_connects_after_the_seller_approves(org, allegro_sandbox, fast_retries):
    account = allegro_connect_start(organization=org, name="Mój sklep")
    assert account.health == ChannelAccount.Health.CONNECTING
    state = account.connect_state
    assert state["user_code"] and state["verification_uri"].startswith(allegro_sandbox.url)
    assert allegro_connect_poll(account.pk)[0] == "pending"
    allegro_sandbox.approve(state["user_code"], seller="SklepTest")
    allegro_sandbox.advance_clock(6)  # the sandbox asks for 5 s between polls
    assert allegro_connect_poll(account.pk)[0] == "connected"
    account.refresh_from_db()
    assert account.health == ChannelAccount.Health.OK
    assert account.name == "SklepTest" and account.external_id
    assert account.credentials["access_token"] and account.credentials["refresh_token"]
    assert "device_code" not in account.credentials


def test_denied_authorization_is_shown(org, allegro_sandbox, fast_retries):
    account = allegro_connect_start(organization=org)
    allegro_sandbox.deny(account.connect_state["user_code"])
    assert allegro_connect_poll(account.pk)[0] == "failed"
    account.refresh_from_db()
    assert account.health == ChannelAccount.Health.AUTH_FAILED
    assert "odmówił" in account.last_sync_error


def test_credentials_are_encrypted_at_rest(org, allegro_sandbox):
    from django.db import connection

    account = ChannelAccount.objects.create(
        organization=org, kind="allegro", name="x", credentials={"access_token": "sekretny-token"}
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM inbox_channelaccount WHERE id = %s", [account.pk])
        stored = cursor.fetchone()[0]
    assert "sekretny-token" not in stored
    assert "sekretny-token" not in repr(account)


def test_a_lead_starts_the_flow_from_the_accounts_page(client, bob, allegro_sandbox):
    client.force_login(bob)
    response = client.post(reverse("allegro:connect"), {"name": "Sklep główny"})
    assert response.status_code == 302
    page = client.get(reverse("inbox:account-list")).content.decode()
    account = ChannelAccount.objects.get()
    assert account.connect_state["user_code"] in page
    assert "Łączenie" in page


def test_a_connected_account_is_synced_and_its_quality_figures_imported_at_once(
    org, allegro_sandbox, fast_retries, monkeypatch
):
    from integrations import tasks

    synced, sent = [], []
    monkeypatch.setattr(tasks.channel_account_sync, "delay", synced.append)
    monkeypatch.setattr(tasks.current_app, "send_task", lambda name, args: sent.append((name, args)))
    account = allegro_connect_start(organization=org)
    allegro_sandbox.approve(account.connect_state["user_code"], seller="SklepTest")
    allegro_sandbox.advance_clock(6)
    assert tasks.allegro_connect_poll(account.pk) == "connected"
    assert synced == [account.pk]
    assert sent == [("sla.tasks.quality_snapshots_import", [account.pk])]
