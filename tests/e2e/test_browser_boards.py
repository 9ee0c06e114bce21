"""Issue #6: a lead opens both boards in the browser; the figures match the database; screenshots
are saved to test-artifacts/ for the record. An agent cannot open them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from inbox import services as inbox_services
from inbox.models import Conversation
from integrations import services
from sla.models import QualitySnapshot
from sla.quality_services import quality_import
from tests.e2e.conftest import ARTIFACTS, login

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_lead_sees_both_boards_with_database_figures(page, live_server, workspace, allegro_sandbox):
    org, agent, account = workspace
    for i in range(6):
        allegro_sandbox.buyer_writes(f"kupujacy_{i}", f"Pytanie numer {i} o dostawę")
    assert services.channel_account_sync(account.pk).ok
    # Two of them answered and delivered: response records for the reply-time board.
    for conversation in Conversation.objects.filter(organization=org).order_by("pk")[:2]:
        reply, _ = inbox_services.message_reply_create(conversation, text="Wysyłamy dziś.", acting_user=agent)
        inbox_services.message_mark_delivered(
            reply.pk, external_id=f"e2e-{reply.pk}", delivered_at=timezone.now() + timedelta(seconds=1)
        )
    quality_import(account)
    waiting = Conversation.objects.filter(organization=org, awaiting_reply_since__isnull=False).count()
    official = QualitySnapshot.objects.filter(account=account).order_by("-day").first()
    assert waiting == 4 and official is not None

    login(page, live_server.url, "kierownik")
    page.goto(f"{live_server.url}/sla/metrics/")
    expect(page.locator("[data-kpi=waiting] strong").first).to_have_text(str(waiting))
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "board-reply-times.png"), full_page=True)

    page.goto(f"{live_server.url}/sla/quality/")
    official_text = page.locator("[data-kpi=official] strong").first.inner_text()
    assert float(official_text.split("/")[0].strip().replace("\xa0", "").replace(",", ".")) == official.score
    expect(page.locator("table[data-table=checklist] tr").first).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "board-quality.png"), full_page=True)

    page.context.clear_cookies()
    login(page, live_server.url, "agentka")
    for url in ("/sla/metrics/", "/sla/quality/"):
        assert page.goto(f"{live_server.url}{url}").status == 404
