from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from inbox import services
from inbox.models import Conversation, Message
from integrations.contracts import InboundMessage


@pytest.fixture
def conversation(account):
    item = InboundMessage(
        external_id="m-1",
        conversation_external_id="thread-1",
        conversation_kind="message",
        direction="in",
        author_type="buyer",
        created_at=timezone.now() - timedelta(hours=2),
        text="Czy pralka jest dostępna od ręki?",
        buyer_login="pani_ania",
        offer_id="1234567890",
    )
    message, _ = services.message_receive(account, item)
    return message.conversation


def test_login_required(client):
    response = client.get(reverse("inbox:conversation-list"))
    assert response.status_code == 302
    assert "/login/" in response["Location"]


def test_the_inbox_lists_waiting_conversations_in_polish(client, alice, conversation):
    client.force_login(alice)
    response = client.get(reverse("inbox:conversation-list"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "pani_ania" in body
    assert "Oczekuje na odpowiedź" in body  # Polish is the default language
    assert 'class="row unread' in body


def test_the_list_partial_is_served_to_htmx(client, alice, conversation):
    client.force_login(alice)
    response = client.get(
        reverse("inbox:conversation-list") + "?filter=all",
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="conversation-list",
    )
    body = response.content.decode()
    assert body.lstrip().startswith('<ul id="conversation-list"')
    assert "<html" not in body
    # The counters above the list come along, swapped out of band (a polled list never shows stale ones).
    assert re.search(
        r'<span class="count" id="count-awaiting" data-count="awaiting" hx-swap-oob="true">\s*1', body
    )
    assert 'id="count-due_soon" data-count="due_soon" hx-swap-oob="true"' in body
    full = client.get(reverse("inbox:conversation-list")).content.decode()
    assert 'id="count-awaiting"' in full and "hx-swap-oob" not in full


def test_english_is_available(client, alice, conversation):
    client.force_login(alice)
    client.cookies["django_language"] = "en"
    body = client.get(reverse("inbox:conversation-list")).content.decode()
    assert "Awaiting reply" in body


def test_opening_a_conversation_marks_it_read(client, alice, conversation):
    client.force_login(alice)
    response = client.get(reverse("inbox:conversation-detail", args=[conversation.pk]))
    assert "Czy pralka jest dostępna od ręki?" in response.content.decode()
    body = client.get(reverse("inbox:conversation-list")).content.decode()
    assert 'class="row unread' not in body


def test_reply_over_htmx_stores_a_pending_reply_and_returns_the_pane(client, alice, conversation):
    client.force_login(alice)
    response = client.post(
        reverse("inbox:conversation-reply", args=[conversation.pk]),
        {"text": "Tak, wysyłamy jeszcze dziś."},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert body.lstrip().startswith('<section id="conversation-pane"')
    reply = Message.objects.get(direction="out")
    assert reply.delivery_status == Message.DeliveryStatus.PENDING
    assert reply.author_user == alice
    assert 'data-delivery="pending"' in body


def test_an_empty_reply_is_refused_with_a_message(client, alice, conversation):
    client.force_login(alice)
    response = client.post(
        reverse("inbox:conversation-reply", args=[conversation.pk]), {"text": "  "}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 422
    assert not Message.objects.filter(direction="out").exists()


def test_assign_close_and_reopen(client, alice, bob, conversation):
    client.force_login(alice)
    client.post(
        reverse("inbox:conversation-assign", args=[conversation.pk]),
        {"assignee": bob.pk},
        HTTP_HX_REQUEST="true",
    )
    conversation.refresh_from_db()
    assert conversation.assignee == bob
    client.post(reverse("inbox:conversation-close", args=[conversation.pk]), HTTP_HX_REQUEST="true")
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.CLOSED
    client.post(reverse("inbox:conversation-reopen", args=[conversation.pk]), HTTP_HX_REQUEST="true")
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.OPEN
    kinds = list(conversation.events.values_list("kind", "actor__username"))
    assert ("assigned", "alice") in kinds and ("closed", "alice") in kinds and ("reopened", "alice") in kinds


def test_agents_cannot_connect_accounts(client, alice):
    client.force_login(alice)
    assert client.post(reverse("allegro:connect")).status_code == 404


def _all_url_patterns(resolver=None, prefix=""):
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            namespace = entry.namespace
            if namespace in (None, "admin") and entry.app_name == "admin":
                continue
            yield from _all_url_patterns(entry, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry


def _object_urls(conversation, account):
    """Every URL of the app that names an object, filled with `org`'s objects."""
    reply = Message.objects.filter(conversation=conversation).first()
    # Drill-downs by a key (the boards' "conversations behind this figure") name an account of org's.
    values = {"pk": conversation.pk, "message_pk": reply.pk, "figure": "over", "dimension": "account"}
    urls = []
    for route, pattern in _all_url_patterns():
        if "<" not in route:
            continue
        path = route
        for name in pattern.pattern.converters:
            value = account.pk if name == "key" else values[name]
            if "accounts/<int:pk>" in route:
                value = account.pk
            path = path.replace(f"<int:{name}>", str(value)).replace(f"<str:{name}>", str(value))
        urls.append("/" + path)
    return urls


def test_an_outsider_gets_404_on_every_object_url_and_api(client, charlie, conversation, account):
    urls = _object_urls(conversation, account)
    assert len(urls) >= 8, urls  # the enumeration found the app's URLs
    client.force_login(charlie)
    for url in urls:
        for method in ("get", "post"):
            response = getattr(client, method)(url)
            assert response.status_code in (404, 405), (method, url, response.status_code)
            if response.status_code == 405:
                continue
    # And nothing of org's shows in the outsider's own lists.
    assert "pani_ania" not in client.get(reverse("inbox:conversation-list") + "?filter=all").content.decode()
    assert client.get("/api/v1/conversations/").json()["results"] == []


def test_login_is_rate_limited_after_five_failures(client, alice):
    from django.core.cache import cache

    cache.clear()
    for _ in range(5):
        assert client.post("/login/", {"username": "alice", "password": "zle"}).status_code == 200
    response = client.post("/login/", {"username": "alice", "password": "haslo-testowe-1"})
    assert response.status_code == 429
    assert "Zbyt wiele" in response.content.decode() or "Too many" in response.content.decode()
    cache.clear()
    assert client.post("/login/", {"username": "alice", "password": "haslo-testowe-1"}).status_code == 302


def test_a_reply_that_repeats_a_marketplace_notification_asks_for_confirmation(client, alice, conversation):
    client.force_login(alice)
    url = reverse("inbox:conversation-reply", args=[conversation.pk])
    text = "Dziękujemy za wpłatę, płatność została zaksięgowana."
    response = client.post(url, {"text": text}, HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    body = response.content.decode()
    assert 'name="confirmed"' in body and text in body  # the text is kept, "Send anyway" offered
    assert not Message.objects.filter(direction="out").exists()
    response = client.post(url, {"text": text, "confirmed": "1"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert Message.objects.filter(direction="out", text=text).exists()
    # A reply that answers the question goes straight through.
    client.post(url, {"text": "Tak, pralka jest dostępna od ręki."}, HTTP_HX_REQUEST="true")
    assert Message.objects.filter(direction="out").count() == 2


def test_a_reply_can_be_taken_back_inside_the_undo_window(client, alice, conversation):
    from integrations import services as channel_services

    client.force_login(alice)
    client.post(
        reverse("inbox:conversation-reply", args=[conversation.pk]),
        {"text": "Ups, to nie ta rozmowa."},
        HTTP_HX_REQUEST="true",
    )
    reply = Message.objects.get(direction="out")
    assert reply.next_attempt_at > reply.created_at  # the default window is 10 s
    assert channel_services.outbound_message_deliver(reply.pk) == "skipped"  # not before the window ends
    pane = client.get(reverse("inbox:conversation-detail", args=[conversation.pk]), HTTP_HX_REQUEST="true")
    assert 'class="undo"' in pane.content.decode()
    response = client.post(
        reverse("inbox:message-undo", args=[conversation.pk, reply.pk]), HTTP_HX_REQUEST="true"
    )
    assert "Ups, to nie ta rozmowa." in response.content.decode()  # back in the reply box
    assert not Message.objects.filter(direction="out").exists()
    assert conversation.events.filter(kind="reply_undone", actor=alice).exists()


def test_undo_is_refused_once_the_reply_has_left(client, alice, conversation):
    client.force_login(alice)
    reply, _ = services.message_reply_create(conversation, text="Wysłane", acting_user=alice, undo_seconds=10)
    Message.objects.filter(pk=reply.pk).update(delivery_status="sending", attempts=1)
    response = client.post(
        reverse("inbox:message-undo", args=[conversation.pk, reply.pk]), HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert Message.objects.filter(pk=reply.pk, delivery_status="sending").exists()


def test_automatic_mail_is_folded_in_the_thread(client, alice, account, conversation):
    from dataclasses import replace

    base = InboundMessage(
        external_id="m-auto",
        conversation_external_id="thread-1",
        conversation_kind="message",
        direction="in",
        author_type="buyer",
        created_at=timezone.now() - timedelta(hours=1),
        text="Jestem na urlopie do poniedziałku. W pilnych sprawach proszę dzwonić.",
        classification="auto_reply",
        buyer_login="pani_ania",
    )
    services.message_receive(account, base)
    services.message_receive(
        account,
        replace(base, external_id="m-system", classification="system", text="Doradca Allegro dołączył."),
    )
    client.force_login(alice)
    body = client.get(reverse("inbox:conversation-detail", args=[conversation.pk])).content.decode()
    folded = re.search(
        r'<details class="folded-body" id="fold-\d+" hx-preserve><summary>(.*?)</summary>', body, re.S
    )
    assert folded and "Autoodpowiedź" in folded.group(1) and "Jestem na urlopie" in folded.group(1)
    assert body.count('class="folded-body"') == 1  # the buyer's own words and Allegro's notes stay open
    assert "Czy pralka jest dostępna od ręki?" in body and "Doradca Allegro dołączył." in body
