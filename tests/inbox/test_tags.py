"""Template filters of the inbox."""

from __future__ import annotations

import pytest

from inbox.templatetags.inbox_tags import new_subject


@pytest.mark.parametrize(
    ("message", "conversation", "shown"),
    [
        ("Re: Pytanie o zamówienie 4711 [#RD-12]", "Pytanie o zamówienie 4711", ""),
        ("ODP: PD:  pytanie o zamówienie 4711", "Pytanie o zamówienie 4711", ""),
        ("", "Pytanie o zamówienie 4711", ""),
        ("Re: Zwrot zamiast wymiany", "Pytanie o zamówienie 4711", "Re: Zwrot zamiast wymiany"),
        ("Faktura", "", "Faktura"),
        ("Autoodpowiedź: Re: Pytanie [#RD-12]", "Pytanie", "Autoodpowiedź: Re: Pytanie"),
    ],
)
def test_a_message_subject_is_shown_only_when_it_says_more(message, conversation, shown) -> None:
    assert new_subject(message, conversation) == shown
