"""Allegro ingest through the full path (sync → thread → store → clock) from the local sandbox.

    .venv/bin/python bench/allegro_sync.py [--threads 1000] [--messages 3]

Prints wall time, messages/second and HTTP calls (total and per new message) for a first sync of
N threads, then for an incremental sync after 50 threads got a new message.
"""

from __future__ import annotations

import argparse
import time

from _django import record, setup


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=3)
    args = parser.parse_args()
    setup("replydesk_bench_sync")

    from django.conf import settings
    from django.utils import timezone

    from inbox.models import ChannelAccount, Message, Organization
    from integrations import services
    from integrations.allegro.client import TokenSet
    from integrations.allegro.sandbox.client import SandboxClient
    from integrations.allegro.sandbox.server import start_sandbox

    handle = start_sandbox(port=0, client_id="sandbox-client", client_secret="sandbox-secret", seed=1)
    sandbox = SandboxClient(
        handle.url, client_id="sandbox-client", client_secret="sandbox-secret", handle=handle
    )
    settings.ALLEGRO_API_URL = settings.ALLEGRO_AUTH_URL = handle.url
    settings.ALLEGRO_REQUESTS_PER_MINUTE = 8000
    sandbox.reset()
    org = Organization.objects.create(name="Bench", slug=f"bench-sync-{time.time_ns()}")
    tokens = TokenSet.from_response(sandbox.mint_token(seller="SklepTest"), now=timezone.now())
    account = ChannelAccount.objects.create(
        organization=org,
        kind="allegro",
        name="SklepTest",
        external_id="b",
        health="ok",
        credentials=tokens.as_credentials(),
    )
    sandbox.bulk(threads=args.threads, messages_per_thread=args.messages)
    sandbox.reset_request_counts()

    started = time.perf_counter()
    run = services.channel_account_sync(account.pk)
    first = time.perf_counter() - started
    calls_first = sandbox.request_counts()["total"]
    stored = Message.objects.filter(account=account).count()
    assert run and run.ok and stored == args.threads * args.messages, (run and run.error, stored)

    for i in range(50):
        sandbox.buyer_writes(f"bench_buyer_{i}", "Czy paczka już wyszła?")
    sandbox.reset_request_counts()
    started = time.perf_counter()
    run2 = services.channel_account_sync(account.pk)
    second = time.perf_counter() - started
    calls_second = sandbox.request_counts()["total"]
    handle.stop()
    figures = {
        "threads": args.threads,
        "messages": stored,
        "first_sync_s": round(first, 2),
        "first_sync_msgs_per_s": round(stored / first, 1),
        "first_sync_http_calls": calls_first,
        "http_calls_per_new_message": round(calls_first / stored, 3),
        "incremental_50_s": round(second, 2),
        "incremental_http_calls": calls_second,
        "incremental_new_messages": run2.new_messages,
    }
    for key, value in figures.items():
        print(f"{key:32} {value}")
    record("allegro_sync", figures)


if __name__ == "__main__":
    main()
