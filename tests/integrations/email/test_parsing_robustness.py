"""parse_email never raises, always keeps the raw bytes and reports what was wrong.

Hypothesis throws random bytes, mutated real samples (corpus + our fixtures) and randomly assembled
MIME messages at it. Hand-written cases cover the shapes fuzzing rarely reaches: huge headers, deep
nesting, invalid base64, a 5 MB body. Besides "no exception", every result must also be storable:
no NUL and no lone surrogates in any string field.
"""

from __future__ import annotations

import base64
import time
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integrations.email.parsing import EmailKind, ParsedEmail, parse_email

from .corpus import CORPUS_DIR

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SOURCES = sorted(FIXTURES.glob("*.eml")) + sorted(CORPUS_DIR.glob("*.eml"))
FUZZ = settings(
    max_examples=250,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

HEADER = (
    b"From: Jan Kowalski <jan@example.pl>\r\nTo: kontakt@elektro-max.pl\r\nSubject: test\r\n"
    b"Date: Mon, 9 Mar 2026 10:00:00 +0100\r\nMessage-ID: <robust@example.pl>\r\nMIME-Version: 1.0\r\n"
)


def assert_sane(email: ParsedEmail, raw: bytes) -> None:
    assert isinstance(email, ParsedEmail)
    assert email.raw == raw
    assert not any(p.startswith("internal parser error") for p in email.problems), email.problems
    assert email.kind in set(EmailKind)
    assert email.date is None or (isinstance(email.date, datetime) and email.date.tzinfo is not None)
    strings = [
        email.message_id,
        email.in_reply_to,
        email.from_email,
        email.from_name,
        email.reply_to,
        email.subject,
        email.text,
        email.full_text,
        email.html,
        email.auto_submitted,
        *email.references,
        *email.to,
        *email.cc,
        *email.bounced_message_ids,
        *email.headers.values(),
        *email.problems,
        *(a.filename for a in email.attachments),
        *(a.content_id for a in email.attachments),
    ]
    for value in strings:
        assert isinstance(value, str)
        assert "\x00" not in value
        value.encode("utf-8")  # no lone surrogates
    for attachment in email.attachments:
        assert attachment.size == len(attachment.payload)


def parse_and_check(raw: bytes) -> ParsedEmail:
    email = parse_email(
        raw, own_domains=("elektro-max.pl",), own_message_id_domain="replydesk.elektro-max.pl"
    )
    assert_sane(email, raw)
    return email


# -- fuzzing ---------------------------------------------------------------------------------------
@FUZZ
@given(st.binary(max_size=4096))
def test_random_bytes(raw: bytes) -> None:
    parse_and_check(raw)


_mutation = st.tuples(
    st.sampled_from(["delete", "insert", "duplicate", "flip", "truncate"]),
    st.floats(min_value=0, max_value=1, allow_nan=False),
    st.integers(min_value=1, max_value=400),
    st.binary(min_size=1, max_size=64),
)


def _mutate(data: bytes, mutations: list[tuple[str, float, int, bytes]]) -> bytes:
    for op, where, length, payload in mutations:
        pos = int(where * len(data))
        if op == "delete":
            data = data[:pos] + data[pos + length :]
        elif op == "insert":
            data = data[:pos] + payload + data[pos:]
        elif op == "duplicate":
            data = data[:pos] + data[pos : pos + length] * 3 + data[pos:]
        elif op == "flip":
            data = data[:pos] + bytes(b ^ 0xFF for b in data[pos : pos + min(length, 8)]) + data[pos + 8 :]
        else:
            data = data[:pos]
    return data


@FUZZ
@given(st.sampled_from(SOURCES), st.lists(_mutation, min_size=1, max_size=6))
def test_mutated_real_samples(source: Path, mutations: list) -> None:
    parse_and_check(_mutate(source.read_bytes(), mutations))


_header_names = st.sampled_from(
    [
        "From",
        "To",
        "Cc",
        "Reply-To",
        "Subject",
        "Date",
        "Message-ID",
        "In-Reply-To",
        "References",
        "Content-Type",
        "Content-Transfer-Encoding",
        "Content-Disposition",
        "Auto-Submitted",
        "Precedence",
        "List-Id",
        "X-Original-Sender",
        "X-Original-From",
        "Return-Path",
        "X-Replydesk-Id",
    ]
)
_header_values = st.one_of(
    st.text(max_size=120),
    st.sampled_from(
        [
            "=?utf-8?q?Zam=C3=B3wienie?=",
            "=?x-unknown?B?AAAA?=",
            "=?utf-8?b?!!!?=",
            "=?iso-8859-2?Q?=BFó=B3w?= <a@b.pl>",
            '"Jan, Kowalski" <jan@x.pl>, broken <, >>',
            "multipart/mixed; boundary=",
            'multipart/alternative; boundary="b1"',
            "text/plain; charset=unicode-1-1-utf-7",
            "text/plain; charset=big5",
            'text/html; charset="utf-8"; format=flowed; delsp=yes',
            "message/rfc822",
            "multipart/report; report-type=delivery-status; boundary=b1",
            "base64",
            "quoted-printable",
            "attachment; filename*=utf-8''%C5%BC%C3%B3%C5%82w.pdf",
            "Thu, 32 Foo 99999 25:61:61 +9999",
            "<>",
            "<a@b> <c@d",
        ]
    ),
)
_bodies = st.one_of(
    st.binary(max_size=2000),
    st.text(max_size=2000).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.sampled_from(
        [
            b"--b1\r\nContent-Type: text/plain\r\n\r\nczesc\r\n--b1\r\nContent-Type: text/html\r\n\r\n"
            b"<p>x\r\n",
            b"--b1\r\nContent-Type: message/delivery-status\r\n\r\nAction: failed\r\nStatus: 5.1.1\r\n--b1--",
            b"SGVsbG8=\r\n====\r\n!!!!",
            b"=C5=BC=\r\n=ZZ=\r\n",
        ]
    ),
)


@FUZZ
@given(st.lists(st.tuples(_header_names, _header_values), max_size=12), _bodies)
def test_random_mime_messages(headers: list[tuple[str, str]], body: bytes) -> None:
    head = "".join(f"{name}: {value}\r\n" for name, value in headers)
    raw = head.encode("utf-8", "surrogatepass") + b"\r\n" + body
    parse_and_check(raw)


# -- hand-written edge cases -------------------------------------------------------------------------
def test_empty_and_non_bytes_input() -> None:
    email = parse_and_check(b"")
    assert "empty message" in email.problems
    assert "missing From header" in email.problems
    str_input = parse_email("From: jan@example.pl\n\nhej")  # type: ignore[arg-type]
    assert str_input.full_text == "hej"
    assert "raw message given as str, encoded as UTF-8" in str_input.problems
    none_input = parse_email(None)  # type: ignore[arg-type]
    assert none_input.raw == b""
    assert none_input.problems


def test_missing_from_and_bad_date_are_reported() -> None:
    raw = b"To: kontakt@elektro-max.pl\r\nDate: yesterday-ish\r\nSubject: x\r\n\r\nhej"
    email = parse_and_check(raw)
    assert "missing From header" in email.problems
    assert any(p.startswith("unparseable Date header") for p in email.problems)
    assert "missing Message-ID header" in email.problems
    assert email.date is None
    assert email.from_email == ""


def test_huge_headers() -> None:
    raw = (
        HEADER.replace(b"Subject: test", b"Subject: " + b"=?utf-8?q?=C5=BC?= " * 100_000)
        + b"To: "
        + b", ".join(f"odbiorca{i}@example.pl".encode() for i in range(30_000))
        + b"\r\nReferences: "
        + b" ".join(f"<{i}@example.pl>".encode() for i in range(20_000))
        + b"\r\nX-Junk: "
        + b"x" * 1_000_000
        + b"\r\n\r\nhej"
    )
    start = time.perf_counter()
    email = parse_and_check(raw)
    assert time.perf_counter() - start < 5
    assert any(p.startswith("subject header longer than") for p in email.problems)
    assert email.subject.startswith("żżż")
    assert len(email.references) == 500  # the newest ones are kept
    assert email.references[-1] == "19999@example.pl"
    assert email.text == "hej"


def _nested(depth: int) -> bytes:
    body = b"Content-Type: text/plain\r\n\r\nnajglebiej\r\n"
    for level in range(depth):
        boundary = f"b{level}".encode()
        body = (
            b"Content-Type: multipart/mixed; boundary="
            + boundary
            + b"\r\n\r\n--"
            + boundary
            + b"\r\n"
            + body
            + b"\r\n--"
            + boundary
            + b"--\r\n"
        )
    return HEADER + body


@pytest.mark.parametrize("depth", [10, 100, 3000])
def test_deeply_nested_multiparts(depth: int) -> None:
    email = parse_and_check(_nested(depth))
    if depth <= 30:
        assert email.text == "najglebiej"
        assert email.problems == []
    else:
        assert email.problems  # too deep for us (40) or for the stdlib parser (recursion)


def test_invalid_base64_is_reported_and_the_rest_kept() -> None:
    raw = (
        HEADER + b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n"
        + base64.b64encode("Zażółć gęślą jaźń".encode())
        + b"!!!*@@\r\n--b\r\nContent-Type: application/pdf; name=faktura.pdf\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK%%%\r\n--b--\r\n"
    )
    email = parse_and_check(raw)
    assert email.text == "Zażółć gęślą jaźń"
    assert any("InvalidBase64" in p for p in email.problems)
    (pdf,) = email.attachments
    assert pdf.filename == "faktura.pdf"
    assert pdf.payload.startswith(b"%PDF-1.4")


def test_five_megabyte_body() -> None:
    line = "Zażółć gęślą jaźń, to jest długa wiadomość od kupującego.\r\n".encode()
    raw = HEADER + b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + line * (5_000_000 // len(line))
    start = time.perf_counter()
    email = parse_and_check(raw)
    assert time.perf_counter() - start < 5
    assert len(email.full_text) > 4_000_000
    assert email.problems == []


def test_five_megabyte_html_body_is_converted_in_bounded_time() -> None:
    raw = (
        HEADER + b"Content-Type: text/html; charset=utf-8\r\n\r\n" + b"<p>Dzie\xc5\x84 dobry</p>\n" * 250_000
    )
    start = time.perf_counter()
    email = parse_and_check(raw)
    assert time.perf_counter() - start < 10
    assert email.text.startswith("Dzień dobry")
    assert any(p.startswith("HTML body longer than") for p in email.problems)


@pytest.mark.parametrize(
    ("content_type", "body", "expected_text", "problem"),
    [
        ("text/plain; charset=x-does-not-exist", "Zażółć".encode(), "Zażółć", "unknown charset"),
        ("text/plain; charset=big5", "Zażółć, zamówienie".encode(), "Zażółć, zamówienie", "is UTF-8"),
        (
            "text/plain",
            "Zażółć gęślą jaźń, zamówienie".encode("iso-8859-2"),
            "Zażółć gęślą jaźń, zamówienie",
            "no charset",
        ),
        (
            "text/plain; charset=utf-8",
            "Zażółć gęślą jaźń".encode("cp1250"),
            "Zażółć gęślą jaźń",
            "could not decode",
        ),
        (
            "text/plain; charset=iso-8859-2",
            "Świetnie, że się odezwali".encode("cp1250"),
            "Świetnie, że się odezwali",
            None,
        ),
        ("text/plain; charset=unicode-1-1-utf-7", b"Hi +AQU-", "Hi ą", None),
        ("text/plain; charset=rot13", b"Uryyb", "Uryyb", "unknown charset"),
    ],
)
def test_charset_fallbacks(content_type: str, body: bytes, expected_text: str, problem: str | None) -> None:
    raw = (
        HEADER
        + b"Content-Type: "
        + content_type.encode()
        + b"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        + body
    )
    email = parse_and_check(raw)
    assert email.full_text == expected_text
    if problem:
        assert any(problem in p for p in email.problems), email.problems
    else:
        assert email.problems == []


def test_raw_8bit_and_nul_bytes_in_headers() -> None:
    raw = (
        "From: Paweł Żółw <pawel@example.pl>\r\nTo: kontakt@elektro-max.pl\r\n"
        "Subject: Zamówienie\x00 8812\r\nMessage-ID: <a@b>\r\nDate: Mon, 9 Mar 2026 10:00:00 +0100\r\n\r\n"
        "hej\x00!"
    ).encode()
    email = parse_and_check(raw)
    assert email.from_name == "Paweł Żółw"
    assert email.subject == "Zamówienie 8812"
    assert email.full_text == "hej!"
    assert email.problems == []  # raw UTF-8 headers are RFC 6532; NUL is dropped silently


def test_bare_cr_line_endings_and_missing_boundary() -> None:
    raw = HEADER.replace(b"\r\n", b"\r") + b"Content-Type: multipart/mixed\r\rno boundary at all"
    email = parse_and_check(raw)
    assert email.problems
