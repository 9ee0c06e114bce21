"""`?q=` on the conversation list (issue #9): ranked, paged, scoped to the token's organization."""

from __future__ import annotations

from tests.api.conftest import buyer_message
from tests.factories import ChannelAccountFactory, OrganizationFactory

URL = "/api/v1/conversations/"


def test_search_finds_by_words_without_accents_and_ranks(api, account):
    older = buyer_message(account, thread="t-1", external_id="m-1", text="Proszę o zwrot pieniędzy", ago=5)
    newer = buyer_message(account, thread="t-2", external_id="m-2", text="Zwrot pieniędzy kiedy?", ago=1)
    buyer_message(account, thread="t-3", external_id="m-3", text="Gdzie paczka?", ago=1)
    response = api.get(URL, {"q": "zwrot pieniedzy"})
    assert response.status_code == 200, response.content
    assert [c["id"] for c in response.json()["results"]] == [newer.conversation_id, older.conversation_id]


def test_search_pages_through_the_ranking(api, account):
    for i in range(5):
        buyer_message(account, thread=f"t-{i}", external_id=f"m-{i}", text=f"Faktura numer {i}", ago=i + 1)
    seen, cursor = [], None
    while True:
        params = {"q": "faktura", "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = api.get(URL, params).json()
        seen += [c["id"] for c in page["results"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 5 and len(set(seen)) == 5


def test_another_organizations_conversations_are_never_found(api, account):
    ours = buyer_message(account, thread="t-ours", text="Reklamacja żółtego czajnika")
    other_account = ChannelAccountFactory(organization=OrganizationFactory(slug="obcy"))
    buyer_message(other_account, thread="t-theirs", external_id="x-1", text="Reklamacja żółtego czajnika")
    ids = [c["id"] for c in api.get(URL, {"q": "zolty czajnik"}).json()["results"]]
    assert ids == [ours.conversation_id]
    buyer_message(other_account, thread="t-theirs-2", external_id="x-2", text="Hulajnoga elektryczna")
    for q in ("hulajnoga", "hulajn", "hulajnoha"):  # a word, a fragment, a typo: only theirs has it
        assert api.get(URL, {"q": q}).json()["results"] == []


def test_search_validation(api, account):
    buyer_message(account)
    too_long = api.get(URL, {"q": "x" * 201})
    assert too_long.status_code == 400 and "q" in str(too_long.json())
    no_word = api.get(URL, {"q": "?!"})
    assert no_word.status_code == 400 and "q" in str(no_word.json())
    # Blank: no search, the plain list.
    assert len(api.get(URL, {"q": "  "}).json()["results"]) == 1


def test_the_schema_documents_q(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/json").content.decode()
    assert '"name": "q"' in schema or "name: q" in schema
