"""Cut quoted history and signatures off a plain-text e-mail body: what did the sender newly write?

One linear pass over the lines. A line is

* **quoted** (starts with ``>``): dropped, the reply may go on after it (inline / bottom posting);
* the last line of an **attribution** ("W dniu … napisał:", "On … wrote:", "Am … schrieb …:", Apple
  Mail's "Wiadomość napisana przez … w dniu …:", possibly wrapped over up to three lines): the
  attribution is dropped; if ``>``-quoted lines follow, the reply goes on after them, otherwise the
  rest is unquoted history (Gmail without ``>``, Outlook-style) and the text is cut there;
* a **cut marker**: "-----Original Message-----" and the forward separators in PL/EN/DE/FR/ES/IT/RU,
  an Outlook header block ("Od:/Wysłano:/Do:/Temat:", "From:/Sent:/To:/Subject:", "Von:/Gesendet:/
  An:/Betreff:" …; needs a sender, a date and a subject line in one block, so a reply that merely
  says "From: …" mid-text is not cut), the ``-- `` signature delimiter, or a mobile signature
  ("Wysłane z iPhone'a", "Sent from my iPhone", "Pobierz Outlook dla Android" …) standing in its
  own paragraph: everything from there on is dropped;
* anything else is kept.

Trailing blank lines and horizontal rules are trimmed and the result is ``strip()``-ed.

Every regular expression is anchored and bounded; long lines are never attribution candidates,
so the pass stays linear even on multi-megabyte bodies.
"""

from __future__ import annotations

import re

__all__ = ["extract_reply"]

_I = re.IGNORECASE

# --- attributions ---------------------------------------------------------------------------------
# Verbs that end an attribution line ("… napisał(a):", "… wrote:"), checked with str.endswith (a regex
# alternation searched on every line ending in ":" costs ~20 µs a line).
_ATTRIBUTION_VERBS = (
    "wrote",
    "napisał(a)",
    "napisała",
    "napisał",
    "napisal(a)",
    "napisal",
    "pisze",
    "schrieb",
    "a écrit",
    "écrit",
    "escribió",
    "escribio",
    "ha scritto",
    "scrisse",
    "escreveu",
    "schreef",
    "skrev",
    "kirjoitti",
    "написал(а)",
    "написала",
    "написал",
    "пишет",
    "napsal(a)",
    "napsal",
    "írta",
    "写道",
)
# Attributions whose verb is not at the end.
_ATTRIBUTION_WHOLE = re.compile(
    r"^(?:Wiadomość napisana przez\s.{1,300}\sw dniu\s.{1,120}"  # Apple Mail PL
    r"|Am\s.{1,120}\sschrieb\s.{1,300}"  # Apple Mail / Thunderbird DE
    r"|Op\s.{1,120}\sschreef\s.{1,300}"  # NL
    r"|Le\s.{1,120}\sa écrit\s.{0,300}"  # FR with the name after the verb
    r"|(?:Quoting|Cytowanie|Zitat von)\s.{1,300}"  # Horde webmail
    r")[:：]$",
    _I,
)
# How the first line of an attribution starts ("W dniu", "On", a date, a weekday with a date …). Tight
# on purpose: in a wrapped attribution the line above the verb is swallowed only if it matches, so
# "Nie, dziękuję." or "2 sztuki proszę." above "Jan <jan@x.pl> napisał:" must not.
_ATTRIBUTION_START = re.compile(
    r"^(?:(?:On|Am|Le|El|Il|Em|Op|Den|Dne|Dnia|W dniu|Użytkownik|Uzytkownik|Wiadomość napisana"
    r"|In a message dated|Quoting|Cytowanie|Zitat von)\b"
    r"|\d{1,4}[./-]\d{1,2}[./-]\d{1,4}\b"  # 02.04.2012, 2026-03-09
    r"|\d{1,2}\.? [^\W\d]{3,}\.? \d{4}\b"  # 9 mar 2026, 9. März 2026
    r"|(?:pon|wt|śr|sr|czw|pt|sob|niedz|ndz)\.?,? \d"  # pon., 9 mar 2026
    r"|(?:poniedziałek|wtorek|środa|czwartek|piątek|sobota|niedziela),? \d"
    r"|(?:mon|tue|wed|thu|fri|sat|sun)[a-z]{0,6}\.?, (?:\d|[a-z]{3} \d)"
    r"|(?:montag|dienstag|mittwoch|donnerstag|freitag|samstag|sonntag),? \d"
    r"|(?:понедельник|вторник|среда|четверг|пятница|суббота|воскресенье),? \d"
    r'|"?[^\s"<>@]{1,64}@[^\s"<>@]{1,255}"?\s)',
    _I,
)
_CREDIBLE = re.compile(r"\d|@")
_MAX_ATTRIBUTION_LINE = 400

