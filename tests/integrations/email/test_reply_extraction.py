"""extract_reply, html_to_text and normalize_subject on their own (body-only text, no MIME)."""

from __future__ import annotations

import time

import pytest

from integrations.email.html_text import html_to_text
from integrations.email.parsing import extract_reply, normalize_subject

REPLY = "Dziękuję, paczka dotarła w całości.\n\nPozdrawiam\nJan"


@pytest.mark.parametrize(
    "history",
    [
        # Gmail, old Polish UI, attribution wrapped by Gmail at 76 characters
        "W dniu 9 marca 2026 14:03 użytkownik Sklep Elektro-Max <kontakt@elektro-max.pl>\nnapisał:\n\n"
        "> Dzień dobry",
        # Gmail, current Polish UI
        "pon., 9 mar 2026 o 14:03 Sklep Elektro-Max <kontakt@elektro-max.pl> napisał(a):\n\n> Dzień dobry",
        # Gmail, English, wrapped inside the address
        "On Mon, Mar 9, 2026 at 2:03 PM Sklep Elektro-Max <\nkontakt@elektro-max.pl> wrote:\n\n> Hello",
        # Gmail, German
        "Am Mo., 9. März 2026 um 14:03 Uhr schrieb Sklep Elektro-Max <\nkontakt@elektro-max.pl>:\n\n> Hallo",
        # Thunderbird, Polish
        "W dniu 9.03.2026 o 14:03, Sklep Elektro-Max pisze:\n> Dzień dobry",
        # Thunderbird, older Polish
        "Dnia 2026-03-09, o godz. 14:03:06\nSklep Elektro-Max <kontakt@elektro-max.pl> napisał(a):\n"
        "> Dzień dobry",
        # Evolution, Polish (with the ratio sign Evolution uses in times)
        "W dniu pon, 09.03.2026 o godzinie 14∶03 +0100, użytkownik Sklep Elektro-Max\nnapisał:\n"
        "> Dzień dobry",
        # WP / Interia / iOS style
        "Dnia 9 marca 2026 14:03 Sklep Elektro-Max <kontakt@elektro-max.pl> napisał(a):\n\n> Dzień dobry",
        # Onet
        'Użytkownik "Sklep Elektro-Max" <kontakt@elektro-max.pl> napisał:\n> Dzień dobry',
        # Apple Mail, Polish, unquoted and quoted
        "Wiadomość napisana przez Sklep <kontakt@elektro-max.pl> w dniu 9 mar 2026, o godz. 14:03:\n\n"
        "> Dzień",
        "> Wiadomość napisana przez Sklep <kontakt@elektro-max.pl> w dniu 9 mar 2026, o godz. 14:03:\n>\n"
        "> Dzień",
        # Outlook blocks in three languages (with and without a rule line above)
        "Od: Sklep Elektro-Max <kontakt@elektro-max.pl>\nWysłano: poniedziałek, 9 marca 2026 14:03\n"
        "Do: Jan <jan@example.pl>\nTemat: Zamówienie 8812\n\nDzień dobry",
        "________________________________\nOd: Sklep Elektro-Max <kontakt@elektro-max.pl>\n"
        "Wysłane: poniedziałek, 9 marca 2026 14:03\nDo: Jan\nDW: biuro@example.pl\nTemat: RE: Zamówienie",
        "From: Shop <shop@example.com>\nSent: Monday, March 9, 2026 2:03 PM\nTo: Jan\nSubject: Order\n\n"
        "Hello",
        "Von: Shop <shop@example.com>\nGesendet: Montag, 9. März 2026 14:03\nAn: Jan\nBetreff: Bestellung",
        "*From:* Shop [mailto:shop@example.com]\n*Sent:* Monday, March 9, 2026 2:03 PM\n*To:* Jan\n"
        "*Subject:* X",
        # separators
        "-----Original Message-----\nFrom: shop@example.com\nhello",
        "-----Wiadomość oryginalna-----\nOd: kontakt@elektro-max.pl\nDzień dobry",
        "---------- Forwarded message ---------\nOd: Allegro <powiadomienia@allegro.pl>\nKupiłeś: czajnik",
        "---------- Wiadomość przekazana dalej ---------\nOd: Allegro <powiadomienia@allegro.pl>",
        "Początek przekazanej wiadomości:\n\nOd: Allegro <powiadomienia@allegro.pl>",
        # signatures
        "-- \nJan Kowalski\ntel. 601 234 567",
        "Wysłane z iPhone'a",
        "Wysłano z aplikacji Poczta dla systemu Windows",
        "Wysłane z mojego smartfona Galaxy",
        "Pobierz Outlook dla Android",
        "Sent from my iPhone",
        "Von meinem iPhone gesendet",
    ],
)
def test_history_and_signatures_are_cut(history: str) -> None:
    assert extract_reply(f"{REPLY}\n\n{history}\n") == REPLY


