"""bench/dataset.py at a tiny size, into the test database: what it generates is consistent and renders,
and the inbox list and the conversation pane take the same number of queries whatever they hold."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Count, Max
from django.test.utils import CaptureQueriesContext
from psycopg.conninfo import make_conninfo

from inbox.models import Conversation, Message, Organization
from sla.models import OPEN_Q, SlaClock

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import dataset

PANE = {"HX-Request": "true", "HX-Target": "conversation-pane"}


def queries(client, url: str, headers=None) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, headers=headers or {})
    assert response.status_code == 200, url
    return len(ctx), response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_generated_data_is_consistent_and_pages_take_constant_queries(client):
    settings = connection.settings_dict
    dsn = make_conninfo(
        **{
            k: v
            for k, v in {
                "host": settings["HOST"],
                "port": settings["PORT"],
                "user": settings["USER"],
                "password": settings["PASSWORD"],
                "dbname": settings["NAME"],
            }.items()
            if v
        }
    )
    result = dataset.load(dsn, 200, bulk=False)
    assert result["counts"]["conversations"] == 200
    assert result["counts"]["messages"] > 200 * 3

    # Denormalized fields agree with the messages; waiting conversations have their open clocks.
    rows = Conversation.objects.annotate(last=Max("messages__source_created_at"))
    assert all(c.last_message_at == c.last for c in rows)
    waiting = set(
        Conversation.objects.filter(awaiting_reply_since__isnull=False).values_list("pk", flat=True)
    )
    clocked = set(
        SlaClock.objects.filter(OPEN_Q, kind="marketplace").values_list("conversation_id", flat=True)
    )
    assert waiting and waiting == clocked
    assert Message.objects.filter(text__regex=r"[ąęłńóśźż]").exists()  # Polish, not lorem ipsum

    org = Organization.objects.get(slug="bench")
    client.force_login(get_user_model().objects.get(username="agent01"))
    counted = {}
    for url in ("/?filter=awaiting", "/?filter=all", "/?filter=closed", "/?filter=all&kind=email"):
        counted[url], body = queries(client, url)
        assert len(re.findall(r'data-conversation="\d+"', body)) > 0, url
    assert len(set(counted.values())) == 1, counted

    by_length = (
        Conversation.objects.filter(organization=org).annotate(n=Count("messages")).order_by("n", "pk")
    )
    shortest, longest = by_length.first(), by_length.last()
    assert longest.n > shortest.n
    few, _ = queries(client, f"/c/{shortest.pk}/", PANE)
    many, body = queries(client, f"/c/{longest.pk}/", PANE)
    assert few == many
    assert body.count("data-message=") == longest.n
