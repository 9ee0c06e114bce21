"""Search over an organization's conversations (issue #9): the query, the matching, the snippets.

`inbox.selectors.conversation_search` is the entry point; this module finds and ranks the hits.

PostgreSQL (production, tests): every condition is written exactly as an index expression of
migration 0004, each index led by `organization_id`, so an index scan is scoped to the organization:

* message words — `to_tsvector('simple', immutable_unaccent(text)) @@ to_tsquery(...)`, every word
  of the query a prefix with its trailing vowels dropped (`'zolt':*` finds "żółty", "żółtego":
  cheap Polish inflection, there is no Polish stemmer in PostgreSQL), all words required; a hit
  whose words also stand in the query's order (`<->`) is a phrase hit;
* substrings — `immutable_unaccent(lower(...)) LIKE '%…%'` over trigram indexes: conversation
  subject + order id + buyer login, buyer names and identities (logins, e-mail addresses), and message
  text when nothing else matched;
* typos — `immutable_unaccent(lower(...)) %> '…'` (trigram word similarity) on the buyer and
  conversation fields, only when nothing else matched. Message text is not searched with typos: at
  ten million messages the common trigrams make that scan too expensive.

Each query reads at most `CANDIDATES` rows newest first. Message words are first tested row by row
on the organization's newest WALK_ROWS messages (walking `msg_org_time_idx`), where a common word
fills its page; a rarer one then reads the word's entries from the GIN index, a day, a week, then
the rest at a time (`newest_first`), and sorts those. The hits are grouped by conversation and
ranked: buyer / order id match, phrase, all words, substring, typo; newest first within each.

SQLite (`make run`'s embedded default): the same tiers with `icontains` (case-insensitive for ASCII
only, diacritics significant) and no typo tolerance.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from django.db import connection, transaction
from django.db.models import (
    BooleanField,
    Exists,
    F,
    Func,
    OuterRef,
    Q,
    QuerySet,
    TextField,
    Value,
)
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from .models import Contact, ContactIdentity, Conversation, Message, Organization

MAX_QUERY_LENGTH = 200
MAX_TERMS = 8
# Substring (trigram) and typo searches need at least one trigram.
MIN_FRAGMENT = 3
# Newest matching rows read per query (a few per conversation shown, at least MIN_CANDIDATES);
# conversations beyond them are not ranked.
MIN_CANDIDATES = 150
CANDIDATES = 600
# How many conversations a search returns at most (the API pages through them).
MAX_RESULTS = 200

# Ranking tiers, best first.
TIER_BUYER = 0  # order id, buyer login / name / e-mail
TIER_PHRASE = 1  # the query's words in its order (a one-word query: that word)
TIER_WORDS = 2  # all the query's words
TIER_SUBSTRING = 3
TIER_TYPO = 4

# Message words: the newest messages tested one by one before the word index is asked (_word_hits).
WALK_ROWS = 10000
# A filter that keeps at most this many conversations is searched from their messages (_search_hits).
SMALL_SCOPE = 2000
# The first queries of each search look at the last day, then the last week (see newest_first).
RECENT_WINDOWS_DAYS = (1, 7)
# work_mem of the search's transaction (SET LOCAL): its bitmaps stay exact.
SEARCH_WORK_MEM = "64MB"

SNIPPET_BEFORE = 60
SNIPPET_LENGTH = 180


# --- the query ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchQuery:
    raw: str  # as typed, whitespace collapsed
    terms: tuple[str, ...] = ()  # folded words
    fragment: str = ""  # folded, whitespace collapsed: the substring to look for
    error: str = ""  # why it is not searched (translated), or ""

    @property
    def ok(self) -> bool:
        return bool(self.terms) and not self.error


def search_query_parse(raw: str | None) -> SearchQuery:
    """The words of a query; an error (and no words) for a query that is too long or has no word."""
    text = " ".join((raw or "").split())
    if len(text) > MAX_QUERY_LENGTH:
        return SearchQuery(
            raw=text[:MAX_QUERY_LENGTH],
            error=_("The search is too long (at most %(n)s characters).") % {"n": MAX_QUERY_LENGTH},
        )
    folded = fold(text)
    terms = tuple(dict.fromkeys(_stem(w) for w in re.findall(r"[^\W_]+", folded)))[:MAX_TERMS]
    if not terms:
        error = _("Type a word, an order number or a buyer's login to search.") if text else ""
        return SearchQuery(raw=text, error=error)
    return SearchQuery(raw=text, terms=terms, fragment=folded)


def _stem(word: str) -> str:
    """A crude Polish stem: the trailing vowels of a longer word go ("zolty" → "zolt", "faktura" →
    "faktur"), and as every word is searched as a prefix, "żółty" then finds "żółtego" and "zwrotu"
    finds "zwrot". Words with digits (order numbers, codes) are kept as they are."""
    if len(word) < 5 or not word.isalpha():
        return word
    stem = word.rstrip("aeiouy")
    return stem if len(stem) >= 4 else word


# Letters that Unicode does not decompose into a base letter and an accent (PostgreSQL's unaccent
# maps them): Polish ł above all.
_FOLD_EXTRA = {"ł": "l", "đ": "d", "ø": "o", "ħ": "h", "ı": "i", "ŧ": "t"}


@lru_cache(maxsize=4096)
def _fold_char(char: str) -> str:
    lower = char.lower()
    if len(lower) != 1:
        lower = char
    if lower in _FOLD_EXTRA:
        return _FOLD_EXTRA[lower]
    base = [c for c in unicodedata.normalize("NFKD", lower) if not unicodedata.combining(c)]
    return base[0] if len(base) == 1 else lower


def fold(text: str) -> str:
    """Lower case without diacritics, one character for one ("Żółty" → "zolty"): positions in the
    folded text are positions in the original, which the snippet relies on."""
    return "".join(_fold_char(c) for c in text)


@lru_cache(maxsize=1)
def _accent_classes() -> dict[str, str]:
    """Each ASCII letter and every Latin letter that folds to it, both cases: "l" → "lLłŁĺĹļĻľĽŀĿ"."""
    classes = {c: c + c.upper() for c in "abcdefghijklmnopqrstuvwxyz"}
    for code in (*range(0xC0, 0x250), *range(0x1E00, 0x1F00)):
        char = chr(code)
        base = fold(char)
        if base in classes and char not in classes[base] and unicodedata.category(char).startswith("L"):
            classes[base] += char
    return classes


def _accent_regex(term: str) -> str:
    """A POSIX regular expression finding `term` (folded) in raw text, whatever the accents and case."""
    classes = _accent_classes()
    return "".join(f"[{classes[c]}]" if c in classes else re.escape(c) for c in term)


def _like_pattern(fragment: str) -> str:
    escaped = fragment.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _tsquery(terms: tuple[str, ...], operator: str) -> str:
    # Words are letters and digits only (see search_query_parse), so quoting them is safe.
    return f" {operator} ".join(f"'{t}':*" if len(t) >= MIN_FRAGMENT else f"'{t}'" for t in terms)


# --- PostgreSQL expressions (exactly the index expressions of migration 0004) -----------------


class Unaccent(Func):
    function = "immutable_unaccent"
    output_field = TextField()


class _Binary(Func):
    """`<lhs> <operator> <rhs>` as a boolean condition."""

    operator = ""
    output_field = BooleanField()

    def as_sql(self, compiler, connection, **extra):
        lhs, lhs_params = compiler.compile(self.source_expressions[0])
        rhs, rhs_params = compiler.compile(self.source_expressions[1])
        return f"({lhs} {self.operator} {rhs})", [*lhs_params, *rhs_params]


class Like(_Binary):
    operator = "LIKE"


class Regex(_Binary):
    operator = "~"


class WordSimilar(_Binary):
    """pg_trgm: the query (right) is like a word of the text (left), see word_similarity_threshold."""

    operator = "%%>"  # %% : the SQL goes through the driver's parameter formatting


class TextMatches(Func):
    """The text's words match the tsquery: the GIN index `msg_search_fts_idx`.

    `indexed=False` tests the same with the operator's function, ts_match_vq(), which no index serves:
    the planner then has to test row by row what the query's other conditions select."""

    output_field = BooleanField()

    def __init__(self, *expressions, indexed: bool = True):
        super().__init__(*expressions)
        self.indexed = indexed

    def as_sql(self, compiler, connection, **extra):
        text, text_params = compiler.compile(self.source_expressions[0])
        query, query_params = compiler.compile(self.source_expressions[1])
        vector = f"to_tsvector('simple'::regconfig, immutable_unaccent({text}))"
        tsquery = f"to_tsquery('simple'::regconfig, immutable_unaccent({query}))"
        sql = f"({vector} @@ {tsquery})" if self.indexed else f"ts_match_vq({vector}, {tsquery})"
        return sql, [*text_params, *query_params]


