"""Issue #9, hostile input: malformed and huge Allegro payloads for the source parsers.

Hypothesis generates Message Center messages, issue chat messages, issues and post-purchase threads
with missing fields, wrong types, huge strings, deep nesting, bad dates and unknown enums. A parser
may skip an item it cannot identify (no id), but never raises; what it maps keeps the raw payload and
names what was wrong in `problems`.
"""

from __future__ import annotations

import inspect

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integrations.allegro.sources import issues, post_purchase, threads
from integrations.contracts import ConversationUpdate, InboundMessage

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.text(max_size=30),
    st.sampled_from(["2026-13-45T99:99:99Z", "yesterday", "", "2026-03-04T10:00:00.000Z", "1e309", "\x00"]),
    st.sampled_from(["DISPUTE", "CLAIM", "UNKNOWN_ENUM", "DELIVERED", "VERIFYING", "BLOCKED"]),
    st.builds(lambda n: "x" * n, st.integers(min_value=100_000, max_value=2_000_000)),  # huge strings
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=25,
)
KEYS = ["id", "text", "createdAt", "author", "status", "subject", "relatesTo", "attachments", "type", "chat"]
KEYS += ["buyer", "login", "isInterlocutor", "role", "lastMessageDateTime", "description", "order", "offer"]
KEYS += ["interlocutor", "fileName", "url", "mimeType", "openedDate", "decisionDueDate", "expectations"]


def _deep(depth: int) -> dict:
    value: dict = {"id": "m"}
    for _ in range(depth):
        value = {"author": value, "relatesTo": value}
    return value


payloads = st.one_of(
    st.dictionaries(st.sampled_from(KEYS), json_values, max_size=10),
    st.fixed_dictionaries(
        {"id": st.text(min_size=1, max_size=20), "createdAt": json_values},
        optional={k: json_values for k in KEYS if k not in ("id", "createdAt")},
    ),
    st.integers(min_value=50, max_value=400).map(_deep),  # deep nesting
)


def _call(fn, raw):
    params = inspect.signature(fn).parameters
    kwargs = {name: "t-1" if "id" in name else "kupujacy" for name in params if name != next(iter(params))}
    kwargs = {k: v for k, v in kwargs.items() if params[k].kind == inspect.Parameter.KEYWORD_ONLY}
    return fn(raw, **kwargs)


SUPPRESS = [HealthCheck.too_slow, HealthCheck.data_too_large]
PARSERS = [threads.message_to_inbound, issues.chat_to_inbound, post_purchase.message_to_inbound]
UPDATES = [issues.issue_update, post_purchase.thread_update]


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(payloads)
def test_message_parsers_never_raise_and_keep_the_raw_payload(raw):
    for parser in PARSERS:
        item = _call(parser, raw)
        assert item is None or isinstance(item, InboundMessage)
        if item is not None:
            assert item.raw is not None
            assert isinstance(item.text, str)
            assert item.created_at.tzinfo is not None
            if not isinstance(raw.get("text"), str):
                assert item.problems, parser


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(payloads)
def test_conversation_parsers_never_raise(raw):
    for parser in UPDATES:
        update = parser(raw)
        assert update is None or isinstance(update, ConversationUpdate)
