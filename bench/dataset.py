"""A realistic inbox data set on PostgreSQL for the benchmarks, built once and reused.

    .venv/bin/python bench/dataset.py --conversations 100000 [--messages-per-conversation 10] [--rebuild]

From Python (other benchmarks): ``from dataset import ensure; db = ensure(1_000_000)`` returns the name
of the database ``replydesk_bench_<conversations>`` on postgres://postgres@127.0.0.1:5432 (override
with BENCH_PG), building it when it is missing or incomplete. A row in the table ``bench_dataset``,
written last, marks a finished build (with its parameters and the generator version); a rerun reuses
the database and only applies migrations that are new since (so an index added later exists too).

What it holds (seeded, so two builds of the same size are equal):

* organization "Sklep Bench" (slug ``bench``): an owner (``bench-owner``), a lead (``bench-lead``)
  and 20 agents (``agent01`` … ``agent20``), all with the password ``bench-haslo-2026``; three Allegro
  accounts and an e-mail mailbox (replies written by a benchmark stay pending in the outbox: no Celery
  worker runs, and bench/load.py points the Allegro API at a closed local port). About 3 % of the
  conversations belong to a second organization ("Inna firma", ``inna-agent1`` and ``inna-agent2``),
  for tenancy realism.
* contacts (repeat buyers, skewed) with Allegro logins and some e-mail identities;
* conversations arriving over two years, bursty: Warsaw working hours, Mondays heavier, seasonal
  peaks (Black Friday, December, returns after Christmas), random busy days, fewer on holidays and a
  growing shop. Kinds: Allegro message threads, discussions and claims (with marketplace states and
  the issue details the case panel reads), e-mail;
* ``messages_per_conversation`` messages on average (most 2–20, 1 % long threads of 40–150):
  Polish buyer and seller texts on one topic per conversation (przesyłka, zwrot, faktura,
  reklamacja, produkt, płatność), composed from a vocabulary of realistic sentences with products,
  couriers, order numbers and dates; buyers and agents alternate with realistic gaps;
* the denormalized fields of each conversation (last message/inbound/outbound/reply instants,
  awaiting-reply-since), statuses (old answered conversations mostly closed), assignees;
* about 45 % of the last two days' conversations and 25 % of the last week's awaiting a reply, plus
  0.4 % of the older ones (forgotten, overdue): each with its open marketplace and team clocks, as
  the SLA engine starts them (due and warning instants from the effective policy, warning and breach
  marks as the beat would have set them);
* a read mark by the assignee of each answered conversation (waiting ones are unread);
* response records (and their daily rollups) for the replies of the last 30 days.

Bulk rows are streamed with COPY (psycopg 3) into tables whose secondary indexes are dropped first and
recreated afterwards (whatever indexes the migrations define, including ones added later), foreign
keys unchecked during the load (session_replication_role = replica; ids are consistent by
construction); then VACUUM ANALYZE.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SERVER = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
# Bump when the generated data changes: ensure() then rebuilds databases made by an older generator.
VERSION = 2
PASSWORD = "bench-haslo-2026"
WARSAW = ZoneInfo("Europe/Warsaw")
MARKER_TABLE = "bench_dataset"
# Tables bulk-loaded with COPY (their secondary indexes are dropped during the load).
BULK_TABLES = (
    "inbox_contact",
    "inbox_contactidentity",
    "inbox_conversation",
    "inbox_message",
    "inbox_conversationread",
    "sla_slaclock",
    "sla_responserecord",
)


def db_name(conversations: int) -> str:
    return f"replydesk_bench_{conversations}"


# --- public interface --------------------------------------------------------------------------


def ensure(conversations: int, messages_per_conversation: float = 10) -> str:
    """The name of a database holding the data set of this size, built if missing or incomplete.

    Safe to call from several benchmarks at once: one builds (under an advisory lock), the others
    wait for it and reuse the result.
    """
    import psycopg

    name = db_name(conversations)

    def ready() -> bool:
        marker = read_marker(name)
        return bool(
            marker
            and marker.get("version") == VERSION
            and _same(marker, conversations, messages_per_conversation)
        )

    if not ready():
        with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as lock:
            lock.execute("SELECT pg_advisory_lock(hashtext(%s))", [f"bench-dataset:{name}"])
            deadline = time.monotonic() + 3600
            # Not ready yet in use: a build without the lock (an older copy of this file) or a
            # benchmark still reading an older version. Wait rather than drop it under their feet.
            while not ready() and _in_use(lock, name) and time.monotonic() < deadline:
                time.sleep(10)
            if not ready():
                _run_build_step(name, ["--conversations", str(conversations), "--messages-per-conversation",
                                       str(messages_per_conversation), "--build-here"])  # fmt: skip
            if not read_marker(name):
                raise RuntimeError(f"building {name} did not complete")
    if _pending_migrations(name):
        _run_build_step(name, ["--migrate-only"])
    return name


def _in_use(conn, name: str) -> bool:
    row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [name]).fetchone()
    return row[0] > 0


def read_marker(name: str) -> dict | None:
    """The completion row of database `name`, or None (no database, no table, no row)."""
    import psycopg

    try:
        with psycopg.connect(f"{SERVER}/{name}", connect_timeout=5) as conn:
            row = conn.execute(
                "SELECT value FROM pg_tables t LEFT JOIN bench_dataset d ON d.key = 'dataset' "
                "WHERE t.tablename = %s",
                [MARKER_TABLE],
            ).fetchone()
    except (psycopg.OperationalError, psycopg.errors.UndefinedTable):
        return None
    return row[0] if row and row[0] else None


def _same(marker: dict, conversations: int, mpc: float) -> bool:
    return marker.get("conversations") == conversations and math.isclose(
        float(marker.get("messages_per_conversation", 0)), float(mpc)
    )


def _pending_migrations(name: str) -> bool:
    """A migration file of our apps not yet applied to `name` (cheap: no Django start-up)."""
    import psycopg

    on_disk = {
        (path.parent.parent.name, path.stem)
        for app in ("inbox", "sla", "integrations")
        for path in (ROOT / app).glob("**/migrations/[0-9]*.py")
    }
    with psycopg.connect(f"{SERVER}/{name}") as conn:
        applied = set(conn.execute("SELECT app, name FROM django_migrations").fetchall())
    return bool(on_disk - applied)


def _run_build_step(name: str, args: list[str]) -> None:
    env = {**os.environ, **_django_env(name)}
    subprocess.run([sys.executable, str(Path(__file__).resolve()), "--db", name, *args], env=env, check=True)


def _django_env(name: str) -> dict[str, str]:
    return {
        "DATABASE_URL": f"{SERVER}/{name}",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
        "FIELD_ENCRYPTION_KEYS": os.environ.get(
            "FIELD_ENCRYPTION_KEYS", "q8m3bbuLDTpD3xJmIwP0fS7U7k6tf3vJ-ZQ7p2G1K9A="
        ),
    }


# --- vocabulary ---------------------------------------------------------------------------------

PRODUCTS = [
    "kurtka zimowa damska", "słuchawki bezprzewodowe", "czajnik elektryczny", "łóżeczko dziecięce",
    "żelazko parowe", "buty trekkingowe męskie", "etui na telefon", "ładowarka samochodowa",
    "odkurzacz pionowy", "zestaw garnków", "sukienka wieczorowa", "plecak szkolny", "lampka biurkowa",
    "rower biegowy", "pościel satynowa", "szczoteczka soniczna", "ekspres do kawy", "klocki konstrukcyjne",
    "filtr do wody", "opony zimowe", "kabel HDMI", "mata do jogi", "gra planszowa", "perfumy damskie",
    "zegarek sportowy", "krzesło biurowe", "wiertarka udarowa", "karma dla psa", "poduszka ortopedyczna",
    "spodnie jeansowe", "koszulka polo", "głośnik przenośny", "termos stalowy", "patelnia żeliwna",
    "fotelik samochodowy", "książka kucharska", "pędzle do makijażu", "dywan łazienkowy", "żarówki LED",
    "śpiwór turystyczny",
]  # fmt: skip
COURIERS = ["InPost", "DPD", "DHL", "Poczta Polska", "Orlen Paczka", "GLS", "Allegro One Box", "UPS"]
WEEKDAYS_PL = ["poniedziałek", "wtorek", "środę", "czwartek", "piątek", "sobotę", "niedzielę"]
FIRST_NAMES = [
    "Anna", "Katarzyna", "Małgorzata", "Agnieszka", "Barbara", "Ewa", "Magdalena", "Joanna", "Żaneta",
    "Piotr", "Krzysztof", "Andrzej", "Tomasz", "Paweł", "Michał", "Łukasz", "Grzegorz", "Jakub",
    "Wojciech", "Zofia", "Jędrzej", "Bożena", "Stanisław", "Kamil",
]  # fmt: skip
LAST_NAMES = [
    "Nowak", "Kowalska", "Wiśniewski", "Wójcik", "Kowalczyk", "Kamińska", "Lewandowski", "Zieliński",
    "Szymańska", "Woźniak", "Dąbrowski", "Kozłowska", "Jankowski", "Mazur", "Krawczyk", "Piotrowska",
    "Grabowski", "Nowakowska", "Pawłowski", "Michalska", "Król", "Wróbel", "Jabłoński", "Górecka",
]  # fmt: skip

BUYER_OPEN = [
    "Dzień dobry,",
    "Witam,",
    "Dzień dobry Państwu,",
    "Szanowni Państwo,",
    "Hej,",
    "Dobry wieczór,",
    "",
]
BUYER_CLOSE = [
    "Pozdrawiam", "Z góry dziękuję za odpowiedź.", "Dziękuję i pozdrawiam", "Proszę o szybką odpowiedź.",
    "Pozdrawiam serdecznie", "", "Czekam na informację.",
]  # fmt: skip
SELLER_OPEN = [
    "Dzień dobry,",
    "Dzień dobry Pani,",
    "Dzień dobry Panu,",
    "Witamy,",
    "Dziękujemy za wiadomość.",
]
SELLER_CLOSE = [
    "Pozdrawiamy serdecznie", "Z poważaniem", "W razie pytań jesteśmy do dyspozycji.",
    "Miłego dnia!", "Pozdrawiamy i życzymy udanych zakupów.",
]  # fmt: skip

# One topic per conversation: what the buyer writes, and what the seller answers. Placeholders:
# {p} product, {k} courier, {n} order number, {d} number of days, {w} weekday, {z} amount in złoty.
TOPICS = {
    "przesyłka": (
        [
            "Zamówiłem {p} {d} dni temu i paczka nadal nie dotarła.",
            "Status przesyłki w {k} nie zmienia się od {w}, czy coś jest nie tak?",
            "Czy paczka z zamówienia nr {n} została już wysłana?",
            "Kurier {k} nie zastał mnie w domu, czy można zmienić adres dostawy?",
            "Paczkomat jest pełny i przesyłka wróciła do nadawcy, co teraz?",
            "Kiedy mogę spodziewać się dostawy? Potrzebuję {p} najpóźniej w {w}.",
            "Dostałem tylko część zamówienia, brakuje {p}.",
            "Numer śledzenia nie działa na stronie {k}.",
            "Czy mogę odebrać zamówienie osobiście w Państwa sklepie?",
            "Przesyłka przyszła uszkodzona, karton był zgnieciony.",
            "Proszę o wysyłkę na adres do pracy zamiast do domu.",
        ],
        [
            "Przesyłka z zamówienia nr {n} została nadana w {w}, numer nadania przesłaliśmy w Allegro.",
            "Sprawdziliśmy status w {k}: paczka jest w sortowni i powinna dotrzeć w ciągu {d} dni roboczych.",
            "Przepraszamy za opóźnienie, {k} ma w tym tygodniu zaległości w doręczeniach.",
            "Brakujący produkt ({p}) wysłaliśmy dziś osobną przesyłką, bez dodatkowych kosztów.",
            "Złożyliśmy reklamację u przewoźnika {k}, o jej wyniku poinformujemy.",
            "Adres dostawy możemy zmienić, dopóki paczka nie zostanie nadana.",
            "Paczka wróciła do nas, wyślemy ją ponownie na wskazany adres.",
            "Odbiór osobisty jest możliwy od poniedziałku do piątku w godzinach 8–16.",
        ],
    ),
    "zwrot": (
        [
            "Chciałabym zwrócić {p}, bo rozmiar nie pasuje.",
            "Jak mogę odesłać towar w ramach zwrotu? Nie widzę etykiety w paczce.",
            "Odesłałem {p} {d} dni temu, kiedy dostanę zwrot pieniędzy?",
            "Czy zwrot jest darmowy, czy muszę zapłacić za przesyłkę {k}?",
            "Zwrot na kwotę {z} zł jeszcze nie wpłynął na moje konto.",
            "Czy mogę wymienić {p} na inny kolor zamiast zwrotu?",
            "Produkt nie spełnia moich oczekiwań, chcę odstąpić od umowy.",
            "Wypełniłam formularz zwrotu w Allegro, co dalej?",
        ],
        [
            "Zwrot możliwy jest w ciągu 14 dni od odbioru, formularz znajdzie Pani w zakładce Moje zakupy.",
            "Otrzymaliśmy zwrot, pieniądze ({z} zł) przelaliśmy dziś na konto.",
            "Etykietę zwrotną {k} wygenerowaliśmy i wysłaliśmy na adres e-mail z zamówienia.",
            "Wymiana na inny kolor jest możliwa, proszę odesłać {p} z dopiskiem „wymiana”.",
            "Koszt odesłania pokrywamy my przy zwrotach przez Allegro Smart!",
            "Zwrot zostanie rozliczony w ciągu {d} dni roboczych od otrzymania paczki.",
            "Prosimy o dołączenie numeru zamówienia {n} do odsyłanej paczki.",
        ],
    ),
    "faktura": (
        [
            "Proszę o wystawienie faktury VAT na firmę, NIP podałem w formularzu.",
            "Na fakturze jest błędny adres, czy mogą Państwo wystawić korektę?",
            "Nie otrzymałem faktury do zamówienia nr {n}.",
            "Czy faktura może być wystawiona na inną osobę niż kupujący?",
            "Potrzebuję duplikatu faktury za {p}, oryginał zaginął.",
            "Kupiłem {p} na firmę, a dostałem paragon zamiast faktury.",
        ],
        [
            "Fakturę VAT do zamówienia nr {n} wysłaliśmy na adres e-mail z Allegro.",
            "Korektę faktury wystawimy dziś i prześlemy w wiadomości.",
            "Faktura jest dostępna do pobrania w szczegółach zamówienia w Allegro.",
            "Fakturę wystawiamy na dane podane przy zakupie; zmiana jest możliwa do końca miesiąca.",
            "Duplikat faktury za {p} przesłaliśmy w załączniku.",
        ],
    ),
    "reklamacja": (
        [
            "{p} przestał działać po {d} dniach używania, chcę złożyć reklamację.",
            "Produkt ma wadę fabryczną: pęknięta obudowa i zarysowania.",
            "Składam reklamację z tytułu rękojmi, w załączniku zdjęcia uszkodzeń.",
            "Po pierwszym praniu {p} zmienił kolor, to chyba nie jest normalne.",
            "Reklamację wysłałem {d} dni temu i nadal nie mam odpowiedzi.",
            "Oczekuję naprawy albo wymiany na nowy egzemplarz.",
            "Czy mam odesłać {p} do Państwa, czy do serwisu producenta?",
        ],
        [
            "Przykro nam, że {p} okazał się wadliwy. Prosimy o odesłanie go na nasz koszt przez {k}.",
            "Reklamację rozpatrzymy w ciągu 14 dni od otrzymania towaru.",
            "Reklamacja została uznana, nowy egzemplarz wyślemy jutro.",
            "Prosimy o przesłanie zdjęć wady, to przyspieszy rozpatrzenie reklamacji.",
            "Serwis producenta potwierdził wadę, zwrócimy {z} zł na konto.",
            "Uszkodzenie wynika z użytkowania niezgodnego z instrukcją, reklamacja nie może zostać uznana.",
        ],
    ),
    "produkt": (
        [
            "Czy {p} jest dostępny w rozmiarze XL?",
            "Jakie są dokładne wymiary produktu {p}?",
            "Czy {p} jest oryginalny i ma polską gwarancję?",
            "Czy przy zakupie dwóch sztuk mogę liczyć na rabat?",
            "Z jakiego materiału jest wykonany {p}?",
            "Kiedy {p} będzie znowu dostępny?",
            "Czy w zestawie jest instrukcja po polsku?",
        ],
        [
            "Tak, {p} jest dostępny, stan magazynowy aktualizujemy na bieżąco.",
            "Wymiary podaliśmy w opisie oferty w sekcji „Specyfikacja”.",
            "Produkt jest oryginalny, objęty 24-miesięczną gwarancją producenta.",
            "Przy zakupie dwóch sztuk możemy zaproponować rabat 10%.",
            "Dostawa nowej partii planowana jest za około {d} dni.",
            "Instrukcja w języku polskim jest dołączona do każdego egzemplarza.",
        ],
    ),
    "płatność": (
        [
            "Zapłaciłem za zamówienie nr {n}, a w Allegro nadal widnieje „oczekuje na płatność”.",
            "Pobrano ode mnie podwójnie kwotę {z} zł.",
            "Czy mogę zapłacić przy odbiorze?",
            "Płatność BLIK nie przeszła, czy zamówienie jest aktywne?",
            "Czy można rozłożyć płatność na raty?",
        ],
        [
            "Płatność za zamówienie nr {n} została zaksięgowana, zamówienie jest w realizacji.",
            "Nadpłatę {z} zł zwróciliśmy na konto, z którego została wykonana.",
            "Płatność przy odbiorze jest dostępna przy wysyłce kurierem {k}.",
            "Zamówienie jest aktywne, prosimy ponowić płatność w ciągu {d} dni.",
            "Raty są dostępne w Allegro Pay przy finalizacji zakupu.",
        ],
    ),
}
TOPIC_NAMES = list(TOPICS)
TOPIC_WEIGHTS = [30, 20, 10, 15, 15, 10]
EMAIL_SUBJECTS = {
    "przesyłka": "Gdzie jest moja paczka? Zamówienie {n}",
    "zwrot": "Zwrot towaru – zamówienie {n}",
    "faktura": "Faktura VAT do zamówienia {n}",
    "reklamacja": "Reklamacja: {p}",
    "produkt": "Pytanie o produkt: {p}",
    "płatność": "Płatność za zamówienie {n}",
}
DISCUSSION_REASONS = ["NO_PRODUCT_RECEIVED", "PRODUCT_DAMAGED", "PRODUCT_NOT_AS_DESCRIBED", "WRONG_PRODUCT"]


def _fill(template: str, rng: random.Random) -> str:
    return template.format(
        p=rng.choice(PRODUCTS),
        k=rng.choice(COURIERS),
        n=rng.randrange(10_000_000, 99_999_999),
        d=rng.randrange(2, 15),
        w=rng.choice(WEEKDAYS_PL),
        z=f"{rng.randrange(19, 1500)},{rng.randrange(0, 100):02d}",
    )


def _pools(rng: random.Random, size: int) -> dict[str, tuple[list[str], list[str]]]:
    """Per topic, `size` filled buyer and seller sentences (COPY-escaped: no tabs or backslashes)."""
    return {
        topic: (
            [_fill(rng.choice(buyer), rng) for _ in range(size)],
            [_fill(rng.choice(seller), rng) for _ in range(size)],
        )
        for topic, (buyer, seller) in TOPICS.items()
    }


# --- arrival times ------------------------------------------------------------------------------

HOUR_WEIGHT = [0.08, 0.05, 0.03, 0.03, 0.04, 0.1, 0.3, 0.7, 1.4, 1.9, 2.0, 1.9, 1.8, 1.8, 1.7, 1.6, 1.5,
               1.3, 1.2, 1.3, 1.4, 1.2, 0.7, 0.3]  # fmt: skip
WEEKDAY_WEIGHT = [1.6, 1.25, 1.1, 1.05, 1.0, 0.55, 0.7]
HOLIDAYS = {(1, 1), (1, 6), (5, 1), (5, 3), (8, 15), (11, 1), (11, 11), (12, 25), (12, 26)}


def _day_factor(day: date, rng: random.Random) -> float:
    factor = rng.lognormvariate(0, 0.3)  # busy and quiet days
    if rng.random() < 0.03:
        factor *= rng.uniform(2, 4)  # a promotion, an outage at a courier: a burst
    m, d = day.month, day.day
    if (m, d) in HOLIDAYS:
        factor *= 0.35
    elif m == 11 and 20 <= d <= 30:
        factor *= 2.5  # Black Friday week
    elif m == 12 and d <= 20:
        factor *= 1.8
    elif (m == 12 and d >= 27) or (m == 1 and d <= 10):
        factor *= 1.5  # returns after Christmas
    return factor * WEEKDAY_WEIGHT[day.weekday()]


def arrival_times(n: int, now: int, rng: random.Random, days: int = 730) -> list[int]:
    """`n` sorted epoch seconds over the last `days` days ending at `now`, bursty (see the module)."""
    start_day = datetime.fromtimestamp(now, WARSAW).date() - timedelta(days=days)
    starts, weights = [], []
    for i in range(days + 1):
        day = start_day + timedelta(days=i)
        day_w = _day_factor(day, rng) * (0.6 + 0.8 * i / days)  # the shop grows
        for hour in range(24):
            try:
                at = int(datetime(day.year, day.month, day.day, hour, tzinfo=WARSAW).timestamp())
            except ValueError:
                continue
            if at + 3600 > now:
                break
            starts.append(at)
            weights.append(day_w * HOUR_WEIGHT[hour])
    cum, total = [], 0.0
    for w in weights:
        total += w
        cum.append(total)
    picks = rng.choices(starts, cum_weights=cum, k=n)
    return sorted(at + rng.randrange(3600) for at in picks)


# --- COPY helpers -------------------------------------------------------------------------------


class Stamp:
    """Epoch seconds → COPY text of a timestamptz, fast (cached per minute)."""

    def __init__(self) -> None:
        self.cache: dict[int, str] = {}

    def __call__(self, ts: int | None) -> str:
        if ts is None:
            return "\\N"
        minute, sec = divmod(ts, 60)
        head = self.cache.get(minute)
        if head is None:
            head = self.cache[minute] = datetime.fromtimestamp(minute * 60, UTC).strftime("%Y-%m-%d %H:%M")
        return f"{head}:{sec:02d}+00"


def copy_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


class Copier:
    """A COPY … FROM STDIN stream on its own connection, fed with ready-made text lines."""

    def __init__(self, dsn: str, table: str, columns: list[str]):
        import psycopg

        self.conn = psycopg.connect(dsn)
        _session(self.conn)
        self.cursor = self.conn.cursor()
        self.cm = self.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN")
        self.copy = self.cm.__enter__()
        self.buf: list[str] = []
        self.rows = 0

    def add(self, line: str) -> None:
        self.buf.append(line)
        if len(self.buf) >= 5000:
            self.flush()

    def flush(self) -> None:
        if self.buf:
            self.rows += len(self.buf)
            self.copy.write("".join(self.buf))
            self.buf = []

    def close(self) -> int:
        self.flush()
        self.cm.__exit__(None, None, None)
        self.conn.commit()
        self.conn.close()
        return self.rows


def _session(conn) -> None:
    conn.execute("SET synchronous_commit = off")
    conn.execute("SET session_replication_role = replica")  # no FK triggers during the load
    conn.execute("SET maintenance_work_mem = '512MB'")


# --- the build ----------------------------------------------------------------------------------


def _drop_secondary_indexes(conn) -> list[str]:
    """Drop the bulk tables' indexes and unique constraints except primary keys; return the DDL to
    recreate them (whatever the migrations defined, including indexes added by later migrations)."""
    ddl: list[str] = []
    rows = conn.execute(
        """
        SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)
        FROM pg_constraint c
        WHERE c.contype IN ('u', 'x') AND c.conrelid::regclass::text = ANY(%s)
        """,
        [list(BULK_TABLES)],
    ).fetchall()
    for table, name, definition in rows:
        ddl.append(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    rows = conn.execute(
        """
        SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
        FROM pg_index i
        WHERE i.indrelid::regclass::text = ANY(%s) AND NOT i.indisprimary
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
        """,
        [list(BULK_TABLES)],
    ).fetchall()
    for name, definition in rows:
        ddl.append(definition)
        conn.execute(f"DROP INDEX {name}")
    conn.commit()
    return ddl


def _check_columns(conn, table: str, columns: list[str]) -> None:
    """Fail clearly when a migration added a NOT NULL column without a database default."""
    missing = [
        name
        for name, nullable, default, generated in conn.execute(
            "SELECT column_name, is_nullable, column_default, is_generated FROM information_schema.columns "
            "WHERE table_name = %s",
            [table],
        ).fetchall()
        if name not in columns and nullable == "NO" and default is None and generated == "NEVER"
    ]
    if missing:
        raise RuntimeError(
            f"bench/dataset.py does not fill {table}.{', '.join(missing)}: add it to the generator"
        )


def _message_count(rng: random.Random, mean: float) -> int:
    if mean > 3 and rng.random() < 0.01:
        return rng.randrange(40, 151)  # a long thread
    rest = (mean - 0.95) / 0.99 if mean > 3 else mean
    return 1 + int(rng.expovariate(1 / max(rest - 0.5, 0.01)))


def build(name: str, conversations: int, mpc: float) -> dict:
    import django

    sys.path.insert(0, str(ROOT))
    t_start = time.perf_counter()
    import psycopg

    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    dsn = f"{SERVER}/{name}"
    timings: dict[str, float] = {"migrate_s": round(time.perf_counter() - t_start, 1)}
    with psycopg.connect(dsn) as conn:
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {MARKER_TABLE} (key text PRIMARY KEY, value jsonb NOT NULL)"
        )
    loaded = load(dsn, conversations, mpc, timings=timings)
    marker = {
        "version": VERSION,
        "conversations": conversations,
        "messages_per_conversation": mpc,
        "build_s": round(time.perf_counter() - t_start, 1),
        **loaded,
    }
    with psycopg.connect(dsn) as conn:
        conn.execute(
            f"INSERT INTO {MARKER_TABLE} (key, value) VALUES ('dataset', %s) "
            "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            [json.dumps(marker)],
        )
    return marker


def load(
    dsn: str, conversations: int, mpc: float = 10, *, bulk: bool = True, timings: dict | None = None
) -> dict:
    """Generate the data set into the migrated database at `dsn`, on which Django is set up too.

    `bulk=False` keeps the indexes and skips VACUUM: a few hundred conversations into a test database.
    """
    import psycopg
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    from inbox.models import ChannelAccount, Membership, Organization

    rng = random.Random(20260101 + conversations)
    now = int(time.time())
    timings = {} if timings is None else timings

    # Small tables through the ORM (hashed passwords, encrypted credentials).
    password = make_password(PASSWORD)
    User = get_user_model()
    main = Organization.objects.create(name="Sklep Bench", slug="bench")
    other = Organization.objects.create(name="Inna firma", slug="bench-inna")

    def user(username: str, org, role: str, i: int):
        u = User.objects.create(
            username=username,
            password=password,
            first_name=FIRST_NAMES[i % len(FIRST_NAMES)],
            last_name=LAST_NAMES[(i * 7) % len(LAST_NAMES)],
            email=f"{username}@bench.example.pl",
        )
        Membership.objects.create(organization=org, user=u, role=role)
        return u

    user("bench-owner", main, "owner", 0)
    user("bench-lead", main, "lead", 1)
    agents = [user(f"agent{i:02d}", main, "agent", i + 2) for i in range(1, 21)]
    other_agents = [user(f"inna-agent{i}", other, "agent", i + 30) for i in (1, 2)]
    dead = {"access_token": "bench", "refresh_token": "bench"}

    def account(org, kind: str, label: str, ext: str):
        return ChannelAccount.objects.create(
            organization=org, kind=kind, name=label, external_id=ext, health="ok", credentials=dead
        )

    # (account, organization, conversation kinds with weights, share of conversations)
    accounts = [
        (account(main, "allegro", "Sklep Główny", "bench-1001"), main, 0.47),
        (account(main, "allegro", "Outlet Wyprzedaże", "bench-1002"), main, 0.18),
        (account(main, "allegro", "Części Zamienne", "bench-1003"), main, 0.12),
        (account(main, "email", "sklep@bench.example.pl", "sklep@bench.example.pl"), main, 0.20),
        (account(other, "allegro", "Inne Konto", "bench-2001"), other, 0.03),
    ]
    pools = _pools(rng, 3000)
    stamp = Stamp()
    t0 = time.perf_counter()

    # Bulk tables: no secondary indexes while loading.
    ctl = psycopg.connect(dsn)
    _session(ctl)
    index_ddl = _drop_secondary_indexes(ctl) if bulk else []

    # Contacts: a pool per organization; a conversation picks one with a skew (repeat buyers).
    n_contacts = {
        main.pk: max(1, int(conversations * 0.97 * 0.6)),
        other.pk: max(1, int(conversations * 0.03 * 0.6)),
    }
    contact_cols = ["id", "organization_id", "display_name", "created_at"]
    ident_cols = ["id", "organization_id", "contact_id", "kind", "value"]
    for table, cols in (("inbox_contact", contact_cols), ("inbox_contactidentity", ident_cols)):
        _check_columns(ctl, table, cols)
    contacts = Copier(dsn, "inbox_contact", contact_cols)
    idents = Copier(dsn, "inbox_contactidentity", ident_cols)
    contact_base: dict[int, int] = {}
    logins: list[str] = []
    cid = iid = 0
    created = stamp(now - 730 * 86400)
    for org_id, count in n_contacts.items():
        contact_base[org_id] = cid + 1
        for _ in range(count):
            cid += 1
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            login = f"{first.lower()}_{last.lower()}{cid}"
            logins.append(login)
            contacts.add(f"{cid}\t{org_id}\t{login}\t{created}\n")
            iid += 1
            idents.add(f"{iid}\t{org_id}\t{cid}\tallegro_login\t{login}\n")
            if cid % 5 == 0:
                iid += 1
                idents.add(f"{iid}\t{org_id}\t{cid}\temail\t{login}@poczta.example.pl\n")
    contacts.close()
    idents.close()

    conv_cols = [
        "id", "organization_id", "account_id", "kind", "external_id", "subject", "status", "assignee_id",
        "contact_id", "order_id", "offer_id", "marketplace_state", "reply_blocked_reason", "details",
        "created_at", "last_message_at", "last_inbound_at", "last_outbound_at", "last_reply_at",
        "awaiting_reply_since",
    ]  # fmt: skip
    msg_cols = [
        "id", "organization_id", "account_id", "conversation_id", "direction", "author_type",
        "author_user_id", "author_name", "classification", "subject", "text", "html", "external_id",
        "source_created_at", "created_at", "delivery_status", "delivered_at", "failure_reason", "attempts",
        "idempotency_key", "raw", "problems",
    ]  # fmt: skip
    read_cols = ["id", "user_id", "conversation_id", "read_at"]
    _check_columns(ctl, "inbox_conversation", conv_cols)
    _check_columns(ctl, "inbox_message", msg_cols)
    _check_columns(ctl, "inbox_conversationread", read_cols)
    convs = Copier(dsn, "inbox_conversation", conv_cols)
    msgs = Copier(dsn, "inbox_message", msg_cols)
    reads = Copier(dsn, "inbox_conversationread", read_cols)

    arrivals = arrival_times(conversations, now - 600, rng)
    timings["arrivals_s"] = round(time.perf_counter() - t0, 1)
    acc_cum = []
    total = 0.0
    for _acc, _org, share in accounts:
        total += share
        acc_cum.append(total)
    agent_names = {a.pk: a.get_full_name() for a in agents + other_agents}
    org_agents = {main.pk: [a.pk for a in agents], other.pk: [a.pk for a in other_agents]}
    kinds_allegro = (["message"] * 85) + (["discussion"] * 11) + (["claim"] * 4)
    awaiting_rows: list[tuple] = []  # (conversation id, org, kind, awaiting since, start message id)
    replies_30d: list[
        tuple
    ] = []  # (conversation, org, account, kind, channel, agent, received, replied, reply id)
    since_30d = now - 30 * 86400
    mid = rid = 0
    lognorm = rng.lognormvariate
    rand = rng.random
    choice = rng.choice
    for conv_id, t_created in enumerate(arrivals, start=1):
        acc, org, _share = accounts[_bisect(acc_cum, rand() * total)]
        org_id = org.pk
        channel = acc.kind
        kind = "email" if channel == "email" else choice(kinds_allegro)
        topic = rng.choices(TOPIC_NAMES, TOPIC_WEIGHTS)[0]
        buyer_pool, seller_pool = pools[topic]
        contact = contact_base[org_id] + int(n_contacts[org_id] * rand() ** 1.6)
        login = logins[contact - 1]
        age = now - t_created
        awaiting = rand() < (0.45 if age < 2 * 86400 else 0.25 if age < 7 * 86400 else 0.004)
        n = _message_count(rng, mpc)
        if not awaiting and n == 1:
            n = 2
        assignee = choice(org_agents[org_id]) if (not awaiting or rand() < 0.6) else None
        replier = assignee or choice(org_agents[org_id])
        # Directions: buyer first, then mostly alternating; the last one follows `awaiting`.
        dirs = ["in"]
        for _ in range(n - 1):
            prev = dirs[-1]
            dirs.append(
                ("out" if rand() < 0.8 else "in") if prev == "in" else ("in" if rand() < 0.85 else "out")
            )
        dirs[-1] = "in" if awaiting else "out"
        times = [t_created]
        for i in range(1, n):
            prev, cur = dirs[i - 1], dirs[i]
            if prev == "in" and cur == "out":
                gap = lognorm(math.log(5400), 1.0)  # an agent answers: ~1.5 h median
            elif prev == "out" and cur == "in":
                gap = lognorm(math.log(6 * 3600), 1.2)
            elif prev == "in":
                gap = lognorm(math.log(1800), 0.8)  # the buyer adds something
            else:
                gap = lognorm(math.log(8 * 3600), 0.8)
            times.append(times[-1] + 60 + int(min(gap, 20 * 86400)))
        if times[-1] > now - 60:  # a thread still going on: its last message somewhen before now
            span = times[-1] - t_created
            room = max(int((now - 60 - t_created) * (0.2 + 0.8 * rand())), n)
            times = [t_created + int((t - t_created) * room / span) for t in times] if span else times
            for i in range(1, n):  # strictly increasing: one episode per instant
                times[i] = max(times[i], times[i - 1] + 1)
        order_n = rng.randrange(10_000_000, 99_999_999)
        product = choice(PRODUCTS)
        if kind == "email":
            subject = EMAIL_SUBJECTS[topic].format(n=order_n, p=product)
        elif kind == "message":
            subject = "" if rand() < 0.5 else product.capitalize()
        else:
            subject = f"{'Dyskusja' if kind == 'discussion' else 'Reklamacja'}: {product}"
        last_in = last_out = awaiting_since = None
        start_msg = None
        first_unanswered = None  # (time, message id) of the earliest inbound since the last reply
        for i in range(n):
            mid += 1
            t = times[i]
            if dirs[i] == "in":
                opener = choice(BUYER_OPEN)
                body = " ".join(choice(buyer_pool) for _ in range(1 + (rand() < 0.4) + (rand() < 0.1)))
                close = choice(BUYER_CLOSE)
                text = f"{opener}\\n{body}\\n{close}" if opener else f"{body}\\n{close}"
                text = f"{text}\\n{login}" if close else text
                author = f"buyer\t\\N\t{login}"
                delivered, attempts = stamp(t), 0
                last_in = t
                if first_unanswered is None:
                    first_unanswered = (t, mid)
            else:
                who = replier if rand() < 0.9 else choice(org_agents[org_id])
                body = " ".join(choice(seller_pool) for _ in range(1 + (rand() < 0.5)))
                text = f"{choice(SELLER_OPEN)}\\n{body}\\n{choice(SELLER_CLOSE)}\\n{agent_names[who]}"
                author = f"agent\t{who}\t{agent_names[who]}"
                delivered, attempts = stamp(t + 2), 1
                if first_unanswered is not None and t >= since_30d:
                    replies_30d.append(
                        (conv_id, org_id, acc.pk, kind, channel, who, first_unanswered[0], t, mid)
                    )
                first_unanswered = None
                last_out = t
            msg_subject = f"Re: {subject}" if kind == "email" and i else (subject if kind == "email" else "")
            ext = f"<{mid}.bench@poczta.example.pl>" if channel == "email" else f"bench-m{mid}"
            ts = stamp(t)
            msgs.add(
                f"{mid}\t{org_id}\t{acc.pk}\t{conv_id}\t{dirs[i]}\t{author}\thuman\t{msg_subject}\t{text}\t\t"
                f"{ext}\t{ts}\t{ts}\tdelivered\t{delivered}\t\t{attempts}\t"
                f"00000000-0000-4000-8000-{mid:012x}\t{{}}\t[]\n"
            )
        if awaiting:
            awaiting_since, start_msg = first_unanswered
            awaiting_rows.append((conv_id, org_id, kind, awaiting_since, start_msg))
        status = "open" if awaiting or (now - times[-1] < 5 * 86400 and rand() < 0.7) else "closed"
        state = ""
        details: dict = {"buyer_login": login} if channel == "allegro" else {}
        if kind in ("discussion", "claim"):
            if kind == "discussion":
                state = (
                    "DISPUTE_ONGOING"
                    if status == "open"
                    else choice(["DISPUTE_CLOSED", "DISPUTE_UNRESOLVED"])
                )
            else:
                state = (
                    "CLAIM_SUBMITTED" if status == "open" else choice(["CLAIM_ACCEPTED", "CLAIM_REJECTED"])
                )
            opened = datetime.fromtimestamp(t_created, UTC).isoformat()
            details["issue"] = {
                "type": "DISPUTE" if kind == "discussion" else "CLAIM",
                "status": state,
                "openedDate": opened,
                "referenceNumber": f"{order_n % 100000:05d}/{t_created % 10000:04d}",
                "reason": {"type": choice(DISCUSSION_REASONS), "description": choice(buyer_pool)},
                "checkoutForm": {"id": f"{order_n:08x}-b3c4-11ef-9a1b-{conv_id:012x}", "createdAt": opened},
                "offer": {"id": str(10_000_000_000 + conv_id), "quantity": 1},
                "expectations": [{"name": choice(["REFUND", "EXCHANGE", "REPAIR"])}],
            }
        order_id = f"{order_n:08x}-b3c4-11ef-9a1b-{conv_id:012x}" if rand() < 0.8 else ""
        offer_id = str(10_000_000_000 + conv_id) if kind != "email" else ""
        ext_conv = f"<root{conv_id}@poczta.example.pl>" if channel == "email" else f"bench-t{conv_id}"
        convs.add(
            f"{conv_id}\t{org_id}\t{acc.pk}\t{kind}\t{ext_conv}\t{subject}\t{status}\t"
            f"{assignee if assignee else chr(92) + 'N'}\t{contact}\t{order_id}\t{offer_id}\t{state}\t\t"
            f"{copy_escape(json.dumps(details, ensure_ascii=False))}\t{stamp(t_created)}\t"
            f"{stamp(times[-1])}\t{stamp(last_in)}\t{stamp(last_out)}\t{stamp(last_out)}\t{stamp(awaiting_since)}\n"
        )
        if assignee and not awaiting:
            rid += 1
            reads.add(f"{rid}\t{assignee}\t{conv_id}\t{stamp(times[-1] + 30)}\n")
    counts = {
        "conversations": convs.close(),
        "messages": msgs.close(),
        "contacts": cid,
        "reads": reads.close(),
        "awaiting": len(awaiting_rows),
    }
    timings["load_s"] = round(time.perf_counter() - t0, 1)

    t1 = time.perf_counter()
    counts["clocks"], counts["records"] = _load_sla(dsn, ctl, awaiting_rows, replies_30d, now, stamp)
    timings["sla_s"] = round(time.perf_counter() - t1, 1)

    t1 = time.perf_counter()
    _recreate_indexes(dsn, index_ddl)
    for table in BULK_TABLES:
        ctl.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f"COALESCE((SELECT max(id) FROM {table}), 1))"
        )
    ctl.commit()
    timings["indexes_s"] = round(time.perf_counter() - t1, 1)

    t1 = time.perf_counter()
    from sla.services import _rollups_rebuild

    days = {datetime.fromtimestamp(r[7], WARSAW).date() for r in replies_30d}
    for org in (main, other):
        _rollups_rebuild(org.pk, days)
    timings["rollups_s"] = round(time.perf_counter() - t1, 1)

    if bulk:
        t1 = time.perf_counter()
        ctl.autocommit = True
        ctl.execute("VACUUM ANALYZE")
        timings["vacuum_analyze_s"] = round(time.perf_counter() - t1, 1)
        ctl.autocommit = False
    size = ctl.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()[0]
    ctl.close()
    return {
        "built_at": datetime.fromtimestamp(now, UTC).isoformat(),
        "timings": timings,
        "counts": counts,
        "size": size,
        "main_organization": main.pk,
        "other_organization": other.pk,
    }


def _recreate_indexes(dsn: str, ddl: list[str]) -> None:
    """Two at a time (GIN ones first: the longest), each on its own connection."""
    from concurrent.futures import ThreadPoolExecutor

    import psycopg

    def run(statement: str) -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("SET maintenance_work_mem = '1GB'")
            conn.execute(statement)

    ordered = sorted(ddl, key=lambda statement: "USING gin" not in statement)
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(run, ordered))


def _bisect(cum: list[float], x: float) -> int:
    for i, c in enumerate(cum):
        if x < c:
            return i
    return len(cum) - 1


def _load_sla(dsn, ctl, awaiting_rows, replies_30d, now: int, stamp: Stamp) -> tuple[int, int]:
    """Open clocks of the waiting conversations and the last 30 days' response records, planned with
    the organization's effective policies exactly as the SLA engine plans them."""
    from sla.selectors import sla_policies_effective

    policies: dict[int, dict] = {}

    def specs(org_id: int, kind: str):
        if org_id not in policies:
            policies[org_id] = sla_policies_effective(organization_id=org_id)
        return policies[org_id][kind].clocks()

    clock_cols = [
        "id", "organization_id", "conversation_id", "kind", "start_message_id", "started_at", "due_at",
        "next_warn_at", "warned_levels", "breached_at", "policy_snapshot", "created_at",
    ]  # fmt: skip
    _check_columns(ctl, "sla_slaclock", clock_cols)
    clocks = Copier(dsn, "sla_slaclock", clock_cols)
    now_dt = datetime.fromtimestamp(now, UTC)
    plans: dict[tuple, object] = {}
    cl_id = 0
    for conv_id, org_id, kind, since, start_msg in awaiting_rows:
        started = datetime.fromtimestamp(since, UTC)
        for spec in specs(org_id, kind):
            plan = spec.plan(started)
            cl_id += 1
            breached = plan.due_at <= now_dt
            later = [w for w in plan.warn_at if w > now_dt]
            next_warn = int(later[0].timestamp()) if later and not breached else None
            clocks.add(
                f"{cl_id}\t{org_id}\t{conv_id}\t{spec.kind}\t{start_msg}\t{stamp(since)}\t"
                f"{stamp(int(plan.due_at.timestamp()))}\t{stamp(next_warn)}\t{plan.passed_levels(now_dt)}\t"
                f"{stamp(int(plan.due_at.timestamp())) if breached else chr(92) + 'N'}\t"
                f"{copy_escape(json.dumps(plan.snapshot()))}\t{stamp(since)}\n"
            )
    n_clocks = clocks.close()

    rec_cols = [
        "id", "organization_id", "conversation_id", "account_id", "conversation_kind", "channel",
        "reply_message_id", "agent_id", "received_at", "replied_at", "wall_seconds", "marketplace_due_at",
        "marketplace_seconds", "marketplace_met", "team_due_at", "team_seconds", "team_met",
        "no_reply_needed", "no_reply_reason", "decided_at", "day", "created_at",
    ]  # fmt: skip
    _check_columns(ctl, "sla_responserecord", rec_cols)
    records = Copier(dsn, "sla_responserecord", rec_cols)
    for rec_id, row in enumerate(replies_30d, start=1):
        conv_id, org_id, acc_id, kind, channel, agent, received, replied, reply_id = row
        received_dt = datetime.fromtimestamp(received, UTC)
        replied_dt = datetime.fromtimestamp(replied, UTC)
        market, *team = specs(org_id, kind)
        key = (org_id, kind, received // 60)
        plan = plans.get(key) or plans.setdefault(key, market.plan(received_dt))
        m_seconds = int(market.running_time(received_dt, replied_dt).total_seconds())
        decided = min(replied, int(plan.due_at.timestamp()))
        team_cols = "\\N\t\\N\t\\N"
        if team:
            team_plan = team[0].plan(received_dt)
            t_seconds = int(team[0].running_time(received_dt, replied_dt).total_seconds())
            met = "t" if replied_dt <= team_plan.due_at else "f"
            team_cols = f"{stamp(int(team_plan.due_at.timestamp()))}\t{t_seconds}\t{met}"
        records.add(
            f"{rec_id}\t{org_id}\t{conv_id}\t{acc_id}\t{kind}\t{channel}\t{reply_id}\t{agent}\t"
            f"{stamp(received)}\t{stamp(replied)}\t{replied - received}\t"
            f"{stamp(int(plan.due_at.timestamp()))}\t"
            f"{m_seconds}\t{'t' if replied_dt <= plan.due_at else 'f'}\t{team_cols}\tf\t\t{stamp(decided)}\t"
            f"{datetime.fromtimestamp(decided, WARSAW).date().isoformat()}\t{stamp(replied)}\n"
        )
    return n_clocks, records.close()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--messages-per-conversation", type=float, default=10)
    parser.add_argument("--rebuild", action="store_true", help="drop and build even if complete")
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--build-here", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--migrate-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build_here or args.migrate_only:  # the child process ensure() starts, Django set up here
        sys.path.insert(0, str(ROOT))
        if args.migrate_only:
            import django
            from django.core.management import call_command

            django.setup()
            call_command("migrate", verbosity=0)
            return 0
        marker = build(args.db, args.conversations, args.messages_per_conversation)
        print(json.dumps(marker, ensure_ascii=False))
        return 0
    name = db_name(args.conversations)
    if args.rebuild:
        import psycopg

        with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    start = time.perf_counter()
    existed = read_marker(name) is not None
    ensure(args.conversations, args.messages_per_conversation)
    marker = read_marker(name) or {}
    took = time.perf_counter() - start
    print(
        f"{name}: {'reused' if existed and took < marker.get('build_s', 0) else 'built'} in {took:.1f} s "
        f"(build {marker.get('build_s')} s: {marker.get('timings')}); {marker.get('counts')}; "
        f"{marker.get('size')}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