class ConversationFields(Func):
    """Subject, order id and buyer login of a conversation, folded: the index `conv_search_trgm_idx`."""

    output_field = TextField()

    def __init__(self):
        super().__init__(F("subject"), F("order_id"), F("details"))

    def as_sql(self, compiler, connection, **extra):
        (subject, _p1), (order_id, _p2), (details, _p3) = (
            compiler.compile(e) for e in self.source_expressions
        )
        sql = (
            f"immutable_unaccent(lower({subject} || ' ' || {order_id} || ' ' || "
            f"coalesce({details} ->> 'buyer_login', '')))"
        )
        return sql, []


def _folded(name: str) -> Unaccent:
    return Unaccent(Lower(name))


def is_postgresql() -> bool:
    return connection.vendor == "postgresql"


# --- hits ---------------------------------------------------------------------------------------


@dataclass
class Hit:
    """The best reason a conversation matched."""

    conversation_id: int
    tier: int
    at: datetime | None
    message_id: int | None = None  # the message the snippet comes from
    field_label: str = ""  # or the field it comes from (with `field_text`)
    field_text: str = ""


def _add(hits: dict[int, Hit], hit: Hit) -> None:
    """Keep a conversation's best hit: lower tier, then newer."""
    old = hits.get(hit.conversation_id)
    if old is None or (hit.tier, -_ts(hit.at)) < (old.tier, -_ts(old.at)):
        hits[hit.conversation_id] = hit


