"""Our own Polish samples (fixtures/*.eml), written the way the clients really write them.

Each row pins the classification, the exact extracted reply, the decoded subject and the threading
headers. The shop is "Elektro-Max" (kontakt@elektro-max.pl); the Message-IDs of the mail we send
end in @replydesk.elektro-max.pl.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from integrations.email.html_text import html_to_text
from integrations.email.parsing import (
    EmailKind,
    ParsedEmail,
    extract_reply,
    normalize_subject,
    parse_allegro_masked_address,
    parse_email,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures"
OWN_DOMAINS = ("elektro-max.pl",)
OWN_MESSAGE_ID_DOMAIN = "replydesk.elektro-max.pl"


def ours(local: str) -> str:
    return f"{local}@{OWN_MESSAGE_ID_DOMAIN}"


@dataclass(frozen=True)
class Expected:
    kind: EmailKind
    from_email: str
    from_name: str
    subject: str
    text: str
    in_reply_to: str = ""
    references: list[str] = field(default_factory=list)
    attachments: list[str] = field(default_factory=list)  # filenames
    problems: list[str] = field(default_factory=list)


SAMPLES: dict[str, Expected] = {
    "gmail_pl_reply.eml": Expected(
        kind=EmailKind.HUMAN,
        from_email="anna.nowak.1987@gmail.com",
        from_name="Anna Nowak",
        subject="Re: Zamówienie nr 8812 – pytanie o termin wysyłki",
        text=(
            "Dzień dobry,\n\ndziękuję za szybką odpowiedź. Czy mogę jeszcze zmienić adres dostawy na\n"
            "paczkomat WAW123M? Wolałabym odebrać przesyłkę po pracy.\n\nPozdrawiam\nAnna Nowak"
        ),
        in_reply_to=ours("20260309130301.4f2a9c"),
        references=[ours("20260309130301.4f2a9c")],
    ),
    "thunderbird_pl_reply.eml": Expected(
        kind=EmailKind.HUMAN,
        from_email="t.wisniewski@o2.pl",
        from_name="Tomasz Wiśniewski",
        subject="Re: Reklamacja - czajnik elektryczny KE-200",
        # bottom-posted below the quote; format=flowed soft breaks joined; "-- " signature cut
        text=(
            "Dzień dobry,\n\nw załączniku przesyłam zdjęcie tabliczki. Numer zamówienia to 8790. "
            "Czajnik przestał grzać po dwóch tygodniach używania."
        ),
        in_reply_to=ours("20260309160512.77ab01"),
        references=[ours("20260309160512.77ab01")],
        attachments=["tabliczka_znamionowa.jpg"],
    ),
    "outlook_pl_reply.eml": Expected(
        kind=EmailKind.HUMAN,
        from_email="biuro@remonty-kowalczyk.pl",
        from_name="Krzysztof Kowalczyk",
        subject="RE: Faktura VAT do zamówienia 8801",
        text=(
            "Dzień dobry,\n\nproszę o wystawienie faktury na firmę:\nUsługi Remontowe Kowalczyk Sp. z o.o.\n"
            "ul. Żelazna 12, 00-851 Warszawa\nNIP 525-000-12-34\n\nZ poważaniem\nKrzysztof Kowalczyk"
        ),
        in_reply_to=ours("20260309102011.1e2f3a"),
        references=[ours("20260309102011.1e2f3a")],
    ),
    "wp_pl_reply.eml": Expected(
        kind=EmailKind.HUMAN,
        from_email="marek.zielinski77@wp.pl",
        from_name="Marek Zieliński",
        subject="Re: Zamówienie nr 8795 zostało wysłane",
        text="Dzień dobry,\npaczka dotarła, ale brakuje ładowarki w zestawie. Proszę o dosłanie.\n\nMarek",
        in_reply_to=ours("20260308172211.aa01bc"),
        references=[ours("20260308172211.aa01bc")],
    ),
    "onet_reply.eml": Expected(
        kind=EmailKind.HUMAN,
        from_email="kasia.wojcik@onet.pl",
        from_name="Katarzyna Wójcik",
        subject="Re: Odkurzacz OD-500 – dostępne kolory",
        text=(
            "Witam,\nczy produkt jest jeszcze dostępny w kolorze czarnym? Jeśli tak, to zamawiam 2 sztuki."
            "\n\nPozdrawiam, Katarzyna"
        ),
        in_reply_to=ours("20260309094501.cd34ef"),
        references=[ours("20260309094501.cd34ef")],
    ),
    "interia_reply.eml": Expected(
        kind=EmailKind.HUMAN,
        from_email="piotr.lewandowski@interia.pl",
        from_name="Piotr Lewandowski",
        subject="Re: Zwrot towaru - zamówienie 8777",
        text=(
            "Dzień dobry,\n\nzwrot nadałem dziś w paczkomacie. Kod nadania: 845 221 963.\n"
            "Proszę o zwrot pieniędzy na konto.\n\nPiotr Lewandowski"
        ),
        in_reply_to=ours("20260309100533.e1f2a3"),
        references=[ours("20260309100533.e1f2a3")],
    ),
    "iphone_pl_reply.eml": Expected(
        kind=EmailKind.HUMAN,
        from_email="michal.kaminski@icloud.com",
        from_name="Michał Kamiński",
        subject="Re: Zamówienie nr 8815 - potwierdzenie",
        text="Super, dziękuję! Czekam na przesyłkę.",
        in_reply_to=ours("20260309183011.91cd22"),
        references=[ours("20260309183011.91cd22")],
    ),
    "apple_mail_pl_reply.eml": Expected(
        kind=EmailKind.HUMAN,
        from_email="ewa.dabrowska@gmail.com",
        from_name="Ewa Dąbrowska",
        subject="Re: Odbiór osobisty",
        text="Dzień dobry,\nodbiór osobisty w piątek po 16:00 mi pasuje.\n\nEwa Dąbrowska",
        in_reply_to=ours("20260309140301.0a1b2c"),
        references=[ours("20260309140301.0a1b2c")],
    ),
    "gmail_pl_forward.eml": Expected(
        kind=EmailKind.HUMAN,
        from_email="robert.szymanski@gmail.com",
        from_name="Robert Szymański",
        subject="Fwd: Kupiłeś: Czajnik elektryczny KE-200",
        text="Przesyłam potwierdzenie zakupu, proszę o fakturę na dane z zamówienia.",
    ),
    "allegro_masked_buyer.eml": Expected(
        kind=EmailKind.HUMAN,
        from_email="8awgqyk6a5+cub31c122@allegromail.pl",
        from_name="Jan Kowalski",
        subject="Re: Pytanie o zamówienie – Czajnik elektryczny KE-200",
        # HTML-only: <blockquote type="cite"> becomes "> " lines and is dropped with its attribution
        text="Dzień dobry, kiedy wyślecie paczkę? Zapłaciłem wczoraj przez Allegro Pay.\nJan",
        in_reply_to=ours("20260309110000.b7c8d9"),
        references=[ours("20260309110000.b7c8d9")],
    ),
    "human_mentions_absence.eml": Expected(
        # absence words, an "absence" subject and X-Auto-Response-Suppress: still a human
        kind=EmailKind.HUMAN,
        from_email="agnieszka.krol@o2.pl",
        from_name="Agnieszka Król",
        subject="Nieobecność w domu – dostawa kurierem",
        # "Od: 8:00 Do: 12:00" mid-text is not an Outlook header block
        text=(
            "Dzień dobry,\n\nbędę nieobecna w domu do piątku, wracam w sobotę. Czy kurier może\n"
            "przyjechać w sobotę rano? Od: 8:00 Do: 12:00 jestem na miejscu.\n\nAgnieszka Król"
        ),
    ),
    "ooo_autoreply_pl.eml": Expected(
        kind=EmailKind.AUTO_REPLY,
        from_email="j.mazur@hurtownia-agd.pl",
        from_name="Joanna Mazur",
        subject="Automatyczna odpowiedź: Zamówienie hurtowe - zapytanie",
        text=(
            "Dzień dobry,\n\njestem na urlopie do 20 marca 2026 r. i mam ograniczony dostęp do poczty.\n"
            "W pilnych sprawach proszę kontaktować się z działem handlowym: handel@hurtownia-agd.pl, "
            "tel. 22 123 45 67.\n\nZ poważaniem\nJoanna Mazur\nHurtownia AGD Sp. z o.o."
        ),
        in_reply_to=ours("20260310075955.0c1d2e"),
        references=[ours("20260310075955.0c1d2e")],
    ),
    "dsn_bounce_bare_hash.eml": Expected(
        kind=EmailKind.BOUNCE,  # a bounce even though our own MTA sent it (bounce > own_loop)
        from_email="mailer-daemon@mx1.elektro-max.pl",
        from_name="Mail Delivery System",
        subject="Undelivered Mail Returned to Sender",
        text=(
            "This is the mail system at host mx1.elektro-max.pl.\n\n"
            "I'm sorry to have to inform you that your message could not\n"
            "be delivered to one or more recipients. It's attached below.\n\n"
            "For further assistance, please send mail to postmaster.\n\n"
            "If you do so, please include this problem report. You can\n"
            "delete your own text from the attached returned message.\n\n"
            "                   The mail system\n\n"
            "<8awgqyk6a5@allegromail.pl>: host mx.allegromail.pl[91.207.14.10] said: 550\n"
            "    5.1.1 <8awgqyk6a5@allegromail.pl>: Recipient address rejected: User unknown\n"
            "    in virtual mailbox table (in reply to RCPT TO command)"
        ),
    ),
    "newsletter_pl.eml": Expected(
        kind=EmailKind.BULK,
        from_email="newsletter@hurtownia-agd.pl",
        from_name="Hurtownia AGD",
        subject="Wiosenna wyprzedaż AGD – do -40%!",
        text=(
            "Wiosenna wyprzedaż AGD – do -40%!\n\nSprawdź nowe ceny czajników, odkurzaczy i ekspresów:\n"
            "https://hurtownia-agd.pl/promocje?utm_source=newsletter&utm_campaign=wiosna2026\n\n"
            "Nie chcesz otrzymywać newslettera? Wypisz się: https://hurtownia-agd.pl/wypisz/3f9a2c"
        ),
    ),
    "own_loop_autoack.eml": Expected(
        kind=EmailKind.OWN_LOOP,
        from_email="kontakt@elektro-max.pl",
        from_name="Sklep Elektro-Max",
        subject="Otrzymaliśmy Twoją wiadomość",
        text=(
            "Dzień dobry,\n\notrzymaliśmy Twoją wiadomość i odpowiemy najpóźniej w ciągu 1 dnia roboczego."
            "\n\nZespół Elektro-Max"
        ),
        in_reply_to="20260311105955.aaa111@elektro-max.pl",
    ),
}


def parse_fixture(name: str) -> ParsedEmail:
    return parse_email(
        (FIXTURES / name).read_bytes(), own_domains=OWN_DOMAINS, own_message_id_domain=OWN_MESSAGE_ID_DOMAIN
    )


def test_every_fixture_has_an_expectation() -> None:
    assert sorted(p.name for p in FIXTURES.glob("*.eml")) == sorted(SAMPLES)


@pytest.mark.parametrize(("name", "expected"), SAMPLES.items(), ids=list(SAMPLES))
def test_polish_sample(name: str, expected: Expected) -> None:
    email = parse_fixture(name)

    assert email.kind == expected.kind, email.reasons
    assert email.text == expected.text
    assert email.subject == expected.subject
    assert email.from_email == expected.from_email
    assert email.from_name == expected.from_name
    assert email.in_reply_to == expected.in_reply_to
    assert email.references == expected.references
    assert [
        a.filename for a in email.attachments if a.content_type != "message/rfc822"
    ] == expected.attachments
    assert email.problems == expected.problems
    assert email.message_id
    assert email.date is not None
    assert email.date.tzinfo is not None
    assert email.raw == (FIXTURES / name).read_bytes()


@pytest.mark.parametrize(
    ("name", "automatic"),
    [(name, expected.kind != EmailKind.HUMAN) for name, expected in SAMPLES.items()],
    ids=list(SAMPLES),
)
def test_flags_agree_with_kind(name: str, automatic: bool) -> None:
    email = parse_fixture(name)
    assert email.is_automatic is automatic
    assert email.is_bounce is (email.kind == EmailKind.BOUNCE)
    if email.kind == EmailKind.AUTO_REPLY:
        assert email.is_auto_reply
    if email.kind == EmailKind.BULK:
        assert email.is_bulk and not email.is_auto_reply


def test_gmail_reply_has_sanitised_html_with_the_quote() -> None:
    email = parse_fixture("gmail_pl_reply.eml")
    assert email.html.startswith("<div")
    assert "<blockquote" in email.html
    assert 'style="' not in email.html
    # the HTML alternative leads to the same reply when the text part is missing
    assert extract_reply(html_to_text(email.html)) == SAMPLES["gmail_pl_reply.eml"].text.replace(
        "dostawy na\npaczkomat", "dostawy na paczkomat"
    )


def test_outlook_html_header_block_is_cut_too() -> None:
    email = parse_fixture("outlook_pl_reply.eml")
    assert "Wysłano:" in html_to_text(email.html)
    assert extract_reply(html_to_text(email.html)) == SAMPLES["outlook_pl_reply.eml"].text


def test_outlook_iso_8859_2_decodes_polish_letters() -> None:
    email = parse_fixture("outlook_pl_reply.eml")
    assert "ul. Żelazna 12" in email.full_text
    assert "Wysłano: poniedziałek, 9 marca 2026 11:20" in email.full_text


def test_thunderbird_attachment_is_kept_with_its_bytes() -> None:
    (attachment,) = parse_fixture("thunderbird_pl_reply.eml").attachments
    assert attachment.content_type == "image/jpeg"
    assert attachment.payload.startswith(b"\xff\xd8\xff") and attachment.payload.endswith(b"\xff\xd9")
    assert attachment.size == len(attachment.payload)
    assert not attachment.is_inline


def test_thunderbird_full_text_is_unflowed_and_keeps_the_quote() -> None:
    email = parse_fixture("thunderbird_pl_reply.eml")
    assert email.full_text.startswith("W dniu 9.03.2026 o 16:05, Sklep Elektro-Max pisze:\n> Dzień dobry,")
    assert "> prosimy o przesłanie zdjęcia tabliczki znamionowej czajnika oraz numeru zamówienia." in (
        email.full_text
    )
    assert email.full_text.endswith("-- \nTomasz Wiśniewski\ntel. 601 234 567")


def test_dsn_names_our_bounced_message() -> None:
    email = parse_fixture("dsn_bounce_bare_hash.eml")
    assert email.bounced_message_ids == [ours("20260310091540.3c4d5e")]
    assert email.auto_submitted == "auto-replied"
    assert email.is_auto_reply  # Auto-Submitted is there too; the kind says bounce
    assert "delivery status notification (failed)" in email.reasons


def test_masked_allegro_buyer_address() -> None:
    email = parse_fixture("allegro_masked_buyer.eml")
    masked = parse_allegro_masked_address(email.from_email)
    assert masked is not None
    assert (masked.buyer_hash, masked.transaction_id, masked.domain) == (
        "8awgqyk6a5",
        "cub31c122",
        "allegromail.pl",
    )
    assert email.html  # HTML-only: sanitised, no <script>, <title> or <head>
    assert "<title>" not in email.html
    assert email.full_text.startswith("Dzień dobry, kiedy wyślecie paczkę?")


def test_newsletter_html_is_sanitised() -> None:
    email = parse_fixture("newsletter_pl.eml")
    assert "<script" not in email.html
    assert "track()" not in email.html
    assert 'href="https://hurtownia-agd.pl/wypisz/3f9a2c"' in email.html
    assert "list-unsubscribe" in email.headers


def test_own_loop_is_recognised_by_each_signal_alone() -> None:
    raw = (FIXTURES / "own_loop_autoack.eml").read_bytes()
    assert parse_email(raw).kind == EmailKind.OWN_LOOP  # X-Replydesk-Id alone
    without_header = raw.replace(b"X-Replydesk-Id: msg_01HZY0A1B2\n", b"")
    assert parse_email(without_header).kind == EmailKind.AUTO_REPLY
    assert parse_email(without_header, own_domains=["Elektro-Max.pl"]).kind == EmailKind.OWN_LOOP
    assert (
        parse_email(without_header, own_message_id_domain="replydesk.elektro-max.pl").kind
        == EmailKind.OWN_LOOP
    )


def test_dates_are_aware() -> None:
    email = parse_fixture("ooo_autoreply_pl.eml")
    assert email.date == datetime(2026, 3, 10, 8, 0, 12, tzinfo=UTC)


def test_thread_ids_and_normalised_subjects() -> None:
    email = parse_fixture("gmail_pl_reply.eml")
    assert email.thread_ids == [ours("20260309130301.4f2a9c")]
    assert normalize_subject(email.subject) == "zamówienie nr 8812 – pytanie o termin wysyłki"
    assert (
        normalize_subject(parse_fixture("outlook_pl_reply.eml").subject) == "faktura vat do zamówienia 8801"
    )
