"""Discussions and claims in the browser: answer a discussion, accept a claim with a partial refund."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_agent_answers_a_discussion_and_accepts_a_claim(
    page,
    live_server,
    workspace,
    allegro_sandbox,
    celery_stack,
):
    dispute = allegro_sandbox.issue_open(
        "kupujacy_tomek", "DISPUTE", text="Paczka nie dotarła od tygodnia.", reason="NO_PRODUCT_RECEIVED"
    )
    claim = allegro_sandbox.issue_open(
        "kupujaca_ewa",
        "CLAIM",
        text="Ekspres przecieka po tygodniu.",
        reason="DEFECT_FOUND_DURING_USE",
        right="COMPLAINT",
        expectations=[{"name": "PARTIAL_REFUND", "refund": {"amount": "150.00", "currency": "PLN"}}],
    )
    login(page, live_server.url, "agentka")

    # The discussion: filtered by type, its timeline shown, answered from the conversation view.
    page.goto(f"{live_server.url}/?filter=all&kind=discussion")
    row = page.locator("#conversation-list li.row", has_text="kupujacy_tomek")
    expect(row).to_be_visible(timeout=30_000)
    row.locator("a").click()
    expect(page.locator(".case-panel")).to_contain_text("Dyskusja w toku")
    expect(page.locator(".timeline")).to_contain_text("kupujący może oznaczyć")
    page.fill("#reply-form textarea", "Przesyłka została nadana ponownie, numer 6230001.")
    page.click("#reply-form button[type=submit]")
    outbound = page.locator("article.message.out", has_text="nadana ponownie")
    expect(outbound.locator(".delivery")).to_have_text(re.compile("Dostarczono"), timeout=30_000)
    assert [s["issueId"] for s in allegro_sandbox.sent(kind="issueMessage")] == [dispute["id"]]

    # The claim: accepted with a partial refund.
    page.goto(f"{live_server.url}/?filter=all&kind=claim&state=in_progress")
    row = page.locator("#conversation-list li.row", has_text="kupujaca_ewa")
    expect(row).to_be_visible(timeout=30_000)
    row.locator("a").click()
    expect(page.locator(".case-panel .expectations")).to_contain_text("150.00")
    expect(page.locator(".case-panel .decision-due")).to_be_visible()
    page.select_option("#claim-decision select[name=status]", "ACCEPTED_PARTIAL_REFUND")
    page.fill("#claim-decision input[name=amount]", "150,00")
    page.fill("#claim-decision textarea[name=message]", "Uznajemy reklamację i zwracamy 150 zł.")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#claim-decision button[type=submit]")
    expect(page.locator(".case-state")).to_have_attribute("data-state", "CLAIM_ACCEPTED", timeout=20_000)
    decision = allegro_sandbox.sent(kind="claimStatus")
    assert [(d["issueId"], d["status"]) for d in decision] == [(claim["id"], "ACCEPTED_PARTIAL_REFUND")]
