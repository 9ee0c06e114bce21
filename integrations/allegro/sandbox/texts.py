"""Polish (and English) text material of the local Allegro sandbox.

Everything here is written for the sandbox: buyer message templates with slots, a small offer
catalogue, buyer logins, cities with their locative forms, localised error messages, dispute
subjects and sales-quality metric names. Nothing in this module has side effects.
"""

from __future__ import annotations

import random
import string
import zlib
from dataclasses import dataclass

# --- Catalogue ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Product:
    name: str
    price: str  # PLN, as Allegro sends amounts: a string with two decimals
    sizes: tuple[str, ...] = ()

    @property
    def offer_id(self) -> str:
        """A stable 11-digit offer id (Allegro offer ids are numeric strings)."""
        return str(10_000_000_000 + zlib.crc32(self.name.encode()) % 9_000_000_000)

    @property
    def sku(self) -> str:
        return f"SKU-{zlib.crc32(self.name.encode()) % 100000:05d}"


PRODUCTS: tuple[Product, ...] = (
    Product("Słuchawki bezprzewodowe Sony WH-1000XM4", "899.00"),
    Product("Ekspres do kawy DeLonghi Magnifica S", "1299.00"),
    Product("Buty do biegania Nike Air Zoom Pegasus 40", "429.99", ("40", "41", "42", "43", "44", "45")),
    Product("Kurtka zimowa męska z kapturem", "259.00", ("M", "L", "XL", "XXL")),
    Product("Robot sprzątający Xiaomi Mi Robot Vacuum", "1149.00"),
    Product("Smartwatch Garmin Forerunner 255", "1199.00"),
    Product("Zestaw garnków ze stali nierdzewnej 10 el.", "349.00"),
    Product("Lampka biurkowa LED z ładowarką indukcyjną", "119.99"),
    Product("Klocki LEGO Technic 42141 McLaren F1", "649.00"),
    Product("Plecak turystyczny 40 l wodoodporny", "189.00"),
    Product("Etui silikonowe do iPhone 15", "39.99"),
    Product("Ładowarka USB-C 65 W GaN", "99.00"),
    Product("Pościel bawełniana 160x200 w paski", "139.00"),
    Product("Fotel gamingowy z podnóżkiem", "599.00"),
    Product("Hulajnoga elektryczna Xiaomi 4 Pro", "2499.00"),
    Product("Kawa ziarnista Arabica 100% 1 kg", "79.90"),
    Product("Rower dziecięcy 16 cali z bocznymi kółkami", "449.00"),
    Product("Wiertarko-wkrętarka Bosch 18 V z dwoma akumulatorami", "529.00"),
    Product("Sukienka letnia midi w kwiaty", "149.00", ("S", "M", "L", "XL")),
    Product("Karma dla kota Royal Canin 10 kg", "289.00"),
    Product("Czajnik elektryczny szklany 1,7 l", "89.99"),
    Product("Książka „Wiedźmin. Ostatnie życzenie”", "39.90"),
    Product("Opony zimowe 205/55 R16 – komplet 4 szt.", "1290.00"),
    Product("Mata do jogi antypoślizgowa 6 mm", "69.00"),
    Product("Kamera samochodowa 4K z GPS", "349.00"),
)

# --- People and places ----------------------------------------------------------------------------

