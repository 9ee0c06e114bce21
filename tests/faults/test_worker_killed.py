"""Issue #9, faults: a Celery worker killed with SIGKILL mid-sync and mid-send.

Real processes: a prefork worker and beat (production settings) on a private Redis, the test
database, the local Allegro sandbox over HTTP. The sandbox's slow-response fault holds the request
open, so the kill lands deterministically inside it. Nothing of ours is mocked or shortcut: the
killed task's broker message stays unacked (Redis would redeliver it only after the one-hour
visibility timeout), and recovery comes from what the design says — the database plus beat: the sync
lease lapses and the next poll syncs again; the outbox sweep reclaims the reply left in SENDING and
asks Allegro whether it went out before sending again.
"""

from __future__ import annotations

import time

import pytest
from django.utils import timezone

from inbox import services as inbox_services
from inbox.models import ChannelAccount, Conversation, Membership, Message
from integrations.allegro.client import TokenSet
from integrations.models import DeliveryAttempt, SyncRun
from tests.factories import MembershipFactory, OrganizationFactory

from .conftest import celery_broker, stack_env, start_beat, start_worker, wait_for

pytestmark = pytest.mark.slow

LEASE = 6  # SYNC_LOCK_LEASE_SECONDS in the subprocesses
STALE = 8  # OUTBOX_SENDING_STALE_SECONDS (must exceed the slow POST below)
SLOW = 5  # seconds the sandbox holds the request we kill the worker in


@pytest.fixture
def stack(transactional_db, allegro_sandbox, private_redis, tmp_path):
    env = stack_env(
        redis_url=private_redis.url,
        REPLYDESK_POLL_SECONDS="1",
        SYNC_LOCK_LEASE_SECONDS=str(LEASE),
        OUTBOX_SENDING_STALE_SECONDS=str(STALE),
        OUTBOX_SWEEP_SECONDS="2",
    )
    procs = []

    class Stack:
        def worker(self, name: str):
            proc = start_worker(env, tmp_path / f"{name}.log", name=name)
            procs.append(proc)
            return proc

        def beat(self):
            proc = start_beat(env, tmp_path / "beat.log", tmp_path / "beat-schedule")
            procs.append(proc)
            return proc

    yield Stack()
    for proc in procs:
        proc.stop()


def _account(sandbox) -> ChannelAccount:
    org = OrganizationFactory(slug="kill")
    tokens = TokenSet.from_response(sandbox.mint_token(seller="SklepTest"), now=timezone.now())
    return ChannelAccount.objects.create(
        organization=org,
        kind="allegro",
        name="SklepTest",
        external_id="kill",
        health="ok",
        credentials=tokens.as_credentials(),
    )


def _fault_hit(sandbox) -> bool:
    return not [f for f in sandbox.faults() if f.get("remaining")]


def test_worker_killed_mid_sync_loses_nothing_and_recovers_within_a_lease(
    stack, allegro_sandbox, private_redis
):
    allegro_sandbox.bulk(threads=30, messages_per_thread=2)
    account = _account(allegro_sandbox)
    # One thread in the middle of the newest-first walk answers slowly: the sync is under way.
    middle = allegro_sandbox.threads()[15]["id"]
    allegro_sandbox.inject_fault(delay=SLOW, count=1, method="GET", path=f"/messaging/threads/{middle}/")

    stack.beat()
    worker = stack.worker("first")
    wait_for(lambda: _fault_hit(allegro_sandbox), 60, what="the sync to reach the slow thread")
    worker.kill()

    # The state a SIGKILL leaves: a run that never finished, its lease still in Redis, no cursor.
    assert SyncRun.objects.filter(account=account, finished_at__isnull=True).count() == 1
    assert private_redis.client().exists(f":1:sync-lock:{account.pk}")
    account.refresh_from_db()
    assert not account.sync_cursor

    killed_at = time.monotonic()
    stack.worker("second")
    wait_for(
        lambda: (
            SyncRun.objects.filter(account=account, ok=True).exists()
            and Message.objects.filter(account=account).count() >= 60
        ),
        LEASE + 40,
        what="a new worker to sync the account again",
    )
    recovered_in = time.monotonic() - killed_at
    assert recovered_in < LEASE + 30, recovered_in  # not the visibility timeout (1 h), not 10 min

    ids = list(Message.objects.filter(account=account).values_list("external_id", flat=True))
    assert len(ids) == len(set(ids)) == 60  # all present, exactly once
    threads = {t["id"] for t in allegro_sandbox.threads()}
    stored = set(Conversation.objects.filter(account=account).values_list("external_id", flat=True))
    assert stored == threads
    # Later polls find nothing new: nothing duplicated by the overlap or the killed run.
    time.sleep(2)
    assert Message.objects.filter(account=account).count() == 60


def test_worker_killed_mid_send_sends_exactly_once(stack, allegro_sandbox, private_redis):
    account = _account(allegro_sandbox)
    agent = MembershipFactory(organization=account.organization, role=Membership.Role.AGENT).user
    thread_id = allegro_sandbox.buyer_writes("kasia_zakupy88", "Czy wyślecie dziś?")["threadId"]

    stack.beat()
    worker = stack.worker("first")
    conversation = wait_for(
        lambda: Conversation.objects.filter(account=account, external_id=thread_id).first(),
        30,
        what="the buyer's thread to be synced",
    )
    # Allegro takes the POST, but answers only after SLOW seconds: the worker dies waiting.
    allegro_sandbox.inject_fault(
        delay=SLOW, count=1, method="POST", path=f"/messaging/threads/{thread_id}/messages"
    )
    with celery_broker(private_redis.url):  # the reply is enqueued after commit, as the view does
        reply, created = inbox_services.message_reply_create(
            conversation, text="Tak, wyślemy dziś.", acting_user=agent
        )
    assert created
    wait_for(lambda: _fault_hit(allegro_sandbox), 30, what="the reply's POST to reach Allegro")
    worker.kill()

    # It went out (Allegro finished the request after the worker died); we never heard back.
    wait_for(lambda: len(allegro_sandbox.sent(kind="message")) == 1, SLOW + 10, what="Allegro to store it")
    reply.refresh_from_db()
    assert reply.delivery_status == Message.DeliveryStatus.SENDING
    assert list(DeliveryAttempt.objects.filter(message=reply).values_list("number", "finished_at")) == [
        (1, None)
    ]

    killed_at = time.monotonic()
    stack.worker("second")
    wait_for(
        lambda: Message.objects.filter(pk=reply.pk, delivery_status="delivered").exists(),
        STALE + 40,
        what="the outbox sweep to reconcile the interrupted reply",
    )
    recovered_in = time.monotonic() - killed_at
    assert recovered_in < STALE + 30, recovered_in

    sent = allegro_sandbox.sent(kind="message")
    assert len(sent) == 1, sent  # never sent twice
    assert allegro_sandbox.count("POST", "/messaging/threads/{threadId}/messages") == 1
    reply.refresh_from_db()
    assert reply.external_id == sent[0]["messageId"]
    attempts = list(
        DeliveryAttempt.objects.filter(message=reply).order_by("number").values_list("number", "outcome")
    )
    assert attempts == [(1, DeliveryAttempt.Outcome.TRANSIENT), (2, DeliveryAttempt.Outcome.RECONCILED)]
    # The sync that follows sees our own copy in the thread and folds it in: one outbound message.
    time.sleep(3)
    outbound = Message.objects.filter(conversation=conversation, direction=Message.Direction.OUTBOUND)
    assert outbound.count() == 1
