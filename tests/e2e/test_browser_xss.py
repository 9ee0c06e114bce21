"""Issue #9, hostile input: injection vectors in buyer messages, subjects and logins are rendered
harmless in every page that shows them — checked in the browser (no script runs), not only in HTML."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from integrations import services
from tests.e2e.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.slow]

VECTORS = [
    "<script>window.__pwned = 'script'</script>",
    "<img src=x onerror=\"window.__pwned='img'\">",
    "<svg onload=\"window.__pwned='svg'\"></svg>",
    "<a href=\"javascript:window.__pwned='href'\">klik</a>",
    "<iframe srcdoc=\"<script>parent.__pwned='iframe'</script>\"></iframe>",
    "<div style=\"background:url(javascript:window.__pwned='css')\">x</div>",
    "\"><script>window.__pwned='attr'</script>",
    "{{ 7*7 }} {% debug %}",
]


def test_injection_vectors_stay_text(page, live_server, workspace, allegro_sandbox):
    _org, _agent, account = workspace
    for i, vector in enumerate(VECTORS):
        allegro_sandbox.buyer_writes(f"kupujacy_{i}", f"Pytanie {i}: {vector}", subject=vector, type="MAIL")
    assert services.channel_account_sync(account.pk).ok
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    login(page, live_server.url, "agentka")
    page.goto(f"{live_server.url}/?filter=all")
    rows = page.locator("#conversation-list li.row")
    expect(rows).to_have_count(len(VECTORS))
    for i in range(len(VECTORS)):
        rows.nth(i).locator("a").click()
        expect(page.locator("#message-thread")).to_contain_text("Pytanie")
    text = page.locator("#message-thread").inner_text()
    assert "<" in text  # shown literally, as the buyer typed it
    assert page.evaluate("window.__pwned") is None
    assert dialogs == []
    for region in ("#message-thread", "#conversation-list", "#conversation-header"):
        assert page.locator(f"{region} script, {region} iframe, {region} svg, {region} img").count() == 0