@pytest.mark.parametrize(
    "text",
    [
        # words that look like header keys, mid-text
        "Dzień dobry,\nFrom: my side everything is fine.\nTo: be honest, it arrived late.\nThanks",
        "Proszę o kuriera.\nOd: poniedziałku do piątku jestem w pracy.\nDo: 16:00 nikt nie odbierze.",
        "Adres do wysyłki:\nOd: Jan Kowalski\nDo: Sklep\nTemat: reklamacja czajnika",
        # "wrote" without a credible attribution
        "As my colleague wrote:\nthe parcel was damaged.",
        # "Wysłano z" / "Sent via" that are not signatures
        "Dzień dobry,\n\nWysłano z magazynu w poniedziałek.\n\nPozdrawiam",
        "Hi,\n\nSent via DHL yesterday, tracking 123.\n\nBest",
        # a dash-dash inside a line
        "Cena -- 120 zł -- jest OK.",
    ],
)
def test_genuine_replies_are_not_cut(text: str) -> None:
    assert extract_reply(text) == text


def test_inline_answers_between_quotes_are_kept() -> None:
    text = "W dniu 9.03.2026 o 14:03, Sklep Elektro-Max pisze:\n> Jaki kolor?\nCzarny.\n> Ile sztuk?\nDwie.\n"
    assert extract_reply(text) == "Czarny.\nDwie."


def test_quoted_attribution_without_quote_marker_cuts_only_with_credible_header() -> None:
    assert (
        extract_reply("Tak.\n\nJan napisał:\nniecytowana treść") == "Tak.\n\nJan napisał:\nniecytowana treść"
    )
    assert extract_reply("Tak.\n\nJan <jan@x.pl> napisał:\n> cytat") == "Tak."


@pytest.mark.parametrize(
    "line_above",
    ["Nie, nie chcę zwracać.", "2 sztuki proszę.", "Wed, did you ship it?", "Pon. nie pasuje."],
)
def test_the_line_above_an_attribution_is_not_swallowed(line_above: str) -> None:
    text = f"{line_above}\nJan Kowalski <jan@example.pl> napisał:\n> pytanie"
    assert extract_reply(text) == line_above


def test_horde_attribution() -> None:
    assert extract_reply("Tak.\n\nCytowanie Jan Kowalski <jan@example.pl>:\n\n> pytanie") == "Tak."


def test_crlf_and_empty_input() -> None:
    assert extract_reply("") == ""
    assert extract_reply("Hej\r\n\r\n> cytat\r\n") == "Hej"
    assert extract_reply("> tylko cytat\n> nic więcej") == ""


def test_bullets_and_indentation_are_kept() -> None:
    text = "Zamawiam:\n\n   - czajnik\n   - toster\n\n\nDzięki"
    assert extract_reply(text) == text


def test_long_inputs_stay_linear() -> None:
    lines = ["Zwykła linia tekstu, bez cytatu, z dwukropkiem na końcu:"] * 50_000
    text = "\n".join(lines)
    start = time.perf_counter()
    assert extract_reply(text) == text
    huge_line = "a" * 2_000_000 + " wrote:"
    assert extract_reply(huge_line) == huge_line
    assert time.perf_counter() - start < 5


# -- html_to_text ----------------------------------------------------------------------------------
def test_html_to_text_basics() -> None:
    html = (
        "<html><head><title>t</title><style>p{color:red}</style></head><body>"
        "<p>Dzień&nbsp;dobry,</p><p>zamawiam <b>2</b> sztuki&hellip;<br>Jan</p>"
        "<ul><li>czajnik</li><li>toster</li></ul><script>alert(1)</script>"
        "<table><tr><td>a</td><td>b</td></tr></table><pre>  kod\n  wcięty</pre></body></html>"
    )
    assert html_to_text(html) == (
        "Dzień dobry,\n\nzamawiam 2 sztuki…\nJan\n\n- czajnik\n- toster\na b\n\n  kod\n  wcięty"
    )


def test_html_blockquote_becomes_quoted_lines() -> None:
    html = (
        "<div>Tak</div><div>W dniu 9.03.2026 o 14:03, Sklep pisze:</div>"
        "<blockquote>Pytanie<br>drugie</blockquote>"
    )
    assert html_to_text(html) == "Tak\nW dniu 9.03.2026 o 14:03, Sklep pisze:\n\n> Pytanie\n> drugie"
    assert extract_reply(html_to_text(html)) == "Tak"


@pytest.mark.parametrize(
    "html", ["<div><p>unclosed <b>bold", "</div></p>stray", "<script>never closed", "<<>>&#xZZ;&bogus;", ""]
)
def test_html_to_text_never_raises(html: str) -> None:
    assert isinstance(html_to_text(html), str)


# -- normalize_subject -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("subject", "normalized"),
    [
        ("Re: RE[2]: Odp: PD: Fwd:  Zamówienie   123", "zamówienie 123"),
        ("AW: WG: SV: TR: Antw: FW: Test", "test"),
        ("ODP: Re(3): Zwrot", "zwrot"),
        ("Odpowiedź w sprawie zwrotu", "odpowiedź w sprawie zwrotu"),
        ("Reklamacja", "reklamacja"),
        ("  ", ""),
        (None, ""),
    ],
)
def test_normalize_subject(subject: str | None, normalized: str) -> None:
    assert normalize_subject(subject) == normalized
