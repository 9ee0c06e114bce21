"""Warn an agent before sending a reply that is only an unedited template (rules.md §5). Pure.

A reply is "bare" when it is (nearly) the text of one of the team's templates and it shares nothing
specific with the buyer's question: no number from it (order id, size, date) and no content word.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from difflib import SequenceMatcher

from .compliance import gettext_noop, normalize

# How close to a template a reply must be to count as "unedited".
SIMILARITY = 0.9
_WORD = re.compile(r"[a-z0-9]{4,}|\d+")
# Words too common to show that a reply is about the buyer's question.
_STOP = frozenset(
    [
        "dzien",
        "dobry",
        "witam",
        "prosze",
        "dziekuje",
        "dziekujemy",
        "pozdrawiam",
        "pozdrawiamy",
        "panstwa",
        "panie",
        "pani",
        "zamowienie",
        "zamowienia",
        "kontakt",
        "informacje",
        "wiadomosc",
        "sprawie",
        "moge",
        "mozna",
        "bardzo",
        "czy",
        "jest",
        "hello",
        "thanks",
        "thank",
        "please",
        "regards",
        "order",
        "message",
        "about",
        "your",
        "with",
        "that",
        "this",
        "have",
        "from",
        "would",
        "could",
        "there",
        "their",
        "which",
    ]
)

WARNING = gettext_noop("This reply is an unedited template and says nothing about the buyer's question.")


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(normalize(text)) if w not in _STOP}


def is_bare_template(text: str, templates: Iterable[str], buyer_text: str = "") -> bool:
    reply = normalize(text)
    if not reply:
        return False
    closest = 0.0
    best = ""
    for template in templates:
        t = normalize(template)
        if not t:
            continue
        ratio = SequenceMatcher(None, reply, t).ratio()
        if ratio > closest:
            closest, best = ratio, t
    if closest < SIMILARITY:
        return False
    # What the agent added to the template, and whether any of it (or the template itself)
    # echoes the buyer's question.
    own = _words(reply) - _words(best)
    question = _words(buyer_text)
    if own & question or (own and not question):
        return False
    return not (_words(reply) & question) or not question


def template_warning(
    text: str, templates: Iterable[str], buyer_text: str = "", *, enabled: bool = True
) -> str:
    """The warning to show, or "" (English msgid; the caller translates)."""
    if enabled and is_bare_template(text, templates, buyer_text):
        return WARNING
    return ""
