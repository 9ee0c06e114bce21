"""The inbox's SLA wiring: badges, "due soonest" and "breaching within N h", the policies page,
"no reply needed", alerts, the metrics board, tenancy."""

from __future__ import annotations

import re
from datetime import date

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from inbox import selectors as inbox_selectors
from inbox.models import Conversation
from sla import services
from sla.models import Alert, SlaClock, SlaDayOff, SlaPolicy
from tests.factories import ChannelAccountFactory

from .helpers import agent_replies, buyer_writes, waw

LIST = reverse("inbox:conversation-list")


def rows(body: str) -> list[str]:
    """Thread ids of the list rows, in order (subjects are empty: rows show the buyer login)."""
    return re.findall(r"kupujacy-(\w+)</span>", body)


@pytest.fixture
def three(account, bob):
    """Three waiting conversations whose deadlines are not in the order they started waiting.

    E-mail gets a 2 h calendar-hours limit: c-mail started last but is due first.
    """
    services.sla_policy_update(
        account.organization,
        conversation_kind="email",
        acting_user=bob,
        marketplace_limit_minutes=120,
        marketplace_calendar="calendar_hours",
        team_target_minutes=None,
        team_calendar="business_hours",
        business_hours="mon-fri 08:00-18:00",
        warning_minutes=[60],
    )
    buyer_writes(account, waw(2026, 3, 4, 9), thread="early")  # due Thu 09:00
    buyer_writes(account, waw(2026, 3, 4, 10), thread="middle")  # due Thu 10:00
    buyer_writes(account, waw(2026, 3, 4, 11), thread="mail", kind="email")  # due Wed 13:00
    answered = buyer_writes(account, waw(2026, 3, 4, 8), thread="answered")
    agent_replies(answered.conversation, bob, waw(2026, 3, 4, 8, 30))
    return account


def test_awaiting_is_sorted_by_the_marketplace_deadline(client, alice, three):
    client.force_login(alice)
    with time_machine.travel(waw(2026, 3, 4, 11, 30), tick=False):
        body = client.get(LIST).content.decode()
    assert rows(body) == ["mail", "early", "middle"]
    # The selector the API uses too.
    with time_machine.travel(waw(2026, 3, 4, 11, 30), tick=False):
        qs = inbox_selectors.conversation_list(organization=three.organization, user=alice)
        assert [c.external_id for c in qs] == ["mail", "early", "middle"]


def test_breaching_within_n_hours_includes_the_overdue(client, alice, three):
    client.force_login(alice)
    with time_machine.travel(waw(2026, 3, 4, 11, 30), tick=False):
        assert rows(client.get(LIST + "?due_within=4").content.decode()) == ["mail"]
        assert rows(client.get(LIST + "?due_within=1").content.decode()) == []
        assert rows(client.get(LIST + "?due_within=24").content.decode()) == ["mail", "early", "middle"]
        # Other filters combine with it; "all" includes the answered conversation, not in the window.
        assert rows(client.get(LIST + "?filter=all&due_within=24").content.decode()) == [
            "mail",
            "early",
            "middle",
        ]
        assert rows(client.get(LIST + "?filter=all&due_within=nonsense").content.decode())[0] == "mail"
    with time_machine.travel(waw(2026, 3, 4, 11, 30), tick=False):
        counts = inbox_selectors.conversation_counts(organization=three.organization, user=alice)
    assert (counts["awaiting"], counts["due_soon"]) == (3, 1)
    with time_machine.travel(waw(2026, 3, 4, 14), tick=False):  # mail is overdue now
        body = client.get(LIST + "?due_within=1").content.decode()
    assert rows(body) == ["mail"]
    assert 'data-state="breached"' in body


def test_the_due_soon_count_stops_at_the_limit(client, alice, three, monkeypatch):
    monkeypatch.setattr(inbox_selectors, "COUNT_LIMIT", 1)
    client.force_login(alice)
    with time_machine.travel(waw(2026, 3, 5, 11), tick=False):  # all three due within 4 h or overdue
        counts = inbox_selectors.conversation_counts(organization=three.organization, user=alice)
        body = client.get(LIST).content.decode()
    assert (counts["due_soon"], counts["due_soon_more"]) == (1, True)
    assert '<span id="count-due_soon" data-count="due_soon">1+</span>' in body


def test_the_list_keeps_the_due_filter_when_it_refreshes(client, alice, three):
    client.force_login(alice)
    body = client.get(LIST + "?due_within=4").content.decode()
    assert "due_within=4" in re.search(r'hx-get="([^"]+)"', body).group(1)
    assert 'class="due-filter active" data-due-within="4"' in body


