"""The quality mirror from real ResponseRecords, the forecast of the open queue, the board (leads only,
htmx polling, tenancy), the scheme override and `manage.py quality_report`."""

from __future__ import annotations

import re
from datetime import date
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.urls import reverse

from sla import quality_services
from sla.models import QualityConfig
from sla.quality_selectors import quality_board

from .helpers import agent_replies, buyer_writes, waw

BOARD = reverse("inbox:sla-quality")


def _snapshot(account, day: date, score: float, grade: str = "GOOD", extra_metrics=()) -> None:
    quality_services.quality_snapshots_store(
        account,
        [
            {
                "day": day,
                "score": score,
                "grade": grade,
                "max_score": 500.0,
                "metrics": [
                    {
                        "code": "BUYER_SATISFACTION",
                        "name": "Zadowolenie kupujących",
                        "score": 120.0,
                        "max_score": 150.0,
                    },
                    *extra_metrics,
                ],
            }
        ],
    )


@pytest.fixture
def holiday_reply(account, bob):
    """Tuesday 10 Nov 2026 10:00 a buyer writes; Wednesday 11 Nov is a public holiday (Independence
    Day); the reply on Thursday 12 Nov 09:00 took 47 h of wall time but 14 h + 9 h = 23 h of
    working-day time: on time."""
    message = buyer_writes(account, waw(2026, 11, 10, 10), thread="holiday")
    agent_replies(message.conversation, bob, waw(2026, 11, 12, 9))
    return account


@pytest.mark.django_db
def test_the_mirror_counts_working_day_time_across_a_holiday(holiday_reply, org):
    board = quality_board(organization=org, now=waw(2026, 11, 12, 12))
    [aq] = board["accounts"]
    on_time = aq.mirrored.metric("messages_on_time")
    avg = aq.mirrored.metric("messages_avg_time")
    assert on_time.value == 1.0 and on_time.points == 30 and on_time.small_sample
    assert avg.value == pytest.approx(23.0)
    # 20 × (24 − 23) / 23 = 0.87 → 0.9
    assert avg.points == 0.9
    assert aq.mirrored.score == 30.9
    # The day before the reply the window had nothing yet: 0.
    assert aq.history[-2]["mirrored"].score == 0
    assert aq.inputs.messages_replied == 1


@pytest.mark.django_db
def test_a_late_reply_and_an_unanswered_overdue_message(account, bob, org):
    late = buyer_writes(account, waw(2026, 3, 2, 9), thread="late")  # Mon, due Tue 09:00
    agent_replies(late.conversation, bob, waw(2026, 3, 3, 12))
    buyer_writes(account, waw(2026, 3, 3, 8), thread="waiting")  # due Wed 08:00, never answered
    board = quality_board(organization=org, now=waw(2026, 3, 4, 10))
    [aq] = board["accounts"]
    assert aq.inputs.messages_due == 2
    assert aq.inputs.messages_on_time == 0
    assert aq.inputs.messages_replied == 1
    assert aq.mirrored.metric("messages_on_time").points == -30


@pytest.mark.django_db
def test_forecast_of_the_open_queue(account, bob, org):
    # Nineteen answered on time on Monday 16 Nov; one more waits since Mon 21:00 (due Tue 21:00).
    for i in range(19):
        m = buyer_writes(account, waw(2026, 11, 16, 8, i), thread=f"ok{i}")
        agent_replies(m.conversation, bob, waw(2026, 11, 16, 9, i))
    waiting = buyer_writes(account, waw(2026, 11, 16, 21), thread="waiting")
    buyer_writes(account, waw(2026, 11, 17, 18), thread="tomorrow")  # due Wed 18:00: after the cut-off
    board = quality_board(organization=org, now=waw(2026, 11, 17, 20))
    [aq] = board["accounts"]
    fc = aq.forecast
    assert fc.breaching_soon == 1 and fc.breaching_by_cutoff == 1
    assert fc.rate_now == 1.0
    assert fc.rate_at_cutoff == pytest.approx(19 / 20)  # exactly 95 %: still a plus
    assert [s["conversation"].pk for s in aq.savings] == [waiting.conversation_id]
    assert fc.now.metric("messages_on_time").points == 30


