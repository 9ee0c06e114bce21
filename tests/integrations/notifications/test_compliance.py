"""The compliance check over a labelled set of Polish and English texts (issue #7).

HOLD = the text only repeats a marketplace notification (payment / dispatch / tracking /
thank-you / invoice-by-mail); PASS = it tells the buyer something they need.
"""

from __future__ import annotations

import pytest

from integrations.notifications.compliance import check, normalize

HOLD = True
PASS = False

SAMPLES: list[tuple[str, bool]] = [
    # --- must be held: Polish -------------------------------------------------------------------
    ("Dziękujemy za zakup! Pozdrawiamy, Zespół Sklepu", HOLD),
    ("Dzień dobry, dziękujemy za złożenie zamówienia. Zamówienie zostało przyjęte.", HOLD),
    ("Twoja płatność została zaksięgowana. Dziękujemy!", HOLD),
    ("Otrzymaliśmy Twoją wpłatę za zamówienie nr 12345.", HOLD),
    ("Potwierdzamy otrzymanie płatności. Miłego dnia!", HOLD),
    ("Twoja paczka została wysłana. Pozdrawiamy", HOLD),
    ("Zamówienie zostało nadane, numer przesyłki: 6200123456789.", HOLD),
    ("Wysłaliśmy Twoją paczkę kurierem DPD.", HOLD),
    ("Przesyłka jest już w drodze do Ciebie!", HOLD),
    ("Możesz śledzić przesyłkę pod numerem 6200123456789.", HOLD),
    ("Sprawdź status swojej przesyłki na stronie przewoźnika.", HOLD),
    ("Twoja paczka czeka w paczkomacie WAW01M.", HOLD),
    ("Faktura została wysłana na Twój adres e-mail.", HOLD),
    ("Fakturę przesłaliśmy mailem, sprawdź skrzynkę pocztową.", HOLD),
    ("Witamy! Przekazaliśmy paczkę kurierowi. Numer listu przewozowego: 123456. Zapraszamy ponownie!", HOLD),
    ("Potwierdzenie zamówienia nr 998877. Dziękujemy za zaufanie.", HOLD),
    # --- must be held: English ------------------------------------------------------------------
    ("Thank you for your purchase! Best regards, the team", HOLD),
    ("Your order has been received and confirmed.", HOLD),
    ("We have received your payment. Have a nice day!", HOLD),
    ("Payment confirmed for order 4411.", HOLD),
    ("Good news: your parcel has been shipped.", HOLD),
    ("Your order is on its way! Tracking number: 1Z999AA10123456784.", HOLD),
    ("Track your parcel here: https://track.example/123", HOLD),
    ("Your package is ready for pickup at the locker.", HOLD),
    ("Your invoice has been emailed to your address. Thanks for shopping with us!", HOLD),
    ("Hi! Thanks for your order. We hope you enjoy it. Don't hesitate to contact us.", HOLD),
    # --- must pass: Polish ----------------------------------------------------------------------
    ("Zamówienie zostało spakowane – od tej chwili nie możemy już wprowadzać zmian w zamówieniu.", PASS),
    ("Dzień dobry, w załączniku przesyłamy fakturę VAT do zamówienia 12345.", PASS),
    (
        "Zwroty i wymiany: masz 14 dni na odstąpienie od umowy, adres zwrotu: ul. Polna 1, 00-001 Warszawa.",
        PASS,
    ),
    ("Otrzymaliśmy Twój zwrot, pieniądze oddamy w ciągu 3 dni roboczych.", PASS),
    ("Niestety rozmiaru M nie ma już na stanie, czy wysłać rozmiar L?", PASS),
    ("Tak, kurtka ma podpinany kaptur i dwie kieszenie wewnętrzne.", PASS),
    ("Dziękujemy za informację o kolorze, przyjęliśmy i realizujemy z kolorem niebieskim.", PASS),
    ("Przesyłamy korektę faktury po zwrocie towaru.", PASS),
    ("Czy mogę prosić o numer telefonu do kuriera?", PASS),
    ("Będziemy wdzięczni za opinię o produkcie, gdy już go wypróbujesz.", PASS),
    ("Jeśli paczka dotrze uszkodzona, prosimy o sporządzenie protokołu szkody w obecności kuriera.", PASS),
    ("Wymiana rozmiaru jest bezpłatna, wystarczy odesłać produkt z formularzem.", PASS),
    # --- must pass: English ---------------------------------------------------------------------
    ("Your order has been packed, so no further changes are possible.", PASS),
    ("Please find your invoice attached.", PASS),
    ("Returns: send the item back within 14 days to ul. Polna 1, Warsaw; we refund within 3 days.", PASS),
    ("Unfortunately the blue colour is out of stock. Would you like black instead?", PASS),
    ("Yes, the charger works with both the 2022 and the 2023 model of the device.", PASS),
    ("We received your return and issued a credit note.", PASS),
    ("Could you confirm the size you need before we pack it?", PASS),
    ("The cable is 2 metres long and has a braided nylon jacket.", PASS),
    # --- mixed: a duplicate plus something the buyer needs → pass ---------------------------------
    ("Dziękujemy za zakup. Zamówienie jest już spakowane, zmiany nie są możliwe.", PASS),
    ("Thanks for your order! The invoice is attached to this message.", PASS),
    # --- second batch, written after the rules to probe them (the rules were then extended:
    #     "przekazane do wysyłki", "kurier odebrał", problem words like "niestety"/"wrong") ------------
    ("Informujemy, że Twoje zamówienie zostało zrealizowane i przekazane do wysyłki.", HOLD),
    ("Kurier odebrał dziś Twoją paczkę.", HOLD),
    ("Great news! Your payment went through.", HOLD),
    ("Dziękujemy za dokonanie zakupu w naszym sklepie!", HOLD),
    (
        "Informujemy, że Twoje zamówienie nr 123 zostało wysłane dziś kurierem DPD i powinno dotrzeć jutro.",
        HOLD,
    ),
    ("Your order #5521 has shipped via DPD. Tracking: https://dpd.pl/t/123", HOLD),
    ("Hej! Wpłata dotarła, dzięki! :)", HOLD),
    ("Sprzedający otrzymał Twoją wpłatę.", HOLD),
    ("Paczka wysłana – w środku gratis: próbka kremu, prosimy o opinię.", PASS),
    ("Z powodu święta wysyłka nastąpi dopiero w poniedziałek 28 grudnia.", PASS),
    (
        "Your parcel was shipped to the wrong address by mistake; please refuse it, we will send a new one.",
        PASS,
    ),
    ("Przesyłka została wysłana ponownie, bo pierwsza wróciła do nas uszkodzona.", PASS),
    ("Numer przesyłki w Allegro jest błędny, poprawny to 6200999; przepraszamy za pomyłkę.", PASS),
    ("Payment received, but the amount is 10 zł short; please pay the difference for shipping.", PASS),
    # --- third batch, written blind; before the last fix 2 of its 8 holds were missed
    #     ("przyjęcie zamówienia", "dotarła do paczkomatu") ------------------------------------------
    ("Szanowny Kliencie, Twoje zamówienie jest już w drodze. Życzymy udanych zakupów!", HOLD),
    ("Potwierdzamy przyjęcie zamówienia do realizacji.", HOLD),
    ("Przesyłka dotarła do paczkomatu i czeka na odbiór.", HOLD),
    ("We've received your payment of 129.99 PLN. Thank you!", HOLD),
    ("Dear customer, your package was dispatched today.", HOLD),
    ("Dziękujemy! Twoja faktura została wysłana na maila podanego przy zakupie.", HOLD),
    ("Your parcel is out for delivery today.", HOLD),
    ("Dzień dobry, dziękujemy za zamówienie i wpłatę. Pozdrawiamy serdecznie!", HOLD),
    ("Niestety kurier zgubił paczkę, wysłaliśmy nową, numer 62009.", PASS),
    ("Czy preferuje Pan dostawę do paczkomatu czy kurierem?", PASS),
    ("Zamówienie będzie gotowe do odbioru osobistego w sklepie przy ul. Długiej 5 od jutra, 10:00.", PASS),
    ("The spare part you asked about fits models A100 and A200 but not A300.", PASS),
    ("Do zamówienia dołączyliśmy instrukcję montażu w języku polskim w formacie PDF.", PASS),
    ("We can engrave the name on the mug; send us the text by Friday.", PASS),
]


