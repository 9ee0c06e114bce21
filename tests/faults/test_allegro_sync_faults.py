"""Issue #9, faults: a sync of 1,000 threads through injected 429s, 5xx, slow responses, dropped
connections and expired tokens ends in exactly the state of a clean sync, within the rate limits."""

from __future__ import annotations

import pytest
from django.utils import timezone

from inbox.models import ChannelAccount, Conversation, Message
from integrations import services
from integrations.allegro.client import TokenSet
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.slow


def _account(sandbox, name: str) -> ChannelAccount:
    tokens = TokenSet.from_response(sandbox.mint_token(seller="SklepTest"), now=timezone.now())
    return ChannelAccount.objects.create(
        organization=OrganizationFactory(slug=name),
        kind="allegro",
        name=name,
        external_id=name,
        health="ok",
        credentials=tokens.as_credentials(),
    )


def _state(account: ChannelAccount) -> tuple[set, set]:
    messages = Message.objects.filter(account=account).values_list("external_id", "conversation__external_id")
    conversations = Conversation.objects.filter(account=account).values_list(
        "external_id", "awaiting_reply_since"
    )
    return set(messages), set(conversations)


def test_a_faulty_sync_of_1000_threads_ends_like_a_clean_one(db, allegro_sandbox, settings):
    settings.ALLEGRO_RETRY_BASE_SECONDS = 0.01
    allegro_sandbox.bulk(threads=1000, messages_per_thread=1)
    # The budget below Allegro's: the sandbox blocks the client for a minute at 9000/min.
    allegro_sandbox.configure(requestsPerMinute=9000)

    clean = _account(allegro_sandbox, "clean")
    assert services.channel_account_sync(clean.pk).ok

    faulty = _account(allegro_sandbox, "faulty")
    allegro_sandbox.reset_request_counts()
    allegro_sandbox.inject_fault(status=429, count=5, path="/messaging/threads")
    allegro_sandbox.inject_fault(status=503, count=5, path="/messaging/threads/")
    allegro_sandbox.inject_fault(status=500, count=3, path="/messaging/threads/")
    allegro_sandbox.inject_fault(delay=1.5, count=3, path="/messaging/threads/")
    allegro_sandbox.inject_fault(drop=True, count=4, path="/messaging/threads/")
    allegro_sandbox.inject_fault(expire_tokens=True, count=1, path="/messaging/threads/")
    runs = 0
    while True:  # a sync that gives up is simply run again by the next beat
        runs += 1
        run = services.channel_account_sync(faulty.pk)
        if run.ok or runs >= 5:
            break
    assert run.ok, run.error
    assert not [f for f in allegro_sandbox.faults() if f.get("remaining")], "every fault was hit"

    clean_messages, clean_conversations = _state(clean)
    faulty_messages, faulty_conversations = _state(faulty)
    assert len(clean_messages) == 1000
    assert faulty_messages == clean_messages  # nothing missing, nothing duplicated
    assert faulty_conversations == clean_conversations
    counts = allegro_sandbox.request_counts()
    # Within Allegro's limits: never blocked for exceeding the per-client budget.
    assert "RateLimitExceed" not in str(counts.get("log", ""))
    assert counts["byStatus"].get("429", 0) == 5  # only the injected ones
