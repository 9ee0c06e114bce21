"""Issue #9, hostile input at the sync level, over real HTTP against the sandbox.

Malformed payloads are planted into the sandbox's real answers (`/_sandbox/malformed`, a fault
exempt from the OpenAPI validation). One bad thread, message or issue never stops the rest: the
others are stored exactly once, the bad one is recorded once as a SyncProblem with its raw payload,
shown on the accounts page and counted in /metrics; a failing thread is read again (at most
MAX_RETRIES times) and imported normally once the payload is fixed.
"""

from __future__ import annotations

import pytest
from django.test import Client

from inbox.models import Conversation, Message
from integrations import services
from integrations.allegro.adapter import TEXT_LIMIT
from integrations.allegro.sources.common import MAX_RETRIES
from integrations.models import SyncProblem
from tests.integrations.allegro import conftest as allegro_fixtures

connected_account = allegro_fixtures.connected_account
fast_retries = allegro_fixtures.fast_retries

MESSAGES = "/messaging/threads/{}/messages"


def _sandbox_message_ids(sandbox) -> set[str]:
    return {m.id for t in sandbox.state.threads.values() for m in t.visible_messages()}


def _stored(account) -> list[str]:
    return list(Message.objects.filter(account=account).values_list("external_id", flat=True))


def test_malformed_threads_and_messages_never_stop_the_sync(connected_account, allegro_sandbox, alice):
    good = allegro_sandbox.buyer_writes("kasia_zakupy88", "Czy ekspres jest dostępny?")
    allegro_sandbox.buyer_writes("kasia_zakupy88", "I czy jest faktura?")
    partly = allegro_sandbox.buyer_writes("jan.kowalski", "Gdzie jest paczka?")
    broken = allegro_sandbox.buyer_writes("ola_k", "Proszę o kontakt.")
    for buyer in ("b1", "b2", "b3"):
        allegro_sandbox.buyer_writes(buyer, f"Pytanie od {buyer}")
    # A junk entry and a thread without an id in the list; a string among one thread's messages;
    # another thread's message list that is not a list.
    allegro_sandbox.plant_malformed(
        "/messaging/threads",
        append={"threads": ["junk", {"lastMessageDateTime": "2099-01-01T00:00:00.000Z", "read": False}]},
    )
    allegro_sandbox.plant_malformed(
        MESSAGES.format(partly["threadId"]), append={"messages": ["not-a-message"]}
    )
    allegro_sandbox.plant_malformed(MESSAGES.format(broken["threadId"]), set={"messages": {"oops": True}})

    run = services.channel_account_sync(connected_account.pk)
    connected_account.refresh_from_db()
    assert run.ok and connected_account.health == "ok" and connected_account.last_sync_error == ""
    expected = _sandbox_message_ids(allegro_sandbox) - {broken["message"]["id"]}
    assert sorted(_stored(connected_account)) == sorted(expected)  # everything else, exactly once
    problems = {
        (p.kind, p.external_id, p.code): p for p in SyncProblem.objects.filter(account=connected_account)
    }
    assert len(problems) == 4 and run.problems == 4
    partial = problems[("thread", partly["threadId"], "message_unreadable")]
    assert partial.raw == "not-a-message" and partial.retrying and partial.count == 1
    unreadable = problems[("thread", broken["threadId"], "messages_unreadable")]
    assert unreadable.raw["messages"] == {"oops": True} and "messages is object" in unreadable.detail
    junk = [p for (kind, _, code), p in problems.items() if code == "thread_unreadable"]
    raws = [p.raw for p in junk]
    assert len(raws) == 2 and "junk" in raws
    assert {"lastMessageDateTime": "2099-01-01T00:00:00.000Z", "read": False} in raws
    assert all(p.external_id.startswith("payload:") and not p.retrying for p in junk)

    # The seller sees them on the accounts page; /metrics counts them.
    client = Client()
    client.force_login(alice)
    page = client.get("/accounts/").content.decode()
    assert f'id="sync-problems-{connected_account.pk}"' in page
    assert 'data-code="messages_unreadable"' in page and broken["threadId"] in page
    assert "oops" in page  # the copy of what Allegro sent
    metrics = Client().get("/metrics").content.decode()
    labels = (
        f'account="{connected_account.pk}",channel="allegro",code="thread_unreadable",organization="alicja"'
    )
    assert f"replydesk_sync_problems{{{labels}}} 2.0" in metrics.splitlines()

    # Still broken: the two threads are read again, nothing is stored twice, no problem is duplicated.
    allegro_sandbox.reset_request_counts()
    run = services.channel_account_sync(connected_account.pk)
    assert run.ok and run.new_messages == 0
    assert sorted(_stored(connected_account)) == sorted(expected)
    assert SyncProblem.objects.filter(account=connected_account).count() == 4
    assert SyncProblem.objects.get(pk=unreadable.pk).count == 2
    assert allegro_sandbox.count("GET", "/messaging/threads/{threadId}/messages") == 2  # only the two retried

    # Fixed in the sandbox: the next sync imports the thread normally and resolves its problems.
    allegro_sandbox.clear_malformed(MESSAGES.format(partly["threadId"]))
    allegro_sandbox.clear_malformed(MESSAGES.format(broken["threadId"]))
    run = services.channel_account_sync(connected_account.pk)
    assert run.ok and run.new_messages == 1
    assert sorted(_stored(connected_account)) == sorted(_sandbox_message_ids(allegro_sandbox))
    conv = Conversation.objects.get(account=connected_account, external_id=broken["threadId"])
    assert [m.text for m in conv.messages.all()] == ["Proszę o kontakt."]
    for pk in (partial.pk, unreadable.pk):
        assert SyncProblem.objects.get(pk=pk).resolved_at is not None
    connected_account.refresh_from_db()
    assert "retry" not in connected_account.sync_cursor["messaging"]
    assert Conversation.objects.get(external_id=good["threadId"]).messages.count() == 2

    # Later buyer messages keep flowing normally.
    allegro_sandbox.buyer_writes("ola_k", "Halo?")
    assert services.channel_account_sync(connected_account.pk).new_messages == 1