# (login, first name, last name). Allegro logins are free-form; accounts created without a login
# show up as "client:<number>".
BUYERS: tuple[tuple[str, str, str], ...] = (
    ("kasia_zakupy88", "Katarzyna", "Wiśniewska"),
    ("tomek.wrobel", "Tomasz", "Wróbel"),
    ("MarekZGdanska", "Marek", "Lewandowski"),
    ("ania-k1990", "Anna", "Kamińska"),
    ("pawel_nowicki", "Paweł", "Nowicki"),
    ("Agnieszka_W", "Agnieszka", "Wójcik"),
    ("bartek.moto", "Bartłomiej", "Zieliński"),
    ("justyna1985", "Justyna", "Szymańska"),
    ("kubus_puchatek77", "Jakub", "Woźniak"),
    ("monika.szczecin", "Monika", "Dąbrowska"),
    ("GrzesiekPL", "Grzegorz", "Kozłowski"),
    ("ewelina-handmade", "Ewelina", "Jankowska"),
    ("adam_kowal", "Adam", "Kowalczyk"),
    ("zosia.k", "Zofia", "Krawczyk"),
    ("krzysiek_rower", "Krzysztof", "Piotrowski"),
    ("magda.zakupy", "Magdalena", "Grabowska"),
    ("piotrek1979", "Piotr", "Pawłowski"),
    ("ola_z_krakowa", "Aleksandra", "Michalska"),
    ("darek-auto", "Dariusz", "Król"),
    ("beata.domowa", "Beata", "Wieczorek"),
    ("michal_gamer", "Michał", "Jabłoński"),
    ("karolina.m88", "Karolina", "Majewska"),
    ("lukasz_poznan", "Łukasz", "Olszewski"),
    ("natalia_ks", "Natalia", "Stępień"),
    ("robert.budowa", "Robert", "Malinowski"),
    ("iwona_ogrod", "Iwona", "Jaworska"),
    ("szymon.tech", "Szymon", "Adamczyk"),
    ("dominika.b", "Dominika", "Nowakowska"),
    ("jacek_wedkarz", "Jacek", "Dudek"),
    ("wiola.moda", "Wioletta", "Górska"),
    ("sebastian_88", "Sebastian", "Pietrzak"),
    ("patrycja.home", "Patrycja", "Sikora"),
    ("client:44300444", "Henryk", "Baran"),
    ("client:51723390", "Elżbieta", "Rutkowska"),
    ("client:60218847", "Wojciech", "Ostrowski"),
    ("Stefan_Emeryt", "Stefan", "Zając"),
    ("marta.biega", "Marta", "Kubiak"),
    ("filip_lego", "Filip", "Mazur"),
    ("halina.kuchnia", "Halina", "Czarnecka"),
    ("rafal-elektryk", "Rafał", "Sawicki"),
)

# (nominative, locative, postal code prefix)
CITIES: tuple[tuple[str, str, str], ...] = (
    ("Warszawa", "Warszawie", "00"),
    ("Kraków", "Krakowie", "31"),
    ("Łódź", "Łodzi", "90"),
    ("Wrocław", "Wrocławiu", "50"),
    ("Poznań", "Poznaniu", "60"),
    ("Gdańsk", "Gdańsku", "80"),
    ("Szczecin", "Szczecinie", "70"),
    ("Bydgoszcz", "Bydgoszczy", "85"),
    ("Lublin", "Lublinie", "20"),
    ("Białystok", "Białymstoku", "15"),
    ("Katowice", "Katowicach", "40"),
    ("Gdynia", "Gdyni", "81"),
    ("Częstochowa", "Częstochowie", "42"),
    ("Radom", "Radomiu", "26"),
    ("Toruń", "Toruniu", "87"),
    ("Rzeszów", "Rzeszowie", "35"),
    ("Kielce", "Kielcach", "25"),
    ("Olsztyn", "Olsztynie", "10"),
    ("Zielona Góra", "Zielonej Górze", "65"),
    ("Opole", "Opolu", "45"),
)

STREETS = (
    "ul. Długa 12",
    "ul. Mickiewicza 5/3",
    "ul. Kwiatowa 8",
    "al. Jana Pawła II 41/12",
    "ul. Polna 17",
    "ul. Słoneczna 3",
    "os. Tysiąclecia 22/4",
    "ul. Leśna 9",
    "ul. Kościuszki 101",
    "ul. Ogrodowa 2a",
    "ul. Żeromskiego 14/7",
    "ul. Piłsudskiego 33",
)