# --- separators -----------------------------------------------------------------------------------
_SEPARATOR = re.compile(
    r"^[-_=*~ ]{2,}\s*(?:Original Message|Original-Nachricht|Forwarded message|Forwarded Message"
    r"|Wiadomość oryginalna|Oryginalna wiadomość|Oryginalna Wiadomość|Wiadomość przekazana dalej"
    r"|Przekazana wiadomość|Wiadomość przekazana|Ursprüngliche Nachricht|Weitergeleitete Nachricht"
    r"|Message d'origine|Message transféré|Mensaje original|Mensaje reenviado|Messaggio originale"
    r"|Messaggio inoltrato|Oorspronkelijk bericht|Doorgestuurd bericht|Původní zpráva"
    r"|Исходное сообщение|Пересылаемое сообщение)\s*[-_=*~ ]*$",
    _I,
)
_FORWARD_INTRO = re.compile(
    r"^(?:Begin forwarded message|Początek przekazanej wiadomości|Początek wiadomości przekazanej dalej"
    r"|Anfang der weitergeleiteten Nachricht|Début du message réexpédié|Inizio messaggio inoltrato"
    r"|Forwarded message)\s*[:：]?$",
    _I,
)

# --- Outlook-style header blocks ----------------------------------------------------------------
_HEADER_LINE = re.compile(r"^([^\W\d_][^\W\d]{0,11}(?: [^\W\d]{1,6})?)\s{0,3}[:：]", _I)
_FROM_KEYS = frozenset({"from", "od", "von", "de", "från", "fra", "van", "da", "от", "nadawca"})
_DATE_KEYS = frozenset(
    {
        "sent",
        "date",
        "wysłano",
        "wysłane",
        "data",
        "gesendet",
        "datum",
        "envoyé",
        "enviado",
        "enviada",
        "skickat",
        "sendt",
        "verzonden",
        "inviato",
        "отправлено",
        "дата",
        "sent at",
        "enviado el",
    }
)
_SUBJECT_KEYS = frozenset(
    {"subject", "temat", "betreff", "objet", "asunto", "ämne", "emne", "onderwerp", "oggetto", "тема"}
)
_OTHER_KEYS = frozenset(
    {"to", "cc", "do", "dw", "kopia", "an", "à", "a", "para", "till", "til", "aan", "кому", "reply-to", "bcc"}
)
_ALL_KEYS = _FROM_KEYS | _DATE_KEYS | _SUBJECT_KEYS | _OTHER_KEYS

# --- signatures -----------------------------------------------------------------------------------
# Complete signature lines ("Sent from my …", "Von meinem … gesendet", "Pobierz Outlook dla Android").
_SIGNATURE_FULL = re.compile(
    r"^[(<\[]{0,2}\s*(?:"
    r"sent from my(?:\s+\S+){1,4}"
    r"|from my (?:iphone|ipad|android|mobile|phone)\S*(?:\s+\S+){0,2}"
    r"|von meinem\s.{1,50}\sgesendet"
    r"|diese nachricht wurde von meinem\s.{1,60}\sgesendet"
    r"|(?:pobierz|uzyskaj|get|download)\s+(?:aplikację\s+|the\s+)?outlook\s+(?:dla|for|na)\b.{0,60}"
    r"|iphoneから送信|寄自我的\s?iphone"
    r")\s*[.!]?\s*[)>\]]{0,2}$",
    _I,
)
# "Wysłane z …", "Sent via …", "Envoyé depuis …": a signature only when it names a device or a mail app,
# so "Wysłano z magazynu w poniedziałek." or "Sent via DHL" stay in the reply.
_SIGNATURE_GENERIC = re.compile(
    r"^[(<\[]{0,2}\s*"
    r"(?:sent|envoyé|enviado|inviato|verzonden|gesendet|wysłane|wysłano|wyslane|wyslano|отправлено)"
    r"\s+(?:from|via|with|using|on|by|depuis|de|desde|da|con|vanaf|met|von|mit|z|ze|przez|из|с)\s+"
    r".{1,60}?\s*[.!]?\s*[)>\]]{0,2}$",
    _I,
)
_DEVICE = re.compile(
    r"iphone|ipad|ipod|android|blackberry|mobil|phone|galaxy|samsung|huawei|xiaomi|outlook|gmail|\bmail"
    r"|poczt|aplikacj|telefon|smartfon|tablet|windows|yahoo|airmail|mailbox|k-9|spark|proton|thunderbird"
    r"|urządzeni|device|handy|móvil|cellulare|portable",
    _I,
)
_MAX_SIGNATURE_LINE = 120
_RULE_ONLY = re.compile(r"^[-_=*~#+. ]*$")