def test_a_permanently_malformed_thread_is_retried_a_few_times_then_left_recorded(
    connected_account, allegro_sandbox
):
    broken = allegro_sandbox.buyer_writes("ola_k", "Proszę o kontakt.")
    allegro_sandbox.buyer_writes("kasia_zakupy88", "Czy ekspres jest dostępny?")
    allegro_sandbox.plant_malformed(MESSAGES.format(broken["threadId"]), set={"messages": "oops"})
    for _ in range(MAX_RETRIES):
        assert services.channel_account_sync(connected_account.pk).ok
    problem = SyncProblem.objects.get(account=connected_account)
    assert problem.count == MAX_RETRIES and not problem.retrying and problem.resolved_at is None
    allegro_sandbox.reset_request_counts()
    run = services.channel_account_sync(connected_account.pk)
    assert run.ok and run.problems == 0
    assert allegro_sandbox.count("GET", "/messaging/threads/{threadId}/messages") == 0  # not read forever
    assert SyncProblem.objects.get(account=connected_account).count == MAX_RETRIES
    assert Message.objects.filter(account=connected_account).count() == 1


def test_a_huge_text_and_an_unknown_author_role_are_stored_with_the_problem_noted(
    connected_account, allegro_sandbox
):
    thread = allegro_sandbox.buyer_writes("kasia_zakupy88", "krótko")
    huge = "Zażółć gęślą jaźń " + "x" * (5 * 1024 * 1024) + "\x00koniec"  # 5 MB
    allegro_sandbox.plant_malformed(
        MESSAGES.format(thread["threadId"]),
        patch={"key": "messages", "match": {"id": thread["message"]["id"]}, "set": {"text": huge}},
    )
    issue = allegro_sandbox.issue_open("jan.kowalski", text="Towar nie dotarł.")
    allegro_sandbox.plant_malformed(
        f"/sale/issues/{issue['id']}/chat",
        patch={"key": "chat", "match": {}, "set": {"author": {"role": "ROBOT", "login": None}}},
    )
    allegro_sandbox.plant_malformed("/sale/issues", append={"issues": [17, {"id": "x", "type": "NEW_TYPE"}]})

    run = services.channel_account_sync(connected_account.pk)
    assert run.ok, run.error
    message = Message.objects.get(external_id=thread["message"]["id"])
    assert len(message.text) == TEXT_LIMIT and "\x00" not in message.text
    assert any("cut to" in p for p in message.problems)
    assert len(str(message.raw)) < 300_000  # the raw copy is capped too
    chat = Message.objects.get(conversation__external_id=issue["id"])
    assert chat.author_type == "marketplace" and chat.direction == "in"
    assert any("unknown author role 'ROBOT'" in p for p in chat.problems)
    codes = sorted(SyncProblem.objects.values_list("kind", "code"))
    assert codes == [
        ("issue", "issue_unreadable"),
        ("issue", "issue_unreadable"),
        ("message", "message_partial"),
        ("message", "message_partial"),
    ]
    big = SyncProblem.objects.get(external_id=thread["message"]["id"])
    assert big.raw_truncated and big.raw_size > 64 * 1024 and len(big.raw["head"]) == 64 * 1024
    # Seen again, nothing is duplicated (the messages already exist; the bad issues count up).
    run = services.channel_account_sync(connected_account.pk)
    assert run.ok and run.new_messages == 0
    assert SyncProblem.objects.count() == 4
    assert set(SyncProblem.objects.filter(kind="issue").values_list("count", flat=True)) == {2}


@pytest.mark.parametrize("where", ["first", "second"])
def test_a_conversation_that_cannot_be_saved_does_not_stop_the_others(
    connected_account, allegro_sandbox, monkeypatch, where
):
    a = allegro_sandbox.buyer_writes("kasia_zakupy88", "Pierwsza")
    b = allegro_sandbox.buyer_writes("jan.kowalski", "Druga")
    bad = (a if where == "first" else b)["threadId"]
    real = services.inbox_services.message_receive

    def receive(account, item, **kwargs):
        if item.conversation_external_id == bad:
            raise ValueError("boom")
        return real(account, item, **kwargs)

    monkeypatch.setattr(services.inbox_services, "message_receive", receive)
    before = dict(connected_account.sync_cursor or {})
    run = services.channel_account_sync(connected_account.pk)
    assert run.ok and run.new_messages == 1
    problem = SyncProblem.objects.get(code="store_failed")
    assert problem.external_id == f"message:{bad}" and "ValueError: boom" in problem.detail
    connected_account.refresh_from_db()
    assert connected_account.sync_cursor == before  # read again next time
    monkeypatch.setattr(services.inbox_services, "message_receive", real)
    run = services.channel_account_sync(connected_account.pk)
    assert run.ok and run.new_messages == 1 and Message.objects.count() == 2
