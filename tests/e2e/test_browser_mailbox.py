"""A lead connects a mailbox in headless Chromium and the team answers a buyer's e-mail.

Real parts throughout: dovecot (IMAP) and aiosmtpd (SMTP) on loopback, a Celery worker and beat
(the mailbox is polled every second), the live server and Debian's Chromium. The buyer's side is
played by appending mail to the mailbox, as the buyer's provider would deliver it.
"""

from __future__ import annotations

import re
import time
import uuid
from email.utils import format_datetime, make_msgid

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from inbox.models import ChannelAccount, Conversation
from tests.e2e.conftest import ARTIFACTS, login
from tests.integrations.email.conftest import IMAP_PASSWORD, add_imap_user, mail_server
from tests.integrations.email.servers import Dovecot, SmtpServer

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _buyer_mail(
    *, to: str, subject: str, body: str, message_id: str, in_reply_to: str = "", extra: tuple[str, ...] = ()
) -> bytes:
    headers = [
        "From: Anna Nowak <anna.nowak@example.pl>",
        f"To: {to}",
        f"Subject: {subject}",
        f"Date: {format_datetime(timezone.now())}",
        f"Message-ID: {message_id}",
        *extra,
    ]
    if in_reply_to:
        headers += [f"In-Reply-To: {in_reply_to}", f"References: {in_reply_to}"]
    headers += [
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
    ]
    return ("\r\n".join(headers) + "\r\n\r\n" + body + "\r\n").encode()


@pytest.fixture
def mail_servers():
    if not Dovecot.available():
        pytest.fail("dovecot-imapd is not installed: run bin/ensure-test-system-deps", pytrace=False)
    imap = mail_server(users=2)
    smtp = SmtpServer().start()
    yield add_imap_user(imap), smtp
    smtp.stop()
    imap.destroy()


def test_a_lead_connects_a_mailbox_and_a_buyer_is_answered_in_the_same_thread(
    page, live_server, workspace, mail_servers, celery_stack
):
    imap_user, smtp = mail_servers
    login(page, live_server.url, "kierownik")

    # The lead adds the mailbox, checks the connection, saves.
    page.goto(f"{live_server.url}/mailboxes/new/")
    page.fill("input[name=name]", "Sklep — poczta")
    page.fill("input[name=from_email]", imap_user.login)
    page.fill("input[name=imap_host]", imap_user.server.host)
    page.fill("input[name=imap_port]", str(imap_user.server.port))
    page.select_option("select[name=imap_security]", "none")
    page.fill("input[name=imap_username]", imap_user.login)
    page.fill("input[name=imap_password]", IMAP_PASSWORD)
    page.fill("input[name=smtp_host]", smtp.host)
    page.fill("input[name=smtp_port]", str(smtp.port))
    page.select_option("select[name=smtp_security]", "none")
    page.click("#connection-test-button")
    expect(page.locator('#connection-test [data-protocol="IMAP"]')).to_have_attribute("data-ok", "1")
    expect(page.locator('#connection-test [data-protocol="SMTP"]')).to_have_attribute("data-ok", "1")
    page.click("button[type=submit].primary")
    expect(page).to_have_url(re.compile(r"/accounts/"))
    assert ChannelAccount.objects.get(kind="email").external_id == imap_user.login

    # A buyer writes; the worker's sync brings the mail into the inbox within a minute.
    question_id = make_msgid(domain="example.pl")
    imap_user.append(
        _buyer_mail(
            to=imap_user.login,
            subject="Pytanie o zamówienie 4711",
            body="Dzień dobry, kiedy wyślecie zamówienie 4711?\n\nAnna",
            message_id=question_id,
        )
    )
    started = time.monotonic()
    page.goto(f"{live_server.url}/")
    row = page.locator("#conversation-list li.row", has_text="Pytanie o zamówienie 4711")
    expect(row).to_be_visible(timeout=60_000)
    arrived_after = time.monotonic() - started
    assert arrived_after < 60
    expect(page.locator("#count-awaiting")).to_have_text("1")  # the counter came with the polled list
    row.locator("a").click()
    expect(page.locator("#message-thread")).to_contain_text("kiedy wyślecie zamówienie 4711?")

    # The lead answers; the reply leaves through the mailbox's SMTP server, threaded.
    reply = f"Wysyłamy jutro rano. ({uuid.uuid4().hex[:6]})"
    page.fill("#reply-form textarea", reply)
    page.keyboard.press("Control+Enter")
    outbound = page.locator("article.message.out", has_text=reply)
    expect(outbound.locator(".delivery")).to_have_text(re.compile("Dostarczono"), timeout=30_000)
    sent = [r for r in smtp.received if reply in r.message.get_body(("plain",)).get_content()]
    assert len(sent) == 1
    answer = sent[0].message
    assert sent[0].recipients == ["anna.nowak@example.pl"]
    assert answer["In-Reply-To"] == question_id
    assert question_id in answer["References"]
    conversation = Conversation.objects.get(kind="email")
    assert answer["Subject"] == f"Re: Pytanie o zamówienie 4711 [#RD-{conversation.pk}]"

    # The buyer answers the reply: the mail joins the same conversation, shown without a reload.
    imap_user.append(
        _buyer_mail(
            to=imap_user.login,
            subject=answer["Subject"],
            body="Dziękuję, czekam.\n\n> Wysyłamy jutro rano.",
            message_id=make_msgid(domain="example.pl"),
            in_reply_to=answer["Message-ID"],
        )
    )
    expect(page.locator("#message-thread")).to_contain_text("Dziękuję, czekam.", timeout=60_000)
    expect(page.locator("#message-thread .msg-subject")).to_have_count(0)  # "Re: <same> [#RD-n]": not shown
    assert Conversation.objects.filter(kind="email").count() == 1
    assert conversation.messages.count() == 3

    # Her mail system answers our next reply with an out-of-office: shown folded, opened on demand,
    # and still open after the thread's next refresh.
    imap_user.append(
        _buyer_mail(
            to=imap_user.login,
            subject="Autoodpowiedź: " + answer["Subject"],
            body="Jestem na urlopie do 10 grudnia.",
            message_id=make_msgid(domain="example.pl"),
            in_reply_to=answer["Message-ID"],
            extra=("Auto-Submitted: auto-replied",),
        )
    )
    folded = page.locator("#message-thread details.folded-body")
    expect(folded).to_have_count(1, timeout=60_000)
    expect(folded.locator("summary")).to_contain_text("Autoodpowiedź")
    expect(folded.locator(".text")).not_to_be_visible()
    folded.locator("summary").click()
    expect(folded.locator(".text")).to_be_visible()
    page.evaluate(
        "window.__swapped = false; document.body.addEventListener('htmx:afterSwap', e => {"
        " if (e.detail.target.id === 'message-thread') window.__swapped = true; })"
    )
    page.wait_for_function("window.__swapped", timeout=30_000)  # the thread polls every 15 s
    expect(page.locator("#message-thread details.folded-body")).to_have_attribute("open", "")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "mailbox-thread.png"), full_page=True)
