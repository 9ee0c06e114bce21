"""Message Center sync against the local sandbox over real HTTP."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from inbox.models import ChannelAccount, Conversation, Message
from integrations import services
from integrations.models import SyncRun


def test_first_sync_stores_threads_as_conversations(connected_account, allegro_sandbox):
    a = allegro_sandbox.buyer_writes("kasia_zakupy88", "Czy ekspres jest dostępny od ręki?", offer_id="77001")
    allegro_sandbox.buyer_writes("kasia_zakupy88", "I czy wystawiacie fakturę VAT?")
    allegro_sandbox.buyer_writes(
        "jan.kowalski", "Gdzie jest moja paczka?", order_id="11111111-2222-3333-4444-555555555555"
    )
    run = services.channel_account_sync(connected_account.pk)
    assert run.ok and run.new_messages == 3
    conv = Conversation.objects.get(external_id=a["threadId"])
    assert conv.kind == "message"
    assert conv.offer_id == "77001"
    assert [m.text for m in conv.messages.order_by("source_created_at")] == [
        "Czy ekspres jest dostępny od ręki?",
        "I czy wystawiacie fakturę VAT?",
    ]
    assert conv.awaiting_reply_since == conv.messages.order_by("source_created_at").first().source_created_at
    order_conv = Conversation.objects.exclude(pk=conv.pk).get()
    assert order_conv.order_id == "11111111-2222-3333-4444-555555555555"
    assert order_conv.contact.identities.get().value == "jan.kowalski"
    connected_account.refresh_from_db()
    assert connected_account.health == "ok" and connected_account.sync_cursor["messaging"]["threads_until"]


def test_running_the_same_sync_twice_changes_nothing_and_stops_at_the_last_seen(
    connected_account, allegro_sandbox
):
    allegro_sandbox.bulk(threads=45, messages_per_thread=2)
    services.channel_account_sync(connected_account.pk)
    assert Message.objects.count() == 90
    allegro_sandbox.reset_request_counts()
    run = services.channel_account_sync(connected_account.pk)
    assert run.new_messages == 0
    assert Message.objects.count() == 90
    # Nothing new: one page of threads and no thread read again.
    assert allegro_sandbox.count("GET", "/messaging/threads") == 1
    assert allegro_sandbox.count("GET", "/messaging/threads/{threadId}/messages") == 0


def test_incremental_sync_reads_only_changed_threads(connected_account, allegro_sandbox):
    allegro_sandbox.bulk(threads=30, messages_per_thread=1)
    services.channel_account_sync(connected_account.pk)
    allegro_sandbox.reset_request_counts()
    allegro_sandbox.buyer_writes("nowy_kupujacy", "Dzień dobry, mam pytanie o rozmiar.")
    run = services.channel_account_sync(connected_account.pk)
    assert run.new_messages == 1
    assert allegro_sandbox.count("GET", "/messaging/threads/{threadId}/messages") == 1


def test_seller_messages_written_in_allegro_stop_the_wait(connected_account, allegro_sandbox):
    t = allegro_sandbox.buyer_writes("ola_k", "Czy mogę odebrać osobiście?")
    token = allegro_sandbox.mint_token(seller="SklepTest")["access_token"]
    allegro_sandbox.api(
        "POST", f"/messaging/threads/{t['threadId']}/messages", token, json={"text": "Tak, zapraszamy."}
    )
    services.channel_account_sync(connected_account.pk)
    conv = Conversation.objects.get()
    assert conv.awaiting_reply_since is None
    out = conv.messages.get(direction="out")
    assert out.author_type == "agent" and out.author_user is None


def test_messages_in_moderation_are_picked_up_once_delivered(connected_account, allegro_sandbox):
    first = allegro_sandbox.buyer_writes("ania_b", "Pierwsza wiadomość")
    held = allegro_sandbox.buyer_writes("ania_b", "Wiadomość w moderacji", status="VERIFYING")
    services.channel_account_sync(connected_account.pk)
    assert Message.objects.count() == 1
    allegro_sandbox.set_message_status(held["message"]["id"], "DELIVERED")
    allegro_sandbox.buyer_writes("inny_kupujacy", "Inny wątek, nowszy")
    services.channel_account_sync(connected_account.pk)
    assert set(Message.objects.values_list("text", flat=True)) == {
        "Pierwsza wiadomość",
        "Wiadomość w moderacji",
        "Inny wątek, nowszy",
    }
    assert first["threadId"] == held["threadId"]


def test_transient_errors_are_retried_and_end_in_the_clean_state(connected_account, allegro_sandbox):
    allegro_sandbox.bulk(threads=25, messages_per_thread=2)
    allegro_sandbox.inject_fault(status=429, count=2, path="/messaging/threads")
    allegro_sandbox.inject_fault(status=503, count=2, path="/messaging/threads/")
    allegro_sandbox.inject_fault(drop=True, count=1, path="/messaging/threads/")
    run = services.channel_account_sync(connected_account.pk)
    assert run.ok, run.error
    assert Message.objects.count() == 50


def test_an_expired_access_token_is_refreshed_once_and_rotated(connected_account, allegro_sandbox):
    allegro_sandbox.buyer_writes("piotr_z", "Halo?")
    before = connected_account.credentials["refresh_token"]
    allegro_sandbox.expire_tokens(seller="SklepTest")
    run = services.channel_account_sync(connected_account.pk)
    assert run.ok
    connected_account.refresh_from_db()
    assert connected_account.credentials["refresh_token"] != before
    assert allegro_sandbox.count("POST", "/auth/oauth/token") == 1


def test_a_revoked_authorization_marks_the_account_for_reconnection(connected_account, allegro_sandbox):
    allegro_sandbox.revoke_tokens(seller="SklepTest")
    run = services.channel_account_sync(connected_account.pk)
    assert not run.ok
    connected_account.refresh_from_db()
    assert connected_account.health == ChannelAccount.Health.AUTH_FAILED
    assert "połącz konto ponownie" in connected_account.last_sync_error


def test_persistent_outage_keeps_the_cursor_so_nothing_is_lost(connected_account, allegro_sandbox, settings):
    settings.ALLEGRO_MAX_RETRIES = 1
    allegro_sandbox.bulk(threads=5, messages_per_thread=1)
    allegro_sandbox.inject_fault(status=500, count=50, path="/messaging/threads/")
    run = services.channel_account_sync(connected_account.pk)
    assert not run.ok
    connected_account.refresh_from_db()
    assert connected_account.sync_cursor == {}
    assert connected_account.health == ChannelAccount.Health.ERROR
    allegro_sandbox.clear_faults()
    assert services.channel_account_sync(connected_account.pk).ok
    assert Message.objects.count() == 5


@pytest.mark.django_db(transaction=True)
def test_two_workers_syncing_at_once_never_duplicate(org_factory_free_account, allegro_sandbox):
    account = org_factory_free_account
    allegro_sandbox.bulk(threads=60, messages_per_thread=3)
    barrier = threading.Barrier(2)
    from django.core.cache import cache

    def worker():
        try:
            barrier.wait()
            # Bypass the convenience lock: correctness must come from the database constraints.
            cache.delete(f"sync-lock:{account.pk}")
            services.channel_account_sync(account.pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    services.channel_account_sync(account.pk)
    assert Message.objects.count() == 180
    assert Conversation.objects.count() == 60
    assert SyncRun.objects.filter(ok=True).count() >= 2


@pytest.fixture
def org_factory_free_account(transactional_db, allegro_sandbox, fast_retries):
    from django.utils import timezone

    from integrations.allegro.client import TokenSet
    from tests.factories import OrganizationFactory

    org = OrganizationFactory()
    tokens = TokenSet.from_response(allegro_sandbox.mint_token(seller="SklepTest"), now=timezone.now())
    return ChannelAccount.objects.create(
        organization=org,
        kind="allegro",
        name="SklepTest",
        external_id="x",
        health="ok",
        credentials=tokens.as_credentials(),
    )