def _ts(at: datetime | None) -> float:
    return at.timestamp() if at else 0.0


def newest_first(qs: QuerySet, field: str, depth: int) -> list:
    """The `depth` newest rows of `qs` by `field`: those of the last day first, then of the rest of the
    week, then (only while they are fewer than `depth`) the older ones (RECENT_WINDOWS_DAYS).

    Bounding each query by time bounds its cost at any size: a word found in 1 % of the messages has
    100,000 hits at 10 million; sorting them all, or walking the newest messages until `depth` of them
    turn up, both take seconds — and a prefix search makes PostgreSQL recompute the text's tsvector
    for every candidate row (a GIN prefix match is rechecked). A word with few hits in the last day
    needs the next window, and a word with fewer than `depth` hits in a week is rare enough for its
    index entries to be read in full. (The commonest words never get here: `_word_hits` walks the
    newest messages first.)"""
    now = timezone.now()
    rows: list = []
    newer_than: datetime | None = None
    for days in RECENT_WINDOWS_DAYS:
        since = now - timedelta(days=days)
        window = qs.filter(**{f"{field}__gte": since})
        if newer_than is not None:
            window = window.filter(**{f"{field}__lt": newer_than})
        rows += list(window.order_by(f"-{field}")[: depth - len(rows)])
        if len(rows) >= depth:
            return rows
        newer_than = since
    older = Q(**{f"{field}__lt": newer_than}) | Q(**{f"{field}__isnull": True})
    rows += list(qs.filter(older).order_by(F(field).desc(nulls_last=True))[: depth - len(rows)])
    return rows


def search_hits(
    *, organization: Organization, query: SearchQuery, conversations: Q | None = None, wanted: int = 50
) -> list[Hit]:
    """The conversations matching `query`, best first (at most MAX_RESULTS).

    `conversations`: a condition on Conversation (the inbox's filter), applied inside each query so
    the candidates already respect it. `wanted`: how many conversations the caller shows (how deep
    each query reads).
    """
    if not query.ok:
        return []
    postgres = is_postgresql()
    if not postgres:
        return _search_hits(organization, query, conversations, wanted, postgres=False)
    # A common word's bitmap of matching rows outgrows the default work_mem (4 MB) and turns lossy:
    # PostgreSQL then re-runs to_tsvector() on every row of every lossy page (seconds).
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL work_mem = '{SEARCH_WORK_MEM}'")
        return _search_hits(organization, query, conversations, wanted, postgres=True)