COMPANIES = (
    "Usługi Remontowe Kowalski",
    "Kwiaciarnia Różany Ogród",
    "Biuro Rachunkowe Bilans s.c.",
    "Auto-Serwis Nowak sp. z o.o.",
    "Pracownia Ceramiki Glinka",
    "Sklep Zoologiczny Łapka",
)

COLORS = ("czarnym", "białym", "szarym", "granatowym", "czerwonym", "zielonym", "beżowym")

PICKUP_POINTS = ("WAW123M", "KRA08A", "POZ08A", "GDA45M", "WRO221M", "LOD77N", "KAT19A")


def nip(rng: random.Random) -> str:
    """A NIP (Polish tax id) with a valid check digit."""
    weights = (6, 5, 7, 2, 3, 4, 5, 6, 7)
    while True:
        digits = [rng.randint(1, 9)] + [rng.randint(0, 9) for _ in range(8)]
        check = sum(d * w for d, w in zip(digits, weights, strict=True)) % 11
        if check != 10:
            return "".join(map(str, digits)) + str(check)


# --- Buyer message templates ----------------------------------------------------------------------
# Slots: {product} {order} {city} {city_loc} {street} {zip} {color} {size} {qty} {days}
#        {name} {company} {nip}

QUESTION_TEMPLATES = (
    "Dzień dobry, czy {product} jest dostępny od ręki? Zależy mi na wysyłce jeszcze dziś.",
    "Witam, czy do produktu „{product}” jest dołączona instrukcja w języku polskim?",
    "Dzień dobry, czy mogę odebrać zamówienie osobiście? Mieszkam w {city_loc}.",
    "Czy ten model występuje też w kolorze {color}? Na zdjęciach widzę tylko jeden wariant.",
    "Dzień dobry, jaki jest czas dostawy, jeśli zamówię dziś do 14:00? Mieszkam w {city_loc}.",
    "Czy przy zakupie {qty} sztuk mogę liczyć na rabat? Kupuję dla całego biura.",
    "Witam, czy produkt jest nowy i fabrycznie zapakowany? Chcę go dać na prezent.",
    "Dzień dobry, czy wystawiają Państwo fakturę VAT na firmę? Bez niej nie mogę zamówić.",
    "Jaki jest okres gwarancji na „{product}”? Gwarancja producenta czy sprzedawcy?",
    "Czy to będzie pasowało do mojego modelu z 2021 roku? Nie chcę trafić na niekompatybilną wersję.",
    "Dzień dobry, czy mogę zapłacić przy odbiorze? Nie widzę tej opcji w ofercie.",
    "Czy rozmiar {size} jest zgodny z tabelą rozmiarów? Zwykle noszę {size}, ale nie chcę się pomylić.",
    "Hej, jest szansa na wysyłkę do paczkomatu jeszcze przed weekendem?",
    "Dzień dobry, ile sztuk macie Państwo na stanie? Potrzebuję {qty} szt. na już.",
    "Czy w zestawie jest ładowarka, czy trzeba ją dokupić osobno?",
)

PARCEL_TEMPLATES = (
    "Dzień dobry, zamówienie nr {order} miało być wysłane wczoraj, a status nadal się nie zmienił. "
    "Kiedy paczka wyjdzie?",
    "Witam, gdzie jest moja paczka? Zamawiałem {days} dni temu i nic nie dotarło.",
    "Dzień dobry, numer śledzenia nie działa na stronie przewoźnika. Czy mogą Państwo sprawdzić "
    "przesyłkę do zamówienia {order}?",
    "Paczka od {days} dni stoi w sortowni w {city_loc}. Czy mogą Państwo interweniować u kuriera?",
    "Dzień dobry, czy mogę jeszcze zmienić adres dostawy? Nowy adres: {street}, {zip} {city}.",
    "Czy zamówienie {order} zostało już nadane? Potrzebuję produktu na sobotę.",
    "Dzień dobry, dostałam SMS, że paczka czeka w paczkomacie, ale skrytka była pusta. Co mam zrobić?",
    "Kurier podobno był, ale nikt nie dzwonił ani nie zostawił awizo. Proszę o pomoc w sprawie "
    "zamówienia {order}.",
)

