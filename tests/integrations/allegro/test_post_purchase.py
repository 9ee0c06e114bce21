"""The "Problemy z zakupem" (POST_PURCHASE_ISSUE threads of the beta.v1 /messaging) against the sandbox.

Real HTTP to the local sandbox and the real database. The beta shapes are the sandbox's reading of
Allegro's announcements (integrations/allegro/sandbox/beta_messaging.py, UNVERIFIED).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from inbox import services as inbox_services
from inbox.models import Conversation, Message
from integrations import services
from integrations.allegro.adapter import AllegroAdapter
from integrations.allegro.sources.post_purchase import PostPurchaseThreads
from integrations.contracts import outbound_from_message

MESSAGES = "/messaging/threads/{threadId}/messages"
BETA = {"beta": True}


@pytest.fixture
def ppi_on(settings):
    settings.ALLEGRO_POST_PURCHASE_THREADS = True


def sync(account):
    run = services.channel_account_sync(account.pk)
    assert run.ok, run.error
    return run


def test_a_post_purchase_thread_becomes_a_discussion_with_its_order(
    connected_account, allegro_sandbox, ppi_on
):
    order = allegro_sandbox.order_create("kupujacy_adam")["order"]
    opened = allegro_sandbox.post_purchase_open(
        "kupujacy_adam",
        "W paczce brakuje ładowarki.",
        order_id=order["id"],
        sub_type="MISSING_PRODUCT_ELEMENTS",
    )
    allegro_sandbox.buyer_writes("kupujacy_adam", "Czy macie też etui?")  # the pair's COMMON thread
    sync(connected_account)

    conv = Conversation.objects.get(external_id=opened["threadId"])
    assert conv.kind == "discussion"
    assert conv.order_id == order["id"]
    assert conv.offer_id == order["lineItems"][0]["offer"]["id"]
    assert conv.marketplace_state == "OPEN"
    assert conv.subject == "Problem z zakupem: Brakujące elementy produktu"
    assert conv.details["source"] == "messaging_ppi"
    assert conv.details["buyer_login"] == "kupujacy_adam"
    thread = conv.details["thread"]
    assert (thread["type"], thread["subType"], thread["status"]) == (
        "POST_PURCHASE_ISSUE",
        "MISSING_PRODUCT_ELEMENTS",
        "OPEN",
    )
    assert thread["orders"][0]["id"] == order["id"]
    first = conv.messages.get()
    assert (first.text, first.direction, first.author_type, first.classification) == (
        "W paczce brakuje ładowarki.",
        "in",
        "buyer",
        "human",
    )
    assert conv.awaiting_reply_since == first.source_created_at
    # The buyer's ordinary Message Center thread stays a separate "message" conversation.
    common = Conversation.objects.exclude(pk=conv.pk).get()
    assert common.kind == "message" and common.details.get("source") != "messaging_ppi"

    thread_id = opened["threadId"]
    allegro_sandbox.post_purchase_write(thread_id, "Halo, czekam na odpowiedź.")
    allegro_sandbox.post_purchase_write(thread_id, "Doradca Allegro: prosimy o kontakt.", "ALLEGRO_ADVISOR")
    sync(connected_account)
    authors = list(conv.messages.order_by("source_created_at").values_list("author_type", "classification"))
    assert authors == [("buyer", "human"), ("buyer", "human"), ("marketplace", "system")]


def test_incremental_sync_reads_only_changed_threads_across_cursor_pages(
    connected_account, allegro_sandbox, ppi_on
):
    allegro_sandbox.configure(betaPageSize=2)
    threads = [
        allegro_sandbox.post_purchase_open(f"kupujacy_{i}", f"Problem {i}")["threadId"] for i in range(5)
    ]
    sync(connected_account)
    assert set(Conversation.objects.values_list("external_id", flat=True)) == set(threads)
    assert Message.objects.count() == 5

    allegro_sandbox.reset_request_counts()
    sync(connected_account)
    assert allegro_sandbox.count("GET", MESSAGES) == 0  # nothing changed: no thread re-read
    assert allegro_sandbox.count("GET", "/messaging/threads") == 2  # one public.v1 list, one beta page
    assert Message.objects.count() == 5

    allegro_sandbox.post_purchase_write(threads[1], "Dopisuję zdjęcie paragonu.")
    allegro_sandbox.reset_request_counts()
    sync(connected_account)
    assert allegro_sandbox.count("GET", MESSAGES) == 1
    assert Conversation.objects.get(external_id=threads[1]).messages.count() == 2
    assert Message.objects.count() == 6


def test_a_message_in_moderation_is_picked_up_once_delivered(connected_account, allegro_sandbox, ppi_on):
    thread = allegro_sandbox.post_purchase_open("kupujacy_adam", "Towar uszkodzony.")["threadId"]
    sync(connected_account)
    held = allegro_sandbox.post_purchase_write(thread, "Wysyłam zdjęcia.", status="VERIFYING")
    sync(connected_account)
    assert Message.objects.count() == 1  # the seller does not see it yet
    allegro_sandbox.set_message_status(held["id"], "DELIVERED")
    sync(connected_account)
    assert Message.objects.filter(external_id=held["id"]).exists()


def test_a_reply_goes_to_the_beta_endpoint(connected_account, allegro_sandbox, alice, ppi_on):
    opened = allegro_sandbox.post_purchase_open(
        "kupujacy_adam", "Nie dostałem zwrotu pieniędzy.", sub_type="NO_REFUND"
    )
    sync(connected_account)
    conv = Conversation.objects.get()
    reply, _ = inbox_services.message_reply_create(conv, text="Zwrot wysłaliśmy wczoraj.", acting_user=alice)
    assert services.outbound_message_deliver(reply.pk) == "delivered"

    sent = allegro_sandbox.sent(kind="postPurchaseMessage")
    assert [(s["threadId"], s["text"], s["subType"]) for s in sent] == [
        (opened["threadId"], "Zwrot wysłaliśmy wczoraj.", "NO_REFUND")
    ]
    assert allegro_sandbox.sent(kind="message") == []
    reply.refresh_from_db()
    assert reply.external_id == sent[0]["messageId"]
    conv.refresh_from_db()
    assert conv.awaiting_reply_since is None
    # public.v1 does not know the thread, so the reply can only have gone through beta.v1
    token = connected_account.credentials["access_token"]
    assert allegro_sandbox.api("GET", f"/messaging/threads/{opened['threadId']}", token).status_code == 404
    assert allegro_sandbox.count("POST", MESSAGES) == 1

    # Our message comes back with role SELLER and is not stored twice; reconciliation finds it.
    sync(connected_account)
    assert conv.messages.filter(direction="out").count() == 1
    receipt = AllegroAdapter(connected_account).find_sent(outbound_from_message(reply))
    assert receipt is not None and receipt.external_id == reply.external_id


def test_with_the_setting_off_nothing_of_it_is_synced(connected_account, allegro_sandbox, alice, settings):
    settings.ALLEGRO_POST_PURCHASE_THREADS = False
    allegro_sandbox.post_purchase_open("kupujacy_adam", "Produkt niezgodny z opisem.")
    sync(connected_account)
    assert not Conversation.objects.exists()
    assert allegro_sandbox.count("GET", MESSAGES) == 0
    connected_account.refresh_from_db()
    assert "messaging_ppi" not in connected_account.sync_cursor

    # Synced while on, then switched off: a reply is refused, never sent through public.v1.
    settings.ALLEGRO_POST_PURCHASE_THREADS = True
    sync(connected_account)
    conv = Conversation.objects.get()
    settings.ALLEGRO_POST_PURCHASE_THREADS = False
    reply, _ = inbox_services.message_reply_create(conv, text="Sprawdzamy.", acting_user=alice)
    assert services.outbound_message_deliver(reply.pk) == "failed"
    assert allegro_sandbox.sent() == []


def test_the_inbox_knows_nothing_of_the_new_source():
    """The point of the design: a new Allegro resource is a source behind the contracts, not an inbox
    change. Nothing in inbox/ names the source, the thread type or a media type."""
    root = Path(__file__).resolve().parents[3]
    markers = re.compile(r"messaging_ppi|post_purchase|POST_PURCHASE|beta\.v1|vnd\.allegro", re.IGNORECASE)
    offenders = [
        str(path.relative_to(root))
        for path in (root / "inbox").rglob("*")
        if path.suffix in {".py", ".html"} and markers.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
    source = (root / "integrations/allegro/sources/post_purchase.py").read_text(encoding="utf-8")
    assert not re.search(r"^\s*(from|import) inbox\b", source, re.MULTILINE)
    assert PostPurchaseThreads.name == "messaging_ppi"


# --- the sandbox's beta.v1 /messaging (no database) -------------------------------------------------


def test_sandbox_serves_beta_threads_with_cursor_paging_and_keeps_public_v1_common(allegro_sandbox):
    sb = allegro_sandbox
    token = sb.mint_token()["access_token"]
    sb.configure(betaPageSize=2)
    common = sb.buyer_writes("kasia_zakupy88", "Czy jest w magazynie?")["threadId"]
    ppi = [
        sb.post_purchase_open(f"kupujacy_{i}", f"Problem {i}", sub_type="PRODUCT_ARRIVED_DAMAGED")["threadId"]
        for i in range(3)
    ]

    # public.v1: unchanged, only COMMON threads; a post-purchase thread and its messages are 404
    public = sb.api("GET", "/messaging/threads", token).json()
    assert [t["id"] for t in public["threads"]] == [common] and set(public) == {"threads", "offset", "limit"}
    messages_url = f"/messaging/threads/{ppi[0]}/messages"
    assert sb.api("GET", messages_url, token).status_code == 404
    assert sb.api("POST", messages_url, token, json={"text": "x"}).status_code == 404

    # beta.v1: every type, newest first, page.id cursor; nextPage left out on the last page
    first = sb.api("GET", "/messaging/threads", token, **BETA)
    assert first.headers["content-type"] == "application/vnd.allegro.beta.v1+json"
    body = first.json()
    assert [t["id"] for t in body["threads"]] == [ppi[2], ppi[1]]
    next_page = {"page.id": body["nextPage"]["id"]}
    second = sb.api("GET", "/messaging/threads", token, params=next_page, **BETA).json()
    assert [t["id"] for t in second["threads"]] == [ppi[0], common] and "nextPage" not in second
    thread = body["threads"][0]
    assert set(thread) == {"id", "type", "subType", "status", "read", "createdAt", "lastMessageDateTime"} | {
        "participants",
        "orders",
    }
    assert (thread["type"], thread["subType"], thread["status"], thread["read"]) == (
        "POST_PURCHASE_ISSUE",
        "PRODUCT_ARRIVED_DAMAGED",
        "OPEN",
        False,
    )
    assert thread["participants"] == [
        {"role": "BUYER", "login": "kupujacy_2"},
        {"role": "SELLER", "login": "SklepTest"},
    ]
    assert thread["orders"][0]["offers"][0]["quantity"] == 1

    # filters: type and read
    only = sb.api("GET", "/messaging/threads", token, params={"type": "COMMON"}, **BETA).json()
    assert [t["id"] for t in only["threads"]] == [common] and only["threads"][0]["subType"] is None
    unread_ppi = {"read": "false", "type": "POST_PURCHASE_ISSUE"}
    unread = sb.api("GET", "/messaging/threads", token, params=unread_ppi, **BETA)
    assert len(unread.json()["threads"]) == 2  # a page of the three unread
    for bad in ({"offset": "0"}, {"limit": "5"}, {"type": "DISPUTE"}, {"read": "maybe"}, {"page.id": "!!"}):
        response = sb.api("GET", "/messaging/threads", token, params=bad, **BETA)
        assert response.status_code == 422, bad
        assert response.json()["errors"][0]["code"] == "VALIDATION_ERROR"

    # one thread, its messages with author roles, and a reply (kept apart in /_sandbox/sent)
    one = sb.api("GET", f"/messaging/threads/{ppi[0]}", token, **BETA).json()
    assert one["type"] == "POST_PURCHASE_ISSUE"
    sb.post_purchase_write(ppi[0], "Komunikat systemowy.", "SYSTEM")
    sb.advance_clock(1)  # the public.v1 POST above used this second's message-post slot
    reply = sb.api("POST", messages_url, token, json={"text": "Przepraszamy."}, **BETA)
    assert reply.status_code == 201
    assert reply.json()["author"] == {"login": "SklepTest", "role": "SELLER", "isInterlocutor": False}
    messages = sb.api("GET", messages_url, token, **BETA).json()
    assert [m["author"]["role"] for m in messages["messages"]] == ["SELLER", "SYSTEM"]
    assert messages["messages"][1]["author"]["login"] is None
    assert messages["nextPage"]["id"]
    assert [s["kind"] for s in sb.sent()] == ["postPurchaseMessage"]
    listed = sb.post_purchase_threads()
    assert {t["id"] for t in listed} == set(ppi) and all(t["seller"] == "SklepTest" for t in listed)