def _metrics():
    tp = fp = fn = tn = 0
    misses = []
    for text, expected in SAMPLES:
        held = check(text).held
        if held and expected:
            tp += 1
        elif held and not expected:
            fp += 1
            misses.append(("false hold", text))
        elif not held and expected:
            fn += 1
            misses.append(("missed", text))
        else:
            tn += 1
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return precision, recall, tp, fp, fn, tn, misses


def test_sample_set_is_big_and_balanced():
    assert len(SAMPLES) >= 40
    assert sum(1 for _, e in SAMPLES if e) >= 20
    assert sum(1 for _, e in SAMPLES if not e) >= 20


def test_precision_and_recall(capsys):
    precision, recall, tp, fp, fn, tn, misses = _metrics()
    with capsys.disabled():
        print(  # noqa: T201 - the figures are part of the test's output (issue #7)
            f"\ncompliance: n={len(SAMPLES)} tp={tp} fp={fp} fn={fn} tn={tn} "
            f"precision={precision:.3f} recall={recall:.3f}"
        )
        for what, text in misses:
            print(f"  {what}: {text}")  # noqa: T201
    assert precision >= 0.9
    assert recall >= 0.9


@pytest.mark.parametrize(
    "text,category",
    [
        ("Twoja płatność została zaksięgowana.", "payment"),
        ("Your parcel has been shipped.", "dispatch"),
        ("Numer przesyłki: 123.", "tracking"),
        ("Dziękujemy za zakup!", "purchase"),
        ("Faktura została wysłana na Twój adres e-mail.", "invoice_mail"),
    ],
)
def test_reason_names_the_duplicate(text, category):
    result = check(text)
    assert result.held
    assert category in result.categories
    assert result.reason


def test_empty_text_passes():
    assert not check("").held


def test_normalize_folds_polish_letters():
    assert normalize("Płatność  ZAKSIĘGOWANA") == "platnosc zaksiegowana"
