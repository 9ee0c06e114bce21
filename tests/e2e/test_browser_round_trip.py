"""An agent answers a buyer in headless Chromium; a real Celery worker syncs and delivers."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_agent_answers_a_buyer_and_the_reply_reaches_allegro(
    page, live_server, workspace, allegro_sandbox, celery_stack
):
    login(page, live_server.url, "agentka")
    text = "Dzień dobry, czy zdążycie wysłać pralkę przed weekendem?"
    allegro_sandbox.buyer_writes("kupujacy_marek", text, order_id="5c3f0a2e-1111-4bbb-9ccc-0123456789ab")

    # The inbox list polls; the worker's sync (beat, every second) brings the message in.
    row = page.locator("#conversation-list li.row", has_text="kupujacy_marek")
    expect(row).to_be_visible(timeout=30_000)
    expect(row).to_have_class(re.compile("unread"))
    row.locator("a").click()
    expect(page.locator("#message-thread")).to_contain_text(text)
    expect(page).to_have_url(re.compile(r"/c/\d+/"))

    reply = "Tak, pralka wyjedzie jutro rano kurierem."
    page.fill("#reply-form textarea", reply)
    page.keyboard.press("Control+Enter")
    outbound = page.locator("article.message.out", has_text=reply)
    expect(outbound).to_be_visible()
    # pending → delivered, without reloading the page.
    expect(outbound.locator(".delivery")).to_have_text(re.compile("Dostarczono"), timeout=30_000)

    deadline = time.monotonic() + 10
    while not [s for s in allegro_sandbox.sent() if s["text"] == reply] and time.monotonic() < deadline:
        time.sleep(0.2)
    sent = [s for s in allegro_sandbox.sent() if s["text"] == reply]
    assert len(sent) == 1
    # The conversation no longer waits: it left the "awaiting reply" list.
    page.goto(f"{live_server.url}/?filter=awaiting")
    expect(page.locator("#conversation-list")).not_to_contain_text("kupujacy_marek")


def test_assign_and_close_without_reloading(page, live_server, workspace, allegro_sandbox, celery_stack):
    login(page, live_server.url, "agentka")
    allegro_sandbox.buyer_writes("pani_zofia", "Czy jest wersja w kolorze czarnym?")
    row = page.locator("#conversation-list li.row", has_text="pani_zofia")
    expect(row).to_be_visible(timeout=30_000)
    row.locator("a").click()
    page.evaluate("window.__marker = 'still-here'")
    page.click("button.assign-me")
    expect(page.locator(".assign-form select")).to_have_value(str(workspace[1].pk))
    page.click("button.close")
    expect(page.locator("[data-status]")).to_have_attribute("data-status", "closed")
    page.click("button.reopen")
    expect(page.locator("[data-status]")).to_have_attribute("data-status", "open")
    assert page.evaluate("window.__marker") == "still-here"  # no full-page reload happened