def test_the_list_takes_the_same_number_of_queries_for_3_or_30_rows(client, alice, account):
    client.force_login(alice)
    for i in range(3):
        buyer_writes(account, waw(2026, 3, 4, 9, i), thread=f"a{i}")
    with CaptureQueriesContext(connection) as few:
        client.get(LIST, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="conversation-list")
    for i in range(27):
        buyer_writes(account, waw(2026, 3, 4, 10, i), thread=f"b{i}")
    with CaptureQueriesContext(connection) as many:
        body = client.get(LIST, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="conversation-list").content.decode()
    assert len(rows(body)) == 30
    assert len(few) == len(many)
    with CaptureQueriesContext(connection) as full_few:
        client.get(LIST + "?due_within=48")
    assert len(full_few) <= len(few) + 4  # + counts, due-soon count, alerts count, session/membership


def test_each_row_and_the_header_show_both_clocks_with_warning_colours(client, alice, account):
    msg = buyer_writes(account, waw(2026, 3, 4, 10))
    client.force_login(alice)
    with time_machine.travel(waw(2026, 3, 4, 10, 30), tick=False):
        body = client.get(LIST).content.decode()
    assert 'data-clock="marketplace" data-state="ok"' in body
    assert 'data-clock="team" data-state="ok"' in body
    assert "23 h 30 min" in body  # the marketplace countdown (wall time to the deadline)
    with time_machine.travel(waw(2026, 3, 4, 11, 5), tick=False):  # team: 1 h left reached
        body = client.get(LIST).content.decode()
    assert 'data-clock="team" data-state="warn-1"' in body
    with time_machine.travel(waw(2026, 3, 5, 9, 10), tick=False):  # marketplace: 4 h and 1 h left reached
        body = client.get(reverse("inbox:conversation-detail", args=[msg.conversation.pk])).content.decode()
    header = body[body.index('id="sla-header"') :]
    assert 'data-clock="marketplace" data-state="warn-2"' in header
    assert 'data-clock="team" data-state="breached"' in header
    assert "sla-breached" in header
    assert "zaległe" in header  # Polish: overdue