def _search_hits(
    organization: Organization, query: SearchQuery, conversations: Q | None, wanted: int, *, postgres: bool
) -> list[Hit]:
    hits: dict[int, Hit] = {}
    conv_qs = Conversation.objects.filter(organization=organization)
    msg_qs = Message.objects.filter(organization=organization)
    scoped = False  # the messages of a filter's few conversations
    if conversations is not None:
        conv_qs = conv_qs.filter(conversations)
        # A filter that keeps few conversations ("mine", a kind of case…) is searched from them: their
        # messages are read by conversation and tested one by one. A large one ("closed") is checked
        # per candidate message instead.
        few = list(conv_qs.order_by().values_list("pk", flat=True)[: SMALL_SCOPE + 1])
        scoped = len(few) <= SMALL_SCOPE
        if scoped:
            msg_qs = msg_qs.filter(conversation_id__in=few)
        else:
            msg_qs = msg_qs.filter(
                Exists(Conversation.objects.filter(conversations, pk=OuterRef("conversation_id")))
            )
    long_enough = len(query.fragment) >= MIN_FRAGMENT
    depth = min(max(3 * wanted, MIN_CANDIDATES), CANDIDATES)

    # 1. Buyers (names, logins, e-mails) and order ids, logins, subjects of conversations.
    if long_enough:
        _buyer_hits(hits, organization, query, conv_qs, postgres, depth)
    # 2. Message words.
    newest = Message.objects.filter(organization=organization)
    _word_hits(hits, query, msg_qs, postgres, depth, newest=newest, scoped=scoped)
    # 3. Substrings of message text (order numbers, codes, parts of words) when nothing matched yet:
    #    over ten million messages a long fragment's trigrams cost ~100 ms, spent only when needed.
    if postgres and long_enough and not hits:
        substrings = msg_qs.filter(Like(_folded("text"), Value(_like_pattern(query.fragment))))
        rows = newest_first(
            substrings.values_list("conversation_id", "id", "source_created_at"), "source_created_at", depth
        )
        for conversation_id, message_id, at in rows:
            _add(hits, Hit(conversation_id, TIER_SUBSTRING, at, message_id=message_id))
    # 4. Typos in buyer and conversation fields, when nothing matched.
    if postgres and long_enough and not hits:
        _typo_hits(hits, organization, query, conv_qs, depth)
    ranked = sorted(hits.values(), key=lambda h: (h.tier, -_ts(h.at), -h.conversation_id))
    return ranked[:MAX_RESULTS]


def _word_hits(
    hits: dict[int, Hit],
    query: SearchQuery,
    msg_qs: QuerySet,
    postgres: bool,
    depth: int,
    *,
    newest: QuerySet,
    scoped: bool = False,
) -> None:
    """`msg_qs`: the messages searched (the inbox's filter applied); `newest`: all the organization's,
    whose newest WALK_ROWS are walked first (counting the filter's own messages could walk far back).
    `scoped`: `msg_qs` holds the messages of a few conversations, all of them tested one by one."""
    phrase = len(query.terms) > 1
    if postgres:
        # Each word as a regular expression over the raw text first ("zolt" → [zZżŻźŹ][oOóÓ][lLłŁ][tT]):
        # a necessary condition ten times cheaper than to_tsvector(immutable_unaccent(text)), which
        # PostgreSQL evaluates first: to_tsvector then runs only on the few rows that pass.
        regexes = [Regex(F("text"), Value(_accent_regex(term))) for term in query.terms]

        def matching(*, indexed: bool) -> QuerySet:
            qs = msg_qs.filter(
                *regexes, TextMatches(F("text"), Value(_tsquery(query.terms, "&")), indexed=indexed)
            )
            if phrase:  # evaluated on the candidate rows only (the SELECT list), not on every match
                return qs.annotate(phrase=TextMatches(F("text"), Value(_tsquery(query.terms, "<->"))))
            return qs.annotate(phrase=Value(True, output_field=BooleanField()))

        columns = ("conversation_id", "id", "source_created_at", "phrase")
        # A common word's page is among the newest messages: the newest WALK_ROWS are tested one by
        # one, newest first, until a page is found (the word index, which the planner may prefer,
        # would read every message with the word — hundreds of thousands at 10 million — before the
        # newest could be picked). Only a rarer word goes on to the index (newest_first).
        oldest_walked = list(
            newest.order_by("-source_created_at").values_list("source_created_at", flat=True)[
                WALK_ROWS - 1 : WALK_ROWS
            ]
        )
        walk = matching(indexed=False)
        if scoped:  # a few conversations' messages, read by conversation: all of them tested
            oldest_walked = []
        elif oldest_walked:
            walk = walk.filter(source_created_at__gte=oldest_walked[0])
        rows = list(walk.order_by("-source_created_at").values_list(*columns)[:depth])
        if len(rows) < depth and oldest_walked:
            rows = newest_first(matching(indexed=True).values_list(*columns), "source_created_at", depth)
    else:
        # SQLite: every word as a substring; the phrase is checked here on the candidates.
        qs = msg_qs
        for word in query.raw.split():
            qs = qs.filter(text__icontains=word)
        rows = [
            (conversation_id, message_id, at, not phrase or query.fragment in fold(" ".join(text.split())))
            for conversation_id, message_id, at, text in qs.order_by("-source_created_at").values_list(
                "conversation_id", "id", "source_created_at", "text"
            )[:depth]
        ]
    for conversation_id, message_id, at, is_phrase in rows:
        _add(hits, Hit(conversation_id, TIER_PHRASE if is_phrase else TIER_WORDS, at, message_id=message_id))


