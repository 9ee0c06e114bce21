"""Search (issue #9): accents, Polish letters, fragments, typos, ranking, tenancy, safe snippets."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from inbox import search, selectors, services
from integrations.contracts import InboundMessage
from tests.factories import ChannelAccountFactory


def receive(account, text, *, thread, login="", ago=1, order_id="", subject="", external_id=None):
    item = InboundMessage(
        external_id=external_id or f"{thread}-{abs(hash(text))}",
        conversation_external_id=thread,
        conversation_kind="message",
        direction="in",
        author_type="buyer",
        created_at=timezone.now() - timedelta(hours=ago),
        text=text,
        buyer_login=login,
        order_id=order_id,
        subject=subject,
    )
    message, _ = services.message_receive(account, item)
    return message.conversation


def find(org, user, q, **kwargs):
    return selectors.conversation_search(organization=org, user=user, q=q, **kwargs)


def ids(rows):
    return [c.pk for c in rows]


@pytest.fixture
def shop(account):
    """A few conversations of `org`."""
    return {
        "zwrot": receive(
            account, "Dzień dobry, chcę zgłosić Zwrot towaru.", thread="t-zwrot", login="ania_k", ago=5
        ),
        "zolty": receive(
            account, "Czy ten żółty czajnik jest w Łodzi?", thread="t-zolty", login="bartek", ago=4
        ),
        "order": receive(
            account,
            "Gdzie jest paczka do zamówienia 29a7f0b0-4c1e-11ee?",
            thread="t-order",
            login="celina",
            ago=3,
        ),
        "xss": receive(
            account, 'Proszę <script>alert("x")</script> o fakturę', thread="t-xss", login="darek", ago=2
        ),
    }


def test_a_word_is_found_whatever_its_case_and_accents(org, alice, shop):
    assert ids(find(org, alice, "zwrot")) == [shop["zwrot"].pk]
    assert ids(find(org, alice, "ZWROT")) == [shop["zwrot"].pk]
    # Polish letters typed without their diacritics, and the other way round.
    assert ids(find(org, alice, "zolty")) == [shop["zolty"].pk]
    assert ids(find(org, alice, "lodzi")) == [shop["zolty"].pk]
    assert ids(find(org, alice, "ŻÓŁTY")) == [shop["zolty"].pk]
    assert ids(find(org, alice, "zwrót")) == [shop["zwrot"].pk]


def test_words_are_prefixes_so_inflected_forms_match(org, alice, account, shop):
    later = receive(account, "Czekam na zwrotu pieniędzy", thread="t-later", ago=1)
    assert set(ids(find(org, alice, "zwrot"))) == {shop["zwrot"].pk, later.pk}
    assert set(ids(find(org, alice, "zwrotu"))) == {shop["zwrot"].pk, later.pk}
    # Trailing vowels are dropped: another case of the adjective, written without diacritics.
    other = receive(account, "Nie mam żółtego kabla", thread="t-other", ago=1)
    assert set(ids(find(org, alice, "zolty"))) == {shop["zolty"].pk, other.pk}


def test_a_fragment_of_an_order_number_in_the_text_is_found(org, alice, shop):
    rows = find(org, alice, "4c1e-11")
    assert ids(rows) == [shop["order"].pk]
    assert "<mark>4c1e-11</mark>" in rows[0].search_snippet


def test_buyer_login_fragment_and_typo(org, alice, account, shop):
    rows = find(org, alice, "nia_")  # a fragment of ania_k, underscore taken literally
    assert ids(rows) == [shop["zwrot"].pk]
    assert rows[0].search_hit.tier == search.TIER_BUYER
    assert "<mark>" in rows[0].search_snippet
    # A typo in the login: nothing matches exactly, so similar logins are offered.
    jan = receive(account, "Witam", thread="t-jan", login="jan_kowalski")
    rows = find(org, alice, "kowalsky")
    assert ids(rows) == [jan.pk]
    assert rows[0].search_hit.tier == search.TIER_TYPO


def test_order_id_field_and_subject(org, alice, account):
    conv = receive(
        account, "Dzień dobry", thread="t-field", order_id="a1b2c3d4-9999", subject="Reklamacja kurtki"
    )
    assert ids(find(org, alice, "c3d4-99")) == [conv.pk]
    assert ids(find(org, alice, "kurtki")) == [conv.pk]


def test_ranking_buyer_then_phrase_then_words_then_newest(org, alice, account):
    words = receive(account, "Pieniędzy nie dostałem, zwrot był tydzień temu", thread="t-words", ago=1)
    phrase_old = receive(account, "Proszę o zwrot pieniędzy", thread="t-phrase-old", ago=30)
    phrase_new = receive(account, "Kiedy zwrot pieniędzy?", thread="t-phrase-new", ago=10)
    buyer = receive(account, "Dzień dobry", thread="t-buyer", login="firma123", ago=50)
    buyer.contact.display_name = "Zwrot Pieniędzy sp. z o.o."  # a buyer's name that happens to match
    buyer.contact.save()
    rows = find(org, alice, "zwrot pieniedzy")
    assert ids(rows) == [buyer.pk, phrase_new.pk, phrase_old.pk, words.pk]
    assert [c.search_hit.tier for c in rows] == [
        search.TIER_BUYER,
        search.TIER_PHRASE,
        search.TIER_PHRASE,
        search.TIER_WORDS,
    ]


def test_another_organizations_messages_are_never_found(org, alice, charlie, shop):
    other_account = ChannelAccountFactory(organization=charlie.memberships.get().organization)
    theirs = receive(other_account, "Zwrot towaru, żółty czajnik", thread="t-theirs", login="ania_k2")
    for q in ("zwrot", "zolty", "ania_k", "czajnik"):
        assert theirs.pk not in ids(find(org, alice, q))
    assert ids(find(theirs.organization, charlie, "zwrot")) == [theirs.pk]


@pytest.mark.parametrize("small_scope", [0, search.SMALL_SCOPE])
def test_filters_combine_with_the_search(org, alice, bob, account, shop, small_scope, monkeypatch):
    """A filter with few conversations is searched from their messages, a larger one per message."""
    monkeypatch.setattr(search, "SMALL_SCOPE", small_scope)
    services.conversation_assign(shop["zolty"], assignee=alice, acting_user=alice)
    receive(account, "Drugi żółty czajnik", thread="t-zolty-2")
    assert ids(find(org, alice, "zolty", filter_name="mine")) == [shop["zolty"].pk]
    services.conversation_close(shop["zolty"], acting_user=alice)
    assert ids(find(org, alice, "czajnik", filter_name="closed")) == [shop["zolty"].pk]


def test_blank_punctuation_only_and_too_long_queries(org, alice, shop):
    assert find(org, alice, "   ") == []
    assert search.search_query_parse("   ").error == ""  # blank: no search, no complaint
    assert search.search_query_parse("?!…").error  # no word to look for
    assert find(org, alice, "?!…") == []
    long = "zwrot " * 50
    assert search.search_query_parse(long).error
    assert find(org, alice, long) == []
    # A one-letter word is searched as a whole word (no substring search under three characters).
    assert find(org, alice, "z") == []


def test_snippet_escapes_the_message_then_marks_the_match(org, alice, shop):
    [row] = find(org, alice, "fakturę")
    snippet = str(row.search_snippet)
    assert "<script>" not in snippet
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in snippet
    assert "<mark>fakturę</mark>" in snippet
    # A query that is itself markup is matched as text.
    [row] = find(org, alice, "<script>")
    assert "<mark>&lt;script&gt;</mark>" in str(row.search_snippet)


def test_highlight_keeps_positions_with_polish_letters_and_cuts_long_texts():
    query = search.search_query_parse("zolw")
    text = "a " * 100 + "Żółw <b>idzie</b> " + "b " * 200
    snippet = str(search.highlight(text, query))
    assert "<mark>Żółw</mark> &lt;b&gt;idzie&lt;/b&gt;" in snippet
    assert snippet.startswith("…") and snippet.endswith("…")
    assert len(snippet) < 300


def test_the_inbox_search_box_shows_escaped_snippets(client, alice, shop):
    client.force_login(alice)
    response = client.get(reverse("inbox:conversation-list"), {"q": "faktur"})
    body = response.content.decode()
    assert response.status_code == 200
    assert f'data-conversation="{shop["xss"].pk}"' in body
    assert f'data-conversation="{shop["zwrot"].pk}"' not in body
    assert 'alert("x")' not in body and "<script>alert" not in body
    assert "&lt;script&gt;" in body and "<mark>fakturę</mark>" in body
    assert 'name="q" value="faktur"' in body
    # Search results are not polled every 10 s.
    assert "every 10s" not in body.split('id="conversation-list"')[1].split(">")[0]


def test_the_inbox_search_messages(client, alice, shop):
    client.force_login(alice)
    body = client.get(reverse("inbox:conversation-list"), {"q": "niczego-takiego-nie-ma"}).content.decode()
    assert "data-search-empty" in body
    body = client.get(reverse("inbox:conversation-list"), {"q": "x" * 300}).content.decode()
    assert 'role="alert"' in body and "200" in body
    body = client.get(reverse("inbox:conversation-list"), {"q": "!!!"}).content.decode()
    assert 'role="alert"' in body


def test_the_inbox_search_via_htmx_partial_and_with_a_filter(client, alice, shop):
    client.force_login(alice)
    response = client.get(
        reverse("inbox:conversation-list"),
        {"q": "zolty", "filter": "awaiting"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="conversation-list",
    )
    body = response.content.decode()
    assert body.lstrip().startswith('<ul id="conversation-list"')
    assert f'data-conversation="{shop["zolty"].pk}"' in body
    assert "<mark>żółty</mark>" in body


def test_an_outsider_finds_nothing_of_ours_in_the_inbox(client, charlie, shop):
    client.force_login(charlie)
    body = client.get(reverse("inbox:conversation-list"), {"q": "zwrot"}).content.decode()
    assert f'data-conversation="{shop["zwrot"].pk}"' not in body


def test_query_count_is_constant(org, alice, account, django_assert_max_num_queries):
    for i in range(30):
        receive(account, f"Zwrot numer {i}", thread=f"t-{i}", login=f"kupujacy{i}")
    with django_assert_max_num_queries(12):  # SET LOCAL work_mem + at most 11
        rows = find(org, alice, "zwrot")
        assert len(rows) == 30 and all(c.search_snippet for c in rows)


def test_sqlite_fallback_branch(org, alice, shop, monkeypatch):
    """The embedded database has no unaccent, trigram or tsvector: `icontains` per word instead."""
    monkeypatch.setattr(search, "is_postgresql", lambda: False)
    assert ids(find(org, alice, "ZWROT towaru")) == [shop["zwrot"].pk]
    assert ids(find(org, alice, "ania_")) == [shop["zwrot"].pk]
    assert ids(find(org, alice, "4c1e-11ee")) == [shop["order"].pk]
    [row] = find(org, alice, "faktur")
    assert "&lt;script&gt;" in str(row.search_snippet) and "<mark>fakturę</mark>" in str(row.search_snippet)


@pytest.mark.parametrize(
    "q, index",
    [
        ("zwrot", "msg_search_fts_idx"),
        ("4c1e-11", "msg_search_trgm_idx"),
        ("4c1e-11", "conv_search_trgm_idx"),
        ("ania_", "contact_search_trgm_idx"),
        ("ania_", "contactidentity_search_trgm_idx"),
        ("kowalsky", "conv_search_trgm_idx"),  # typo: %> over the trigram index
    ],
)
def test_the_queries_can_use_the_search_indexes(org, alice, shop, q, index, monkeypatch):
    """Each condition is written exactly as its index expression (migration 0004), the organization
    inside the index. On these tiny tables the planner would rather walk a btree, so the other
    indexes are dropped for the test (DDL is transactional: the test's rollback restores them)."""
    from django.test.utils import CaptureQueriesContext

    # The newest message walked, then the word index asked (a common word's walk needs no index).
    monkeypatch.setattr(search, "WALK_ROWS", 1)
    tables = ("inbox_message", "inbox_conversation", "inbox_contact", "inbox_contactidentity")
    plans = []
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending FK checks: the tables can be altered
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = ANY(%s) AND indexname NOT LIKE '%%search%%' "
            "AND indexname NOT LIKE '%%pkey' AND indexname NOT IN "
            "(SELECT conname FROM pg_constraint WHERE contype IN ('u', 'p'))",
            [list(tables)],
        )
        for (name,) in cursor.fetchall():
            cursor.execute(f'DROP INDEX "{name}"')
        cursor.execute(
            "SELECT conrelid::regclass::text, conname FROM pg_constraint WHERE contype = 'u' "
            "AND conrelid::regclass::text = ANY(%s)",
            [list(tables)],
        )
        for table, name in cursor.fetchall():
            cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        cursor.execute("SET LOCAL enable_seqscan = off")
        with CaptureQueriesContext(connection) as ctx:
            search.search_hits(organization=org, query=search.search_query_parse(q), wanted=50)
        for query in ctx.captured_queries:
            if not query["sql"].lstrip("(").startswith("SELECT"):
                continue  # SET LOCAL work_mem
            cursor.execute("EXPLAIN " + query["sql"])
            plans.append("\n".join(row[0] for row in cursor.fetchall()))
    assert any(index in plan and "organization_id" in plan for plan in plans), plans


@pytest.mark.parametrize("walk_rows", [1, 2, search.WALK_ROWS])
def test_older_messages_are_found_after_the_recent_ones(org, alice, account, walk_rows, monkeypatch):
    """The newest messages are tested one by one first; then each query looks at the last day, then
    the week, and at older rows when that is not a page. The same hits whatever was walked."""
    monkeypatch.setattr(search, "WALK_ROWS", walk_rows)
    old = receive(
        account, "Stara reklamacja pralki", thread="t-old", ago=24 * (max(search.RECENT_WINDOWS_DAYS) + 30)
    )
    week = receive(account, "Reklamacja pralki sprzed trzech dni", thread="t-week", ago=72)
    new = receive(account, "Nowa reklamacja pralki", thread="t-new", ago=2)
    assert ids(find(org, alice, "reklamacja pralki")) == [new.pk, week.pk, old.pk]
    assert ids(find(org, alice, "stara")) == [old.pk]