RETURN_TEMPLATES = (
    "Dzień dobry, chciałbym zwrócić „{product}” w ramach 14 dni na odstąpienie od umowy. Jak mam to zrobić?",
    "Witam, rozmiar okazał się za mały. Czy mogę wymienić na {size}, czy muszę zrobić zwrot?",
    "Odesłałam paczkę zwrotną {days} dni temu, a pieniądze nadal nie wróciły. Kiedy mogę się "
    "spodziewać zwrotu?",
    "Dzień dobry, czy zwrot mogę nadać w paczkomacie? Nie dostałem etykiety zwrotnej.",
    "Chcę zrezygnować z zamówienia {order}, jeszcze nie zostało wysłane. Proszę o anulowanie.",
    "Produkt nie spełnił moich oczekiwań i chcę go odesłać. Czy koszt odesyłki pokrywam ja?",
)

INVOICE_TEMPLATES = (
    "Dzień dobry, proszę o fakturę VAT do zamówienia {order}. Dane: {company}, NIP {nip}, "
    "{street}, {zip} {city}.",
    "Witam, zapomniałem zaznaczyć fakturę przy zakupie. Czy mogę ją jeszcze otrzymać? NIP: {nip}.",
    "Na fakturze jest błędny NIP, poprawny to {nip}. Proszę o fakturę korygującą.",
    "Dzień dobry, nie widzę faktury w zakładce „Moje zakupy”. Czy mogą ją Państwo przesłać?",
    "Proszę o wystawienie faktury na firmę {company}, dane są w formularzu dostawy.",
)

COMPLAINT_TEMPLATES = (
    "Dzień dobry, „{product}” przyszedł uszkodzony – pęknięta obudowa. Proszę o informację, co dalej.",
    "Po {days} dniach używania sprzęt przestał działać. Chciałbym złożyć reklamację.",
    "W paczce brakowało jednego elementu zestawu. Proszę o dosłanie brakującej części.",
    "Otrzymałem inny kolor niż zamówiony. Zamawiałem w kolorze {color}.",
    "Produkt nie zgadza się z opisem w ofercie – wymiary są zupełnie inne. Jestem bardzo rozczarowany.",
    "Dzień dobry, paczka dotarła zgnieciona, a zawartość jest porysowana. Jak mogę to zgłosić?",
    "To już druga reklamacja tego samego produktu. Proszę o zwrot pieniędzy zamiast naprawy.",
)

FOLLOWUP_TEMPLATES = (
    "Ponawiam pytanie, bo nie dostałem odpowiedzi.",
    "Halo, czy ktoś to czyta? Czekam na odpowiedź już {days} dni.",
    "Dzień dobry, czy jest już coś wiadomo w mojej sprawie?",
    "Przepraszam, że piszę ponownie, ale sprawa jest pilna.",
    "I jeszcze jedno pytanie: czy mogę dopłacić za szybszą wysyłkę?",
    "Jeśli nie dostanę odpowiedzi do jutra, będę zmuszony otworzyć dyskusję.",
)

THANKS_TEMPLATES = (
    "Dziękuję za szybką odpowiedź, pozdrawiam!",
    "Paczka dotarła, wszystko w porządku. Dziękuję i polecam!",
    "Super, dziękuję za pomoc. Na pewno jeszcze coś u Państwa zamówię.",
    "Dzięki, sprawa wyjaśniona. Miłego dnia!",
    "Wielkie dzięki za fakturę, wszystko się zgadza.",
)

