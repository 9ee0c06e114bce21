"""Conversations, messages, replies, assignment, close/reopen, "no reply needed", contacts."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from inbox import selectors, services
from inbox.models import Conversation, ConversationEvent, Message
from tests.factories import ConversationFactory

from .conftest import buyer_message


def _all_pages(api, url: str, limit: int) -> list[int]:
    ids, cursor, pages = [], None, 0
    while True:
        sep = "&" if "?" in url else "?"
        response = api.get(f"{url}{sep}limit={limit}" + (f"&cursor={cursor}" if cursor else ""))
        assert response.status_code == 200, response.content
        body = response.json()
        ids += [row["id"] for row in body["results"]]
        cursor = body["next_cursor"]
        pages += 1
        assert pages < 50
        if cursor is None:
            return ids


@pytest.fixture
def inbox_state(account, bob, alice):
    """Conversations in every state the filters tell apart, with ties and NULLs in the sort keys."""
    now = timezone.now()
    waiting = [buyer_message(account, thread=f"w{i}", external_id=f"w{i}", ago=10 - i) for i in range(4)]
    mine = waiting[1].conversation
    services.conversation_assign(mine, assignee=bob, acting_user=bob)
    services.conversation_assign(waiting[2].conversation, assignee=alice, acting_user=bob)
    closed = buyer_message(account, thread="closed", external_id="c1", ago=3).conversation
    services.conversation_close(closed, acting_user=bob)
    email = buyer_message(account, thread="mail", external_id="e1", ago=5, kind="email").conversation
    # Same last_message_at (ties broken by id) and no messages at all (NULL last_message_at).
    for i in range(3):
        ConversationFactory(account=account, external_id=f"tie{i}", last_message_at=now - timedelta(hours=1))
    for i in range(2):
        ConversationFactory(account=account, external_id=f"empty{i}")
    return {"mine": mine, "closed": closed, "email": email}


@pytest.mark.parametrize("filter_name", selectors.FILTERS)
@pytest.mark.parametrize("extra", ["", "&kind=message", "&due_within=30", "&kind=email&due_within=720"])
def test_the_list_has_the_inbox_filters_and_order_across_pages(
    api, org, bob, inbox_state, filter_name, extra
):
    kind = "message" if "kind=message" in extra else ("email" if "kind=email" in extra else "")
    due_within = 30 if "due_within=30" in extra else (720 if "due_within=720" in extra else None)
    expected = [
        c.pk
        for c in selectors.conversation_list(
            organization=org, user=bob, filter_name=filter_name, kind=kind, due_within=due_within, limit=1000
        )
    ]
    got = _all_pages(api, f"/api/v1/conversations/?filter={filter_name}{extra}", limit=2)
    assert got == expected
    if filter_name == "all" and not extra:
        assert len(got) == 11


def test_the_default_filter_is_all_and_rows_carry_the_clocks(api, inbox_state):
    body = api.get("/api/v1/conversations/?limit=200").json()
    assert len(body["results"]) == 11 and body["next_cursor"] is None
    row = next(r for r in body["results"] if r["id"] == inbox_state["mine"].pk)
    assert row["assignee"]["username"] == "bob"
    assert row["account"]["channel"] == "allegro"
    assert [c["kind"] for c in row["sla_clocks"]] == ["marketplace", "team"]
    assert row["sla_clocks"][0]["state"] in ("ok", "warn-1", "warn-2", "breached")


def test_a_page_is_stable_when_new_conversations_arrive(api, account, inbox_state):
    first = api.get("/api/v1/conversations/?limit=3").json()
    buyer_message(account, thread="new", external_id="new", ago=0)
    rest = _all_pages(api, f"/api/v1/conversations/?cursor={first['next_cursor']}", limit=3)
    ids = [r["id"] for r in first["results"]] + rest
    assert len(ids) == len(set(ids)) == 11  # nothing repeated, nothing skipped, the new one is before


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=201", "limit=x", "filter=everything", "kind=fax", "due_within=-1", "due_within=nan",
     "cursor=!!!", "cursor=WyJkdWUiLDEsMV0"],
)  # fmt: skip
def test_bad_list_parameters_are_400_with_fields(api, inbox_state, query):
    response = api.get(f"/api/v1/conversations/?{query}")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid" and body["status"] == 400 and body["fields"]


def test_detail(api, conversation):
    body = api.get(f"/api/v1/conversations/{conversation.pk}/").json()
    assert body["id"] == conversation.pk and body["status"] == "open" and body["awaiting_reply_since"]
    assert api.get("/api/v1/conversations/999999999/").json() == {
        "status": 404,
        "code": "not_found",
        "detail": "Nie znaleziono.",
    }


def test_unknown_api_paths_are_json_404(api):
    response = api.get("/api/v1/nothing-here/")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


# --- replies -----------------------------------------------------------------------------------


def test_a_reply_is_queued_in_the_outbox_and_enqueued_on_commit(
    api, conversation, bob, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = api.post(
            f"/api/v1/conversations/{conversation.pk}/reply/",
            {"text": "Tak, jest."},
            content_type="application/json",
        )
    assert response.status_code == 201
    body = response.json()
    assert (
        body["delivery_status"] == "pending"
        and body["direction"] == "out"
        and body["author_user_id"] == bob.pk
    )
    assert callbacks  # the delivery task is sent after commit
    message = Message.objects.get(pk=body["id"])
    assert message.delivery_status == Message.DeliveryStatus.PENDING


def test_the_idempotency_key_makes_a_retried_reply_one_message(api, outsider_api, conversation, charlie):
    url = f"/api/v1/conversations/{conversation.pk}/reply/"
    headers = {"HTTP_IDEMPOTENCY_KEY": "order-123-reply"}
    first = api.post(url, {"text": "Wysłane."}, content_type="application/json", **headers)
    again = api.post(url, {"text": "Wysłane."}, content_type="application/json", **headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert conversation.messages.filter(direction="out").count() == 1
    other = api.post(url, {"text": "Inny tekst"}, content_type="application/json", **headers)
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    # The same key in another organization is another key.
    theirs = buyer_message(
        services.ChannelAccount.objects.create(
            organization=charlie.memberships.get().organization, kind="allegro", name="Inny", external_id="x9"
        ),
        thread="t",
        external_id="x",
    ).conversation
    response = outsider_api.post(
        f"/api/v1/conversations/{theirs.pk}/reply/",
        {"text": "Wysłane."},
        content_type="application/json",
        **headers,
    )
    assert response.status_code == 201 and response.json()["id"] != first.json()["id"]


def test_reply_errors(api, conversation):
    url = f"/api/v1/conversations/{conversation.pk}/reply/"
    empty = api.post(url, {"text": "   "}, content_type="application/json")
    assert empty.status_code == 400 and "text" in empty.json()["fields"]
    too_long = api.post(url, {"text": "x" * 2001}, content_type="application/json")
    assert too_long.status_code == 400
    not_json = api.post(url, "text=hej", content_type="application/x-www-form-urlencoded")
    assert not_json.status_code == 415 and not_json.json()["code"] == "unsupported_media_type"
    broken = api.post(url, "{", content_type="application/json")
    assert broken.status_code == 400 and broken.json()["code"] == "parse_error"
    long_key = api.post(url, {"text": "Hej"}, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k" * 256)
    assert long_key.status_code == 400
    Conversation.objects.filter(pk=conversation.pk).update(reply_blocked_reason="Dyskusja zamknięta")
    blocked = api.post(url, {"text": "Hej"}, content_type="application/json")
    assert blocked.status_code == 409 and blocked.json()["detail"] == "Dyskusja zamknięta"


# --- assign, close, reopen, no reply needed ----------------------------------------------------


def test_assign_close_reopen_are_audited_as_the_tokens_creator(api, conversation, alice, bob, charlie):
    base = f"/api/v1/conversations/{conversation.pk}"
    assert (
        api.post(f"{base}/assign/", {"assignee_id": alice.pk}, content_type="application/json").json()[
            "assignee"
        ]["username"]
        == "alice"
    )
    refused = api.post(f"{base}/assign/", {"assignee_id": charlie.pk}, content_type="application/json")
    assert refused.status_code == 400 and "assignee_id" in refused.json()["fields"]
    assert (
        api.post(f"{base}/assign/", {"assignee_id": None}, content_type="application/json").json()["assignee"]
        is None
    )
    assert api.post(f"{base}/close/").json()["status"] == "closed"
    assert api.post(f"{base}/reopen/").json()["status"] == "open"
    kinds = list(conversation.events.order_by("id").values_list("kind", "actor__username"))
    assert ("assigned", "bob") in kinds and ("unassigned", "bob") in kinds
    assert ("closed", "bob") in kinds and ("reopened", "bob") in kinds


def test_no_reply_needed_stops_the_clocks_with_a_reason(api, conversation, bob):
    url = f"/api/v1/conversations/{conversation.pk}/no-reply-needed/"
    assert api.post(url, {"reason": " "}, content_type="application/json").status_code == 400
    body = api.post(url, {"reason": "Kupujący podziękował"}, content_type="application/json").json()
    assert body["conversation"]["awaiting_reply_since"] is None and body["conversation"]["sla_clocks"] == []
    record = body["response_record"]
    assert record["no_reply_needed"] is True and record["no_reply_reason"] == "Kupujący podziękował"
    assert record["agent_id"] == bob.pk
    assert (
        api.post(url, {"reason": "Jeszcze raz"}, content_type="application/json").json()["response_record"]
        is None
    )
    assert ConversationEvent.objects.filter(
        conversation=conversation, kind="no_reply_needed", actor=bob
    ).exists()


# --- messages ----------------------------------------------------------------------------------


def test_messages_are_paged_oldest_first(api, account):
    conversation = None
    for i in range(5):
        conversation = buyer_message(
            account, thread="long", external_id=f"l{i}", ago=10 - i, text=f"wiadomość {i}"
        ).conversation
    ids = _all_pages(api, f"/api/v1/conversations/{conversation.pk}/messages/", limit=2)
    assert ids == list(conversation.messages.order_by("source_created_at", "id").values_list("id", flat=True))
    message = api.get(f"/api/v1/conversations/{conversation.pk}/messages/{ids[0]}/").json()
    assert message["text"] == "wiadomość 0" and message["direction"] == "in" and message["attachments"] == []


def test_a_message_is_found_only_under_its_own_conversation(api, account):
    a = buyer_message(account, thread="a", external_id="a1")
    b = buyer_message(account, thread="b", external_id="b1")
    assert api.get(f"/api/v1/conversations/{a.conversation_id}/messages/{b.pk}/").status_code == 404


def test_retry_puts_a_failed_reply_back_in_the_outbox(api, conversation, bob):
    reply, _ = services.message_reply_create(conversation, text="Hej", acting_user=bob)
    services.message_mark_failed(reply.pk, reason="Allegro 422")
    base = f"/api/v1/conversations/{conversation.pk}/messages"
    body = api.post(f"{base}/{reply.pk}/retry/").json()
    assert body["delivery_status"] == "pending" and body["failure_reason"] == ""
    inbound = conversation.messages.filter(direction="in").first()
    assert api.post(f"{base}/{inbound.pk}/retry/").status_code == 409


# --- contacts and members ----------------------------------------------------------------------


def test_contacts_list_filter_and_detail(api, account):
    a = buyer_message(account, thread="a", external_id="a1").conversation
    buyer_message(account, thread="b", external_id="b1")
    body = api.get("/api/v1/contacts/").json()
    assert len(body["results"]) == 2
    found = api.get("/api/v1/contacts/?identity=kupujacy-a").json()["results"]
    assert [c["id"] for c in found] == [a.contact_id]
    assert found[0]["identities"] == [{"kind": "allegro_login", "value": "kupujacy-a"}]
    detail = api.get(f"/api/v1/contacts/{a.contact_id}/").json()
    assert [c["id"] for c in detail["conversations"]] == [a.pk]


def test_members_list_the_organization_only(api, alice, bob, charlie):
    assert [m["username"] for m in api.get("/api/v1/members/").json()] == ["alice", "bob"]


# --- throttling --------------------------------------------------------------------------------


def test_each_token_has_its_own_bucket_and_429_says_when_to_come_back(api, read_api, settings):
    settings.API_THROTTLE_RATE = "3/min"
    with time_machine.travel(timezone.now(), tick=False):
        for _ in range(3):
            assert api.get("/api/v1/me/").status_code == 200
        response = api.get("/api/v1/me/")
        assert read_api.get("/api/v1/me/").status_code == 200
    assert response.status_code == 429
    assert response["Retry-After"] == "60"
    body = response.json()
    assert body["code"] == "throttled" and body["retry_after"] == 60


def test_a_session_is_throttled_per_user(alice, settings, conversation):
    settings.API_THROTTLE_RATE = "2/min"
    client = Client()
    client.force_login(alice)
    with time_machine.travel(timezone.now(), tick=False):
        codes = [client.get("/api/v1/me/").status_code for _ in range(3)]
    assert codes == [200, 200, 429]


def test_a_page_costs_the_same_queries_whatever_its_size(api, account):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for i in range(3):
        buyer_message(account, thread=f"a{i}", external_id=f"a{i}")
    api.get("/api/v1/me/")  # the token's last-used time is written once a minute
    with CaptureQueriesContext(connection) as few:
        assert len(api.get("/api/v1/conversations/?filter=awaiting").json()["results"]) == 3
    for i in range(12):
        buyer_message(account, thread=f"b{i}", external_id=f"b{i}")
    with CaptureQueriesContext(connection) as many:
        assert len(api.get("/api/v1/conversations/?filter=awaiting").json()["results"]) == 15
    # The token, its creator's membership, the rows, their open reply clocks.
    assert len(few) == len(many) == 4
