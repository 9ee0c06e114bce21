"""Small RFC 5322 mails for the channel tests (what a buyer's mail client would send)."""

from __future__ import annotations

import uuid
from datetime import datetime
from email.utils import format_datetime

from django.utils import timezone


def new_id(domain: str = "poczta.example.pl") -> str:
    return f"{uuid.uuid4().hex}@{domain}"


def mail(
    *,
    sender: str = "Anna Nowak <anna.nowak@example.pl>",
    to: str = "sklep@example.com",
    subject: str = "Pytanie o zamówienie 123",
    body: str = "Dzień dobry, kiedy wyślecie paczkę?\n\nAnna",
    message_id: str | None = "",
    in_reply_to: str = "",
    references: list[str] | tuple[str, ...] = (),
    date: datetime | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    """One plain-text UTF-8 mail. `message_id=None` leaves the header out; "" makes a fresh one."""
    lines = [
        f"From: {sender}",
        f"To: {to}",
        f"Subject: {subject}",
        f"Date: {format_datetime(date or timezone.now())}",
    ]
    if message_id is not None:
        lines.append(f"Message-ID: <{message_id or new_id()}>")
    if in_reply_to:
        lines.append(f"In-Reply-To: <{in_reply_to}>")
    if references:
        lines.append("References: " + " ".join(f"<{r}>" for r in references))
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    lines += [
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n" + body.replace("\n", "\r\n") + "\r\n").encode("utf-8")


def bounce(*, original: bytes, recipient: str, to: str = "sklep@example.com") -> bytes:
    """A Postfix-style DSN returning `original` (its headers attached as text/rfc822-headers)."""
    original_headers = original.split(b"\r\n\r\n", 1)[0].decode("utf-8")
    boundary = "BOUNDARY-" + uuid.uuid4().hex
    return (
        "Return-Path: <>\r\n"
        "From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\r\n"
        f"To: {to}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        f"Date: {format_datetime(timezone.now())}\r\n"
        f"Message-ID: <{new_id('mx.example.net')}>\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"\r\n'
        "\r\n"
        f"--{boundary}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        "This is the mail system at host mx.example.net.\r\n"
        "I'm sorry to have to inform you that your message could not be delivered.\r\n\r\n"
        f"--{boundary}\r\n"
        "Content-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.net\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\n"
        "Action: failed\r\n"
        "Status: 5.1.1\r\n"
        f"Diagnostic-Code: smtp; 550 5.1.1 <{recipient}>: Recipient address rejected: User unknown\r\n\r\n"
        f"--{boundary}\r\n"
        "Content-Type: text/rfc822-headers\r\n\r\n"
        f"{original_headers}\r\n\r\n"
        f"--{boundary}--\r\n"
    ).encode()