# MAIL messages: e-mails sent to the masked address; the only type with a subject.
MAIL_TEMPLATES: tuple[tuple[str, str], ...] = (
    (
        "Pytanie o zamówienie {order}",
        "Dzień dobry,\npiszę mailem, bo nie mogę się zalogować do aplikacji. "
        "Czy zamówienie {order} zostało już wysłane?",
    ),
    (
        "Faktura do zamówienia",
        "Dzień dobry,\nproszę o przesłanie faktury VAT na adres tego maila. NIP {nip}.",
    ),
    (
        "Re: Zwrot towaru",
        "Witam,\nodesłałem towar kurierem, numer nadania podam jutro. Proszę o potwierdzenie.",
    ),
    ("Reklamacja", "Dzień dobry,\nzgłaszam reklamację: „{product}” nie włącza się po tygodniu używania."),
)

ISSUE_TEXTS = (
    "Minęło już {days} dni, a paczka nie dotarła. Proszę o zwrot pieniędzy.",
    "Produkt jest uszkodzony, załączam zdjęcia. Oczekuję wymiany na nowy.",
    "Sprzedający nie odpowiada na wiadomości, dlatego otwieram dyskusję.",
    "Otrzymałem niekompletne zamówienie – brakuje jednej sztuki.",
    "Towar niezgodny z opisem, proszę o zwrot kosztów.",
)

ISSUE_BUYER_REPLIES = (
    "Czekam na Państwa propozycję rozwiązania.",
    "Wysłałem zdjęcia uszkodzeń, proszę sprawdzić.",
    "Zgadzam się na częściowy zwrot, jeśli to przyspieszy sprawę.",
    "Nadal nie otrzymałem odpowiedzi w tej sprawie.",
)

SIGNATURES = ("", "", "\n\nPozdrawiam,\n{name}", "\n\nPozdrawiam serdecznie\n{name}", "\n\nDziękuję, {name}")

TEMPLATE_GROUPS = {
    "question": QUESTION_TEMPLATES,
    "parcel": PARCEL_TEMPLATES,
    "return": RETURN_TEMPLATES,
    "invoice": INVOICE_TEMPLATES,
    "complaint": COMPLAINT_TEMPLATES,
    "followup": FOLLOWUP_TEMPLATES,
    "thanks": THANKS_TEMPLATES,
}


def all_templates() -> list[str]:
    out = [t for group in TEMPLATE_GROUPS.values() for t in group]
    out += [f"{subject}\n{body}" for subject, body in MAIL_TEMPLATES]
    return out


def slots(
    rng: random.Random, *, product: Product | None = None, order_id: str | None = None, buyer_name: str = ""
) -> dict[str, str]:
    city, city_loc, zip_prefix = rng.choice(CITIES)
    product = product or rng.choice(PRODUCTS)
    return {
        "product": product.name,
        "order": (order_id or "")[:8].upper() or f"{rng.randint(10_000_000, 99_999_999)}",
        "city": city,
        "city_loc": city_loc,
        "street": rng.choice(STREETS),
        "zip": f"{zip_prefix}-{rng.randint(1, 999):03d}",
        "color": rng.choice(COLORS),
        "size": rng.choice(product.sizes or ("M", "L", "42")),
        "qty": str(rng.randint(2, 10)),
        "days": str(rng.randint(2, 12)),
        "name": buyer_name or rng.choice(BUYERS)[1],
        "company": rng.choice(COMPANIES),
        "nip": nip(rng),
    }


def fill(template: str, values: dict[str, str]) -> str:
    return string.Formatter().vformat(template, (), values)


def compose(rng: random.Random, group: str, **kwargs) -> str:
    values = slots(rng, **kwargs)
    text = fill(rng.choice(TEMPLATE_GROUPS[group]), values)
    if group not in {"followup", "thanks"}:
        text += fill(rng.choice(SIGNATURES), values)
    return text


# --- Localised strings ----------------------------------------------------------------------------