def _is_quoted(line: str) -> bool:
    return line.lstrip(" \t").startswith(">")


def _header_key(line: str) -> str | None:
    if ":" not in line[:20] and "：" not in line[:20]:
        return None
    candidate = line.strip().replace("*", "")
    m = _HEADER_LINE.match(candidate)
    if not m:
        return None
    key = m.group(1).casefold()
    return key if key in _ALL_KEYS else None


def _is_header_block(lines: list[str], i: int) -> bool:
    """An Outlook-like block of quoted-message headers starts at line i."""
    key = _header_key(lines[i])
    if key is None:
        return False
    keys = {key}
    continuation = 0
    for line in lines[i + 1 : i + 12]:
        if not line.strip():
            break
        k = _header_key(line)
        if k is None:
            continuation += 1  # a wrapped recipient list
            if continuation > 3:
                break
            continue
        keys.add(k)
    return bool(keys & _FROM_KEYS and keys & _DATE_KEYS and keys & _SUBJECT_KEYS)


def _is_cut_marker(lines: list[str], i: int, previous: str | None) -> bool:
    stripped = lines[i].strip()
    if not stripped:
        return False
    if stripped == "--" or lines[i].rstrip("\r\n") == "-- ":
        return True
    first = stripped[0]
    if first in "-_=*~ " and _SEPARATOR.match(stripped):
        return True
    if stripped[-1] in ":：" and _FORWARD_INTRO.match(stripped):
        return True
    if _is_header_block(lines, i):
        return True
    return (
        len(stripped) <= _MAX_SIGNATURE_LINE
        and (previous is None or not previous.strip())
        and (
            _SIGNATURE_FULL.match(stripped) is not None
            or (_SIGNATURE_GENERIC.match(stripped) is not None and _DEVICE.search(stripped) is not None)
        )
    )


def _next_non_blank(lines: list[str], i: int) -> int:
    n = len(lines)
    while i < n and not lines[i].strip():
        i += 1
    return i


def _ends_with_verb(line: str) -> bool:
    tail = line[-40:].rstrip(":：").rstrip().casefold()
    if not tail.endswith(_ATTRIBUTION_VERBS):
        return False
    for verb in _ATTRIBUTION_VERBS:
        if tail.endswith(verb):
            before = len(tail) - len(verb) - 1
            if verb == "写道" or before < 0 or not tail[before].isalnum():
                return True
    return False


def _attribution_start(lines: list[str], i: int, kept: list[int]) -> int | None:
    """If line i ends an attribution, return the index of its first line."""
    stripped = lines[i].strip()
    if not stripped or stripped[-1] not in ":：" or len(stripped) > _MAX_ATTRIBUTION_LINE:
        return None
    verb_at_end = _ends_with_verb(stripped)
    single_line = False  # line i alone is an attribution without a recognisable start
    for k in (i, i - 1, i - 2):
        if k < 0:
            break
        if k < i:
            # the earlier lines must be kept, contiguous, non-blank, short
            if len(kept) < i - k or kept[-(i - k) :] != list(range(k, i)):
                break
            line_k = lines[k].strip()
            if not line_k or len(line_k) > _MAX_ATTRIBUTION_LINE:
                break
        combined = " ".join(lines[j].strip() for j in range(k, i + 1))
        if not (verb_at_end or _ATTRIBUTION_WHOLE.match(combined)):
            continue
        if not _CREDIBLE.search(combined):
            continue
        if _ATTRIBUTION_START.match(lines[k].strip()):
            return k
        single_line = single_line or k == i
    if single_line:
        # "Jan <jan@x.pl> schrieb:" has no recognisable start: an attribution only if quoted lines follow
        j = _next_non_blank(lines, i + 1)
        if j < len(lines) and _is_quoted(lines[j]):
            return i
    return None


def _tidy(lines: list[str]) -> str:
    end = len(lines)
    while end and (_RULE_ONLY.match(lines[end - 1]) or lines[end - 1].strip() == "--"):
        end -= 1
    return "\n".join(line.rstrip() for line in lines[:end]).strip()


def extract_reply(text: str) -> str:
    """Return what the sender newly wrote: quoted history, attributions and signatures removed."""
    if not text:
        return ""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept: list[int] = []
    n = len(lines)
    i = 0
    while i < n:
        line = lines[i]
        if _is_quoted(line):
            i += 1
            continue
        start = _attribution_start(lines, i, kept)
        if start is not None:
            if start < i:
                del kept[-(i - start) :]
            j = _next_non_blank(lines, i + 1)
            if j < n and _is_quoted(lines[j]):
                i = j
                continue
            break
        previous = lines[kept[-1]] if kept else None
        if _is_cut_marker(lines, i, previous):
            break
        kept.append(i)
        i += 1
    return _tidy([lines[k] for k in kept])
