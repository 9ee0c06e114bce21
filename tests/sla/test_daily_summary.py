"""The leads' daily summary: settings page, once-per-day sending (twice in a row, two threads at once),
the hour in Europe/Warsaw across DST, figures equal to the database, multipart and printable."""

from __future__ import annotations

import threading

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.urls import reverse
from django.utils import translation

from sla import summary
from sla.models import DailySummaryConfig, DailySummarySent

from .helpers import agent_replies, buyer_writes, waw


@pytest.fixture
def config(org, bob):
    bob.email = "bob@example.com"
    bob.save()
    return DailySummaryConfig.objects.create(organization=org, enabled=True, hour=7, roles=["owner", "lead"])


@pytest.fixture
def yesterday(account, alice):
    """Mon 2 Mar 2026: one reply on time (30 min), one late (Mon 9:00 → Tue 10:00 is not yesterday's:
    it is decided at its deadline Tue 9:00), and one message overdue since Mon 12:00 (written Fri 27 Feb
    12:00, due Mon 2 Mar 12:00: weekend not counted)."""
    ok = buyer_writes(account, waw(2026, 3, 2, 8), thread="ok")
    agent_replies(ok.conversation, alice, waw(2026, 3, 2, 8, 30))
    buyer_writes(account, waw(2026, 2, 27, 12), thread="overdue")
    return account


@pytest.mark.django_db
def test_sent_once_at_the_hour_with_yesterdays_figures(config, yesterday, alice):
    with time_machine.travel(waw(2026, 3, 3, 6, 59), tick=False):
        assert summary.daily_summaries_send() == 0  # before 07:00 Warsaw
    with time_machine.travel(waw(2026, 3, 3, 7, 2), tick=False):
        assert summary.daily_summaries_send() == 1
        assert summary.daily_summaries_send() == 0  # the next beat: already sent
    with time_machine.travel(waw(2026, 3, 3, 18), tick=False):
        assert summary.daily_summaries_send() == 0
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["bob@example.com"]  # the lead; alice is an agent
    html = message.alternatives[0][0]
    assert message.alternatives[0][1] == "text/html"
    assert "02.03.2026" in message.subject
    # Monday: 1 reply (on time) + 1 unanswered overdue (deadline Mon 12:00) → 50 %, 1 breach.
    assert 'data-figure="replies">1<' in html
    assert "50.0 % (1/2)" in html and 'data-figure="breaches">1<' in html
    assert "50.0 % (1/2)" in message.body
    assert "http://" in message.body and reverse("inbox:sla-quality") in message.body
    assert "<link" not in html and "<script" not in html and "@media print" in html
    with translation.override("pl"):
        polish = translation.gettext("Sales quality")
    assert polish != "Sales quality" and polish in html  # Polish by default
    [row] = DailySummarySent.objects.all()
    assert row.sent_at is not None and row.recipients == ["bob@example.com"]
    # The next day again, once.
    with time_machine.travel(waw(2026, 3, 4, 7, 0), tick=False):
        assert summary.daily_summaries_send() == 1
    assert len(mail.outbox) == 2


@pytest.mark.django_db
@pytest.mark.parametrize(
    "before, at",
    [
        # Spring forward: Sun 29 Mar 2026 02:00 CET → 03:00 CEST; 07:00 Warsaw = 05:00 UTC.
        (waw(2026, 3, 29, 6, 55), waw(2026, 3, 29, 7, 0)),
        # Fall back: Sun 25 Oct 2026 03:00 CEST → 02:00 CET; 07:00 Warsaw = 06:00 UTC.
        (waw(2026, 10, 25, 6, 55), waw(2026, 10, 25, 7, 0)),
    ],
)
def test_the_hour_is_warsaws_across_dst(config, before, at):
    with time_machine.travel(before, tick=False):
        assert summary.daily_summaries_send() == 0
    with time_machine.travel(at, tick=False):
        assert summary.daily_summaries_send() == 1


@pytest.mark.django_db(transaction=True)
def test_two_beats_at_once_send_once(config, monkeypatch):
    barrier = threading.Barrier(2)
    real = summary.summary_recipients

    def both_past_the_check(**kwargs):
        result = real(**kwargs)
        barrier.wait(timeout=10)  # both threads are past every check before either claims
        return result

    monkeypatch.setattr(summary, "summary_recipients", both_past_the_check)
    results = []

    def beat():
        try:
            with time_machine.travel(waw(2026, 3, 3, 8), tick=False):
                results.append(summary.daily_summaries_send())
        finally:
            connection.close()

    threads = [threading.Thread(target=beat) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == [0, 1]
    assert len(mail.outbox) == 1 and DailySummarySent.objects.count() == 1


@pytest.mark.django_db
def test_a_failed_send_is_retried_by_the_next_beat(config, monkeypatch):
    calls = []

    def boom(self, *args, **kwargs):
        calls.append(1)
        raise OSError("smtp down")

    with time_machine.travel(waw(2026, 3, 3, 8), tick=False):
        monkeypatch.setattr("django.core.mail.EmailMultiAlternatives.send", boom)
        assert summary.daily_summaries_send() == 0
        assert DailySummarySent.objects.count() == 0
        monkeypatch.undo()
        assert summary.daily_summaries_send() == 1
    assert len(calls) == 1 and len(mail.outbox) == 1


@pytest.mark.django_db
def test_settings_page_and_print_view(client, bob, alice, org, yesterday):
    client.force_login(bob)
    url = reverse("inbox:sla-summary")
    assert client.get(url).status_code == 200
    response = client.post(url, {"enabled": "on", "hour": "9", "roles": ["lead"], "language": "en"})
    assert response.status_code == 302
    config = DailySummaryConfig.objects.get(organization=org)
    assert (config.enabled, config.hour, config.roles, config.language) == (True, 9, ["lead"], "en")
    assert client.post(url, {"hour": "25", "roles": ["lead"], "language": "pl"}).status_code == 422
    assert client.post(url, {"hour": "7", "roles": ["agent"], "language": "pl"}).status_code == 422
    with time_machine.travel(waw(2026, 3, 3, 10), tick=False):
        page = client.get(reverse("inbox:sla-summary-print")).content.decode()
    assert "window.print()" in page and 'data-figure="replies">1<' in page
    client.force_login(alice)
    assert client.get(url).status_code == 404
    assert client.get(reverse("inbox:sla-summary-print")).status_code == 404