USER_MESSAGES: dict[str, dict[str, str]] = {
    "generic": {
        "en": "The request contains incorrect data. Contact the author of the application.",
        "pl": "Żądanie zawiera niepoprawne dane. Skontaktuj się z autorem aplikacji.",
    },
    "not_null": {"en": "must not be null", "pl": "nie może mieć wartości null"},
    "not_blank": {"en": "must not be blank", "pl": "nie może być puste"},
    "size": {
        "en": "size must be between {min} and {max}",
        "pl": "wielkość musi należeć do zakresu od {min} do {max}",
    },
    "max": {"en": "must be less than or equal to {max}", "pl": "musi być mniejsze lub równe {max}"},
    "min": {"en": "must be greater than or equal to {min}", "pl": "musi być większe lub równe {min}"},
    "invalid_value": {"en": "Invalid value: {value}", "pl": "Niepoprawna wartość: {value}"},
    "before_with_offset": {
        "en": "The 'before' parameter cannot be used together with 'offset'.",
        "pl": "Parametru 'before' nie można użyć razem z 'offset'.",
    },
    "rate_limit": {"en": "Request limit exceeded.", "pl": "Przekroczony limit zapytań."},
    "not_acceptable": {
        "en": "Not acceptable representation requested. Please check the 'Accept' header.",
        "pl": "Żądana reprezentacja jest nieakceptowalna. Sprawdź nagłówek 'Accept'.",
    },
    "unsupported_media_type": {
        "en": "The request body has an unsupported media type. Please check the 'Content-Type' header.",
        "pl": "Treść żądania ma nieobsługiwany typ. Sprawdź nagłówek 'Content-Type'.",
    },
    "not_found": {"en": "The requested resource was not found.", "pl": "Nie znaleziono zasobu."},
    "forbidden": {
        "en": "You do not have access to this resource.",
        "pl": "Nie masz dostępu do tego zasobu.",
    },
    "no_user_context": {
        "en": "This resource requires a token issued for a user.",
        "pl": "Ten zasób wymaga tokenu wydanego dla użytkownika.",
    },
    "chat_inactive": {
        "en": "New messages cannot be added in the current state of this issue.",
        "pl": "W obecnym stanie zgłoszenia nie można dodawać nowych wiadomości.",
    },
    "malformed": {"en": "The request body is malformed.", "pl": "Treść żądania jest niepoprawna."},
    "method_not_allowed": {"en": "Method not allowed.", "pl": "Metoda niedozwolona."},
    "attachment_not_ready": {
        "en": "The attachment has not been uploaded.",
        "pl": "Załącznik nie został przesłany.",
    },
    "too_large": {"en": "The file is too large.", "pl": "Plik jest za duży."},
    "internal": {
        "en": "An unexpected error occurred. Please try again later.",
        "pl": "Wystąpił nieoczekiwany błąd. Spróbuj ponownie później.",
    },
    "unavailable": {
        "en": "The service is temporarily unavailable. Please try again later.",
        "pl": "Usługa jest chwilowo niedostępna. Spróbuj ponownie później.",
    },
    "conflict": {
        "en": "The request conflicts with the current state.",
        "pl": "Żądanie jest sprzeczne z obecnym stanem.",
    },
}

