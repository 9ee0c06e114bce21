"""The sync's store of one conversation's items (`_group_receive`): batched, and a concurrent
writer's conflict costs a redo one by one, never a duplicate or a store problem."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connections, transaction
from django.utils import timezone

from inbox import services as inbox_services
from inbox.models import ChannelAccount, Conversation, Message
from integrations.contracts import InboundMessage
from integrations.services import _group_receive
from sla.models import SlaClock
from tests.locks import wait_until_a_session_waits_on_a_lock


def _items(thread: str, count: int) -> list[InboundMessage]:
    start = timezone.now() - timedelta(hours=count + 1)
    return [
        InboundMessage(
            external_id=f"{thread}-m{n}",
            conversation_external_id=thread,
            conversation_kind="message",
            direction="in" if n % 2 == 0 else "out",
            author_type="buyer" if n % 2 == 0 else "agent",
            created_at=start + timedelta(hours=n),
            text=f"Wiadomość {n}",
            buyer_login="kupujacy_adam",
        )
        for n in range(count)
    ]


@pytest.fixture
def account(org) -> ChannelAccount:
    return ChannelAccount.objects.create(
        organization=org, kind="allegro", name="Sklep", external_id="seller-1"
    )


@pytest.mark.django_db
def test_a_group_is_stored_once_with_its_clocks(account) -> None:
    items = _items("t1", 5)
    policies: dict = {}
    with transaction.atomic():
        assert len(_group_receive(account, items, policies)) == 5
    assert any(key[0] == "policy" for key in policies)  # kept for the next group of the sync
    with transaction.atomic():
        assert _group_receive(account, items, policies) == []  # seen again: nothing new
    conversation = Conversation.objects.get(external_id="t1")
    assert conversation.messages.count() == 5
    assert conversation.awaiting_reply_since == items[4].created_at  # the last buyer message waits
    clocks = SlaClock.objects.filter(conversation=conversation)
    assert (
        clocks.filter(satisfied_at__isnull=False).exists()
        and clocks.filter(satisfied_at__isnull=True).exists()
    )


@pytest.mark.django_db(transaction=True)
def test_a_concurrent_writer_costs_a_redo_not_a_duplicate(account) -> None:
    items = _items("t2", 4)
    holding, release = threading.Event(), threading.Event()

    def other_worker() -> None:
        try:
            with transaction.atomic():
                inbox_services.message_receive(account, items[2])
                holding.set()
                release.wait(30)
        finally:
            connections.close_all()

    worker = threading.Thread(target=other_worker)
    worker.start()
    assert holding.wait(30)
    result: dict = {}

    def ours() -> None:
        try:
            with transaction.atomic():
                result["created"] = _group_receive(account, items, {})
        finally:
            connections.close_all()

    storing = threading.Thread(target=ours)
    storing.start()
    wait_until_a_session_waits_on_a_lock()  # ours waits on the other's uncommitted row
    release.set()
    worker.join(30)
    storing.join(60)

    assert [i.external_id for i in result["created"]] == ["t2-m0", "t2-m1", "t2-m3"]
    assert Message.objects.filter(conversation__external_id="t2").count() == 4
    assert Conversation.objects.filter(external_id="t2").count() == 1