def _buyer_hits(
    hits: dict[int, Hit],
    organization: Organization,
    query: SearchQuery,
    conv_qs: QuerySet,
    postgres: bool,
    depth: int,
) -> None:
    pattern = _like_pattern(query.fragment)
    if postgres:
        contact_ids = (
            Contact.objects.filter(organization=organization)
            .filter(Like(_folded("display_name"), Value(pattern)))
            .values_list("id", flat=True)[:depth]
            .union(
                ContactIdentity.objects.filter(organization=organization)
                .filter(Like(_folded("value"), Value(pattern)))
                .values_list("contact_id", flat=True)[:depth]
            )
        )
        fields = conv_qs.filter(Like(ConversationFields(), Value(pattern)))
    else:
        words = query.raw
        contact_ids = (
            Contact.objects.filter(organization=organization)
            .filter(Q(display_name__icontains=words) | Q(identities__value__icontains=words))
            .values_list("id", flat=True)
            .distinct()[:depth]
        )
        fields = conv_qs.filter(
            Q(subject__icontains=words)
            | Q(order_id__icontains=words)
            | Q(details__buyer_login__icontains=words)
        )
    _conversation_field_hits(hits, query, fields, depth)
    contact_ids = list(contact_ids)
    if contact_ids:
        by_contact = conv_qs.filter(contact_id__in=contact_ids).select_related("contact")
        for c in by_contact.order_by("-last_message_at")[:depth]:
            _add(
                hits,
                Hit(c.pk, TIER_BUYER, c.last_message_at, field_label=_("Buyer"), field_text=str(c.contact)),
            )


def _conversation_field_hits(hits: dict[int, Hit], query: SearchQuery, fields: QuerySet, depth: int) -> None:
    rows = newest_first(
        fields.values_list("id", "last_message_at", "subject", "order_id", "details__buyer_login"),
        "last_message_at",
        depth,
    )
    for pk, at, subject, order_id, login in rows:
        if query.fragment in fold(order_id):
            hit = Hit(pk, TIER_BUYER, at, field_label=_("Order"), field_text=order_id)
        elif login and query.fragment in fold(login):
            hit = Hit(pk, TIER_BUYER, at, field_label=_("Buyer"), field_text=login)
        else:  # the subject (or a match across two fields): as good as a phrase in a message
            hit = Hit(pk, TIER_PHRASE, at, field_label=_("Subject"), field_text=subject)
        _add(hits, hit)