@pytest.mark.django_db
def test_board_shows_mirror_official_difference_and_checklist(client, bob, account, holiday_reply):
    for back in range(30):
        day = date(2026, 11, 12).toordinal() - back
        _snapshot(account, date.fromordinal(day), 150.0 if back else 40.0, "SUPER" if back < 14 else "GOOD")
    client.force_login(bob)
    with time_machine.travel(waw(2026, 11, 12, 12), tick=False):
        response = client.get(BOARD)
    body = response.content.decode()
    assert response.status_code == 200
    assert 'data-metric="messages_on_time"' in body
    assert 'hx-trigger="every 10s"' in body
    assert "<svg" in body and "<polyline" in body
    assert "Zadowolenie kupujących" in body
    # The official figures list no customer-service metric: grades side by side, no difference.
    assert 'data-kpi="difference"' not in body and 'data-kpi="difference-none"' in body
    assert body.count('data-status="met"') == 2  # 14 Super days, at least Good throughout
    assert body.count('data-status="unknown"') == 2  # company account and orders not set
    with time_machine.travel(waw(2026, 11, 12, 12), tick=False):
        partial = client.get(BOARD, HTTP_HX_REQUEST="true").content.decode()
    assert partial.lstrip().startswith('<div id="quality-board"')
    assert "<html" not in partial


@pytest.mark.django_db
def test_agents_get_404(client, alice):
    client.force_login(alice)
    assert client.get(BOARD).status_code == 404
    assert client.post(reverse("inbox:sla-quality-import")).status_code == 404
    assert client.post(reverse("inbox:sla-quality-config"), {"scheme": ""}).status_code == 404


@pytest.mark.django_db
def test_an_outsider_never_sees_the_organization(client, charlie, account):
    _snapshot(account, date(2026, 11, 12), 123.0)
    client.force_login(charlie)
    body = client.get(BOARD).content.decode()
    assert account.name not in body
    assert "123" not in body


@pytest.mark.django_db
def test_import_now_enqueues_per_account(client, bob, account, monkeypatch):
    sent = []
    monkeypatch.setattr("sla.views.current_app.send_task", lambda name, args: sent.append((name, args)))
    client.force_login(bob)
    response = client.post(reverse("inbox:sla-quality-import"))
    assert response.status_code == 302
    assert sent == [("sla.tasks.quality_snapshots_import", [account.pk])]


@pytest.mark.django_db
def test_a_lead_overrides_the_scheme(client, bob, org, holiday_reply):
    client.force_login(bob)
    url = reverse("inbox:sla-quality-config")
    bad = client.post(url, {"scheme": "{not json", "orders_30d": "", "company_account": ""})
    assert bad.status_code == 422
    scheme = '{"metrics": [{"code": "messages_on_time", "plus": 70}]}'
    ok = client.post(url, {"scheme": scheme, "orders_30d": "60", "company_account": "yes"})
    assert ok.status_code == 302
    config = QualityConfig.objects.get(organization=org)
    assert config.scheme == {"metrics": [{"code": "messages_on_time", "plus": 70}]}
    assert config.orders_30d == 60 and config.company_account is True
    board = quality_board(organization=org, now=waw(2026, 11, 12, 12))
    assert board["accounts"][0].mirrored.metric("messages_on_time").points == 70
    # "no discussions" now knows the orders: 5 × 60 / 100 = 3.
    assert board["accounts"][0].mirrored.metric("no_discussions").points == 3