# Dispute subjects follow the reason code; the spec lists the English wording, the Polish one comes
# from Allegro's own example ("nie otrzymałem towaru po wpłacie").
ISSUE_SUBJECTS: dict[str, dict[str, str]] = {
    "NO_PRODUCT_RECEIVED": {"en": "I have not received the product", "pl": "nie otrzymałem produktu"},
    "NO_PRODUCT_IN_PARCEL": {"en": "no product in the parcel", "pl": "brak produktu w paczce"},
    "NO_PROOF_OF_PURCHASE_MANUAL_OR_WARRANTY": {
        "en": "no proof of purchase, manual, or warranty",
        "pl": "brak dowodu zakupu, instrukcji lub gwarancji",
    },
    "MISSING_PRODUCT_ELEMENT": {"en": "missing product element", "pl": "brak elementu produktu"},
    "PRODUCT_AND_PARCEL_DAMAGED_IN_TRANSIT": {
        "en": "product and parcel damaged (in transit)",
        "pl": "produkt i paczka uszkodzone (w transporcie)",
    },
    "PRODUCT_DAMAGED_PARCEL_INTACT": {
        "en": "the product is damaged, but the parcel is intact",
        "pl": "produkt jest uszkodzony, ale paczka jest nienaruszona",
    },
    "DEFECT_FOUND_DURING_USE": {
        "en": "defects emerged during use",
        "pl": "wady ujawniły się podczas użytkowania",
    },
    "NOT_AS_DESCRIBED": {"en": "does not match the description", "pl": "produkt niezgodny z opisem"},
    "SELLER_DOES_NOT_WANT_TO_ACCEPT_RETURN": {
        "en": "the seller does not want to accept the return",
        "pl": "sprzedający nie chce przyjąć zwrotu",
    },
    "PROBLEM_WITH_SENDING_PRODUCT_BACK": {
        "en": "I have a problem returning the product",
        "pl": "mam problem z odesłaniem produktu",
    },
    "NO_REFUND_AFTER_RETURNING_PRODUCT": {
        "en": "no refund after returning the product",
        "pl": "brak zwrotu pieniędzy po odesłaniu produktu",
    },
    "NO_REFUND_AFTER_CANCELING_ORDER": {
        "en": "no refund after canceling the order",
        "pl": "brak zwrotu pieniędzy po anulowaniu zamówienia",
    },
    "DID_NOT_RECEIVE_GOODS_AFTER_PAYMENT": {
        "en": "I did not receive the goods after payment",
        "pl": "nie otrzymałem towaru po wpłacie",
    },
    "RECEIVED_ITEMS_NOT_MATCHING_DESCRIPTION": {
        "en": "I received an order inconsistent with the description",
        "pl": "otrzymałem zamówienie niezgodne z opisem",
    },
    "RECEIVED_INCOMPLETE_ORDER": {
        "en": "I received an incomplete order",
        "pl": "otrzymałem niekompletne zamówienie",
    },
    "ITEM_IS_DAMAGED": {"en": "the product is damaged", "pl": "produkt jest uszkodzony"},
    "PROBLEM_WITH_WITHDRAWAL_CANCELLATION_OF_PURCHASE": {
        "en": "problem with withdrawal/cancelation of purchase",
        "pl": "problem z odstąpieniem od umowy lub anulowaniem zakupu",
    },
    "PROBLEM_WITH_GOODS_RETURN_CANCELLATION_OF_PURCHASE": {
        "en": "I have a problem returning the goods/canceling the purchase",
        "pl": "mam problem ze zwrotem towaru lub anulowaniem zakupu",
    },
    "OTHER": {"en": "my reason is not on the list", "pl": "mojego powodu nie ma na liście"},
}

# code -> (max score, English name, Polish name). The codes are the ones Allegro staff have shown;
# the full list is not documented (allegro-api.md §5).
QUALITY_METRICS: tuple[tuple[str, int, str, str], ...] = (
    ("BUYER_SATISFACTION", 150, "Buyer satisfaction", "Zadowolenie kupujących"),
    ("DISPATCH_IN_TIME", 40, "On-time dispatch", "Terminowa wysyłka"),
    ("FAST_DISPATCH", 160, "Fast dispatch", "Szybka wysyłka"),
    ("NO_RETURNS", 150, "No returns", "Brak zwrotów"),
)


def language(accept_language: str | None) -> str:
    """'pl' or 'en' from an Accept-Language header (English is Allegro's default)."""
    if not accept_language:
        return "en"
    first = accept_language.split(",")[0].strip().lower()
    return "pl" if first.startswith("pl") else "en"


def user_message(key: str, lang: str, **params) -> str:
    entry = USER_MESSAGES.get(key) or USER_MESSAGES["generic"]
    text = entry.get(lang) or entry["en"]
    return text.format(**params) if params else text