def _typo_hits(
    hits: dict[int, Hit], organization: Organization, query: SearchQuery, conv_qs: QuerySet, depth: int
) -> None:
    fragment = Value(query.fragment)
    contact_ids = (
        Contact.objects.filter(organization=organization)
        .filter(WordSimilar(_folded("display_name"), fragment))
        .values_list("id", flat=True)[:depth]
        .union(
            ContactIdentity.objects.filter(organization=organization)
            .filter(WordSimilar(_folded("value"), fragment))
            .values_list("contact_id", flat=True)[:depth]
        )
    )
    contact_ids = list(contact_ids)
    if contact_ids:
        for c in (
            conv_qs.filter(contact_id__in=contact_ids)
            .select_related("contact")
            .order_by("-last_message_at")[:depth]
        ):
            _add(
                hits,
                Hit(c.pk, TIER_TYPO, c.last_message_at, field_label=_("Buyer"), field_text=str(c.contact)),
            )
    rows = (
        conv_qs.filter(WordSimilar(ConversationFields(), fragment))
        .order_by("-last_message_at")
        .values_list("id", "last_message_at", "subject", "order_id", "details__buyer_login")[:depth]
    )
    for pk, at, subject, order_id, login in rows:
        label, text = (_("Order"), order_id) if order_id else (_("Subject"), subject)
        if login:
            label, text = _("Buyer"), login
        _add(hits, Hit(pk, TIER_TYPO, at, field_label=label, field_text=text))


# --- snippets -----------------------------------------------------------------------------------


def snippets_attach(conversations: list[Conversation], hits: list[Hit], query: SearchQuery) -> None:
    """Set `search_snippet` (safe HTML: escaped text, matches in <mark>) on each conversation.
    One query: the texts of the hit messages."""
    by_conversation = {h.conversation_id: h for h in hits}
    message_ids = [by_conversation[c.pk].message_id for c in conversations if c.pk in by_conversation]
    texts = dict(Message.objects.filter(pk__in=[m for m in message_ids if m]).values_list("id", "text"))
    for c in conversations:
        hit = by_conversation.get(c.pk)
        c.search_hit = hit
        c.search_snippet = None
        if hit is None:
            continue
        if hit.message_id in texts:
            c.search_snippet = highlight(texts[hit.message_id], query, substring=hit.tier == TIER_SUBSTRING)
        elif hit.field_text:
            snippet = highlight(hit.field_text, query, substring=True)
            c.search_snippet = mark_safe(f"{escape(hit.field_label)}: {snippet}")


def _match_spans(folded: str, query: SearchQuery, substring: bool) -> list[tuple[int, int]]:
    spans = []
    if substring:  # a substring hit: the query as typed
        spans += [m.span() for m in re.finditer(re.escape(query.fragment), folded)]
    for term in query.terms if not spans else ():
        # A word starting with the term (prefix search), highlighted to the end of the word.
        spans += [m.span() for m in re.finditer(rf"(?<![^\W_]){re.escape(term)}[^\W_]*", folded)]
    if not spans and query.fragment:
        spans += [m.span() for m in re.finditer(re.escape(query.fragment), folded)]
    if not spans:  # a typo match: the words of the text that share most with the query
        spans += [
            m.span()
            for t in query.terms
            if len(t) >= MIN_FRAGMENT
            for m in re.finditer(re.escape(t[:3]), folded)
        ]
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def highlight(
    text: str, query: SearchQuery, length: int = SNIPPET_LENGTH, substring: bool = False
) -> SafeString:
    """A window of `text` around its first match, HTML-escaped, each match in <mark>.

    Every piece of the text is escaped before it is joined with the <mark> tags we add, so nothing
    a buyer wrote is ever markup."""
    text = " ".join(text.split())
    spans = _match_spans(fold(text), query, substring)
    start = 0
    if spans and spans[0][0] > SNIPPET_BEFORE:
        start = text.rfind(" ", 0, spans[0][0] - SNIPPET_BEFORE) + 1
    end = min(len(text), start + length)
    if end < len(text):
        end = max(text.rfind(" ", start, end), spans[0][1] if spans else 0, start + length // 2)
    out = ["…" if start else ""]
    pos = start
    for s, e in spans:
        if e <= start or s >= end:
            continue
        s, e = max(s, start), min(e, end)
        out += [escape(text[pos:s]), "<mark>", escape(text[s:e]), "</mark>"]
        pos = e
    out += [escape(text[pos:end]), "…" if end < len(text) else ""]
    return mark_safe("".join(out))