@pytest.mark.django_db
def test_the_difference_is_shown_when_allegro_lists_the_customer_service_area(
    client, bob, account, holiday_reply
):
    area = {"code": "CUSTOMER_SERVICE", "name": "Obsługa klienta", "score": 80.0, "max_score": 110.0}
    _snapshot(account, date(2026, 11, 12), 420.0, "SUPER", extra_metrics=[area])
    client.force_login(bob)
    with time_machine.travel(waw(2026, 11, 12, 12), tick=False):
        body = client.get(BOARD).content.decode()
    assert 'data-kpi="difference"' in body and 'data-kpi="difference-none"' not in body
    out = StringIO()
    with time_machine.travel(waw(2026, 11, 12, 12), tick=False):
        call_command("quality_report", "--org", account.organization.slug, "--date", "2026-11-12", stdout=out)
    assert "difference (mirrored area − official customer-service metrics): -49.1" in out.getvalue()


@pytest.mark.django_db
def test_quality_report_command(holiday_reply, account, org):
    _snapshot(account, date(2026, 11, 12), 150.0, "GOOD")
    out = StringIO()
    with time_machine.travel(waw(2026, 11, 12, 12), tick=False):
        call_command("quality_report", "--org", org.slug, "--date", "2026-11-12", stdout=out)
    text = out.getvalue()
    assert "mirrored customer-service area: 30.9 / 110  grade NEUTRAL" in text
    assert "messages_on_time" in text and "100.0 %" in text and "≥ 95 %" in text
    assert "messages_avg_time" in text and "23.0 h" in text
    assert "official (2026-11-12): 150 / 500  grade GOOD" in text
    assert "BUYER_SATISFACTION" in text
    assert "difference: not comparable (the official figures list no customer-service metric;" in text
    assert "grades: mirrored NEUTRAL, official GOOD)" in text
    assert "forecast: Nothing in the queue breaches before the daily cut-off." in text


@pytest.mark.django_db
def test_quality_report_rejects_bad_arguments(org):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("quality_report", "--org", "nope", stdout=StringIO())
    with pytest.raises(CommandError):
        call_command("quality_report", "--date", "12.11.2026", stdout=StringIO())


# --- the response-time board's additions --------------------------------------------------------

METRICS = reverse("inbox:sla-metrics")


@pytest.fixture(autouse=True)
def _no_heatmap_cache(monkeypatch):
    monkeypatch.setattr("sla.board_selectors.HEATMAP_CACHE_SECONDS", 0)


@pytest.fixture
def reply_day(account, alice):
    """Wed 4 Mar 2026: one reply on time (45 min), one conversation waiting (due Thu 11:00)."""
    msg = buyer_writes(account, waw(2026, 3, 4, 10), thread="a")
    agent_replies(msg.conversation, alice, waw(2026, 3, 4, 10, 45))
    buyer_writes(account, waw(2026, 3, 4, 11), thread="b")
    return account


@pytest.mark.django_db
def test_metrics_board_queue_charts_and_heatmap(client, bob, reply_day):
    client.force_login(bob)
    with time_machine.travel(waw(2026, 3, 5, 8), tick=False):  # b is due in 3 h
        response = client.get(METRICS)
    body = response.content.decode()
    assert response.status_code == 200
    assert 'data-table="queue-account"' in body and 'data-table="queue-agent"' in body
    assert 'hx-trigger="every 10s"' in body
    assert body.count('class="sla-chart"') == 2
    assert "<polyline" in body
    assert 'class="sla-heat"' in body and body.count('class="cell"') == 2  # Wed 10:00 and Wed 11:00
    row = body.split('data-table="queue-account"')[1].split("</tr>")[1]
    cells = [re.sub(r"<[^>]+>", "", c.split(">", 1)[1]).strip() for c in row.split("<td")[1:]]
    # waiting now 1, due within 1 h 0, within 4 h 1, over the team target now 1 (b: 2 h of business hours
    # from Wed 11:00, due Wed 13:00), team breaches today 0 (Thursday), breached today 0, replies today 0
    assert cells[1] == "1" and cells[3] == "0" and cells[4] == "1"
    assert cells[5] == "1" and cells[6] == "0" and cells[7] == "0" and cells[8] == "0"
    with time_machine.travel(waw(2026, 3, 5, 8), tick=False):
        partial = client.get(METRICS, HTTP_HX_REQUEST="true").content.decode()
    assert partial.lstrip().startswith('<div id="metrics-board"')