def test_no_reply_needed_from_the_conversation_pane(client, alice, account):
    msg = buyer_writes(account, waw(2026, 3, 4, 10))
    url = reverse("inbox:conversation-no-reply-needed", args=[msg.conversation.pk])
    client.force_login(alice)
    detail = client.get(reverse("inbox:conversation-detail", args=[msg.conversation.pk])).content.decode()
    assert url in detail
    response = client.post(url, {"reason": ""}, HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    assert SlaClock.objects.filter(cancelled_at__isnull=True).count() == 2
    response = client.post(url, {"reason": "Kupujący tylko podziękował"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    body = response.content.decode()
    assert body.lstrip().startswith('<section id="conversation-pane"')
    assert "Kupujący tylko podziękował" in body
    assert not SlaClock.objects.filter(cancelled_at__isnull=True).exists()
    event = msg.conversation.events.get(kind="no_reply_needed")
    assert (event.actor, event.data["reason"]) == (alice, "Kupujący tylko podziękował")
    assert Conversation.objects.get().awaiting_reply_since is None


def test_agents_get_404_on_the_policies_and_board(client, alice):
    client.force_login(alice)
    assert client.get(reverse("inbox:sla-policies")).status_code == 404
    assert client.post(reverse("inbox:sla-policies"), {"kind": "message"}).status_code == 404
    assert client.post(reverse("inbox:sla-day-off-add"), {"day": "2026-05-04"}).status_code == 404
    assert client.get(reverse("inbox:sla-metrics")).status_code == 404
    assert not SlaPolicy.objects.exists() and not SlaDayOff.objects.exists()


def test_a_lead_edits_a_policy_and_the_days_off(client, bob, org):
    client.force_login(bob)
    page = client.get(reverse("inbox:sla-policies"))
    assert page.status_code == 200
    body = page.content.decode()
    assert "Zasady odpowiedzi" in body  # Polish by default
    assert 'value="24"' in body  # defaults shown before any row exists
    form = {
        "kind": "discussion",
        "discussion-marketplace_limit_hours": "48",
        "discussion-marketplace_calendar": "working_days",
        "discussion-team_target_hours": "1.5",
        "discussion-team_calendar": "business_hours",
        "discussion-business_hours": "mon-fri 09:00-17:00",
        "discussion-warning_hours": "8, 2",
    }
    response = client.post(reverse("inbox:sla-policies"), form)
    assert response.status_code == 302
    policy = SlaPolicy.objects.get(organization=org, conversation_kind="discussion")
    assert (policy.marketplace_limit_minutes, policy.team_target_minutes) == (48 * 60, 90)
    assert (policy.business_hours, policy.warning_minutes, policy.updated_by) == (
        "mon-fri 09:00-17:00",
        [480, 120],
        bob,
    )
    bad = client.post(reverse("inbox:sla-policies"), {**form, "discussion-business_hours": "kiedyś"})
    assert bad.status_code == 422
    assert "Niepoprawne godziny pracy." in bad.content.decode()

    assert (
        client.post(
            reverse("inbox:sla-day-off-add"), {"day": "2026-05-04", "note": "Długi weekend"}
        ).status_code
        == 302
    )
    day_off = SlaDayOff.objects.get(organization=org)
    assert day_off.day == date(2026, 5, 4)
    assert "Długi weekend" in client.get(reverse("inbox:sla-policies")).content.decode()
    client.post(reverse("inbox:sla-day-off-delete", args=[day_off.pk]))
    assert not SlaDayOff.objects.exists()


def test_an_outsider_gets_404_on_the_policies_objects_and_never_sees_them(client, bob, charlie, org):
    services.sla_day_off_add(org, day=date(2026, 5, 4), note="Remanent Alicji", acting_user=bob)
    day_off = SlaDayOff.objects.get()
    client.force_login(charlie)  # the owner of another organization
    assert client.post(reverse("inbox:sla-day-off-delete", args=[day_off.pk])).status_code == 404
    assert SlaDayOff.objects.filter(pk=day_off.pk).exists()
    body = client.get(reverse("inbox:sla-policies")).content.decode()
    assert "Remanent Alicji" not in body  # charlie sees his own organization's policies only
    client.post(
        reverse("inbox:sla-policies"),
        {
            "kind": "message",
            "message-marketplace_limit_hours": "1",
            "message-marketplace_calendar": "calendar_hours",
            "message-team_target_hours": "",
            "message-team_calendar": "business_hours",
            "message-business_hours": "mon-fri 08:00-18:00",
            "message-warning_hours": "",
        },
    )
    assert not SlaPolicy.objects.filter(organization=org).exists()


def test_alerts_list_and_read(client, alice, bob, charlie, account):
    msg = buyer_writes(account, waw(2026, 3, 4, 10))
    msg.conversation.assignee = alice
    msg.conversation.save(update_fields=["assignee"])
    with time_machine.travel(waw(2026, 3, 5, 10, 0, 30), tick=False):
        services.sla_clocks_check()
    client.force_login(alice)
    list_body = client.get(LIST).content.decode()
    assert 'data-count="alerts">2<' in list_body  # two clocks breached
    body = client.get(reverse("inbox:sla-alerts")).content.decode()
    assert body.count('class="alert-unread"') == 2
    alert = Alert.objects.filter(user=alice).first()
    client.force_login(charlie)
    assert client.post(reverse("inbox:sla-alert-read", args=[alert.pk])).status_code == 404
    client.force_login(bob)  # bob has his own alerts, not alice's
    assert client.post(reverse("inbox:sla-alert-read", args=[alert.pk])).status_code == 404
    client.force_login(alice)
    response = client.post(reverse("inbox:sla-alert-read", args=[alert.pk]))
    assert response["Location"] == reverse("inbox:conversation-detail", args=[msg.conversation.pk])
    alert.refresh_from_db()
    assert alert.read_at is not None
    client.post(reverse("inbox:sla-alerts-read"))
    assert not Alert.objects.filter(user=alice, read_at__isnull=True).exists()
    assert Alert.objects.filter(user=bob, read_at__isnull=True).count() == 2


def test_the_metrics_board_for_leads(client, bob, alice, account):
    msg = buyer_writes(account, waw(2026, 3, 4, 10))
    agent_replies(msg.conversation, alice, waw(2026, 3, 4, 10, 45))
    other = ChannelAccountFactory(organization=account.organization, name="Drugie konto")
    buyer_writes(other, waw(2026, 3, 4, 11), thread="x")
    client.force_login(bob)
    with time_machine.travel(waw(2026, 3, 6, 12), tick=False):
        response = client.get(reverse("inbox:sla-metrics"))
    body = response.content.decode()
    assert response.status_code == 200
    assert "Czasy odpowiedzi" in body
    assert "50.0 %" in body  # 1 on time of 1 reply + 1 unanswered overdue
    assert "Drugie konto" in body