@pytest.mark.django_db
def test_metrics_board_csv_exports(client, bob, reply_day, account):
    client.force_login(bob)
    with time_machine.travel(waw(2026, 3, 5, 8), tick=False):
        account_csv = client.get(METRICS, {"export": "account"})
        heat = client.get(METRICS, {"export": "heatmap"})
        day_csv = client.get(METRICS, {"export": "day", "days": 7})
        assert client.get(METRICS, {"export": "nope"}).status_code == 404
    assert account_csv["Content-Type"].startswith("text/csv")
    lines = account_csv.content.decode().splitlines()
    assert lines[0].startswith("key,label,due,on_time,on_time_rate")
    assert lines[0].endswith(
        "due_1h,due_4h,replies_today,breached_today,on_time_7,over_team_now,team_breached_today"
    )
    assert f"{account.pk},{account.name},1,1,1.0,1," in lines[1]
    heat_lines = heat.content.decode().splitlines()
    assert heat_lines[3].split(",")[11] == "1" and heat_lines[3].split(",")[12] == "1"  # Wednesday 10, 11
    assert "2026-03-04" in day_csv.content.decode()


@pytest.mark.django_db
def test_metrics_board_agents_get_404(client, alice):
    client.force_login(alice)
    assert client.get(METRICS).status_code == 404
    assert client.get(METRICS, {"export": "account"}).status_code == 404


@pytest.mark.django_db
def test_a_scheme_saved_in_another_organization_does_not_apply(client, charlie, org, holiday_reply):
    client.force_login(charlie)
    scheme = '{"metrics": [{"code": "messages_on_time", "plus": 99}]}'
    assert client.post(reverse("inbox:sla-quality-config"), {"scheme": scheme}).status_code == 302
    assert not QualityConfig.objects.filter(organization=org).exists()
    board = quality_board(organization=org, now=waw(2026, 11, 12, 12))
    assert board["accounts"][0].mirrored.metric("messages_on_time").points == 30


@pytest.mark.django_db
def test_quality_history_csv(client, bob, account, holiday_reply):
    _snapshot(account, date(2026, 11, 12), 150.0, "GOOD")
    client.force_login(bob)
    with time_machine.travel(waw(2026, 11, 12, 12), tick=False):
        response = client.get(BOARD, {"export": "history"})
    assert response["Content-Type"].startswith("text/csv")
    lines = response.content.decode().splitlines()
    assert lines[0].startswith("account,day,mirrored_score,mirrored_grade,messages_on_time,")
    assert len(lines) == 1 + 30
    assert lines[-1] == f"{account.name},2026-11-12,30.9,NEUTRAL,30.0,0.9,0.0,0.0,0.0,0.0,150.0,GOOD"


@pytest.mark.django_db
def test_boards_are_cached_for_a_few_seconds(client, bob, reply_day, settings, django_assert_max_num_queries):
    """Every lead polling a board shares one computation for SLA_BOARD_CACHE_SECONDS (keys per database
    and organization: a fresh organization starts cold, and the shared Redis is not flushed)."""
    settings.SLA_BOARD_CACHE_SECONDS = 5
    client.force_login(bob)
    for url in (METRICS, BOARD):
        client.get(url, HTTP_HX_REQUEST="true")
        with django_assert_max_num_queries(6):  # session, user, membership, … but no board query
            warm = client.get(url, HTTP_HX_REQUEST="true")
        assert warm.status_code == 200
