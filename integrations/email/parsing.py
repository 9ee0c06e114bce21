"""PURE e-mail parsing: RFC 5322 bytes → :class:`ParsedEmail`. No Django, no I/O, no clock.

``parse_email`` never raises. Whatever it cannot make sense of is written to ``problems`` and the
original bytes are always kept in ``raw``.

How it works, in one pass over the message:

* **Structure.** The stdlib ``email`` parser reads the message with ``policy.default`` semantics.
  ``_FastPolicy`` only memoises the parsed Content-Type / Content-Disposition / Content-Transfer-
  Encoding headers, because the feed parser re-parses them ~20 times per part. That memo cuts
  parsing time ~4×. If the parser gives up (for example a RecursionError on absurd nesting), the
  headers are read again with ``compat32`` and the body is kept as text.
* **Headers.** They are decoded from their raw source with ``email.header.decode_header`` and
  ``email.utils.getaddresses``, the compat32 tools. Raw 8-bit bytes in a header are decoded with
  the body's charset fallback, and RFC 822 comment names (``addr (Name)``) are honoured, as zammad
  and our corpus expect.
* **Charsets.** Try the declared charset first (aliases such as ``unicode-1-1-utf-7`` mapped, and
  a mislabelled ISO-8859-1/2 read as windows-1252/1250 when it carries C1 bytes). Valid UTF-8
  wins over a declared legacy charset (the "Big5 label on UTF-8 bytes" trap). Then a
  charset-normalizer guess, and last UTF-8 with replacement characters.
* **Body.** ``multipart/alternative`` contributes its text/plain child to ``full_text`` and its
  text/html child to ``html``. Other multiparts concatenate their inline text parts. Everything
  else becomes an :class:`Attachment`. An attached ``message/rfc822`` is never mixed into the
  body. ``format=flowed`` text is unwrapped (RFC 3676). An HTML-only mail gets its ``full_text``
  from :func:`html_to_text`, and ``html`` is always sanitised with nh3.
* **Sender.** The From address, unless a list or group rewrote it: ``X-Original-Sender``
  (Google Groups; the display name stays the From name, as chatwoot asserts), then
  ``X-Original-From`` (discourse: Reply-To is trusted only when it matches X-Original-From), then
  Reply-To for a ``"'Name' via Group"`` From. Reply-To alone never replaces From.
* **Classification.** RFC 3834 and rules.md §5. See :func:`_classify` for every signal. Kind
  priority: bounce > own_loop > auto_reply > bulk > human.

The broad ``except Exception`` blocks are deliberate: each one records a problem or falls back to
something smaller, because a mailbox sync must never stop on one bad message.
"""

from __future__ import annotations

import codecs
import email.header
import email.utils
import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from email.parser import BytesParser
from email.policy import EmailPolicy, compat32
from email.policy import default as default_policy
from enum import StrEnum

import nh3

from .html_text import html_to_text
from .reply_extraction import extract_reply

__all__ = [
    "REPLYDESK_HEADER",
    "AllegroMaskedAddress",
    "Attachment",
    "EmailKind",
    "ParsedEmail",
    "extract_reply",
    "html_to_text",
    "normalize_subject",
    "parse_allegro_masked_address",
    "parse_email",
]

#: Header we put on every mail we send. Seeing it on inbound mail means the mail is our own (a loop).
REPLYDESK_HEADER = "X-Replydesk-Id"

_MAX_DEPTH = 40  # MIME nesting we follow
_MAX_PARTS = 2000  # MIME parts we look at
_MAX_ADDRESS_HEADER = 100_000  # characters of To/Cc we parse
_MAX_HEADER_VALUE = 4_000  # characters kept per header in ParsedEmail.headers
_MAX_DECODED_HEADER = 16_000  # characters of a header we RFC 2047-decode (decode_header is quadratic)
_MAX_HTML_TO_TEXT = 2_000_000  # characters of HTML converted to text
_MAX_GUESS_BYTES = 256_000  # charset-normalizer looks at this much of a payload
_MAX_IDS = 500


class EmailKind(StrEnum):
    HUMAN = "human"
    AUTO_REPLY = "auto_reply"
    BOUNCE = "bounce"
    BULK = "bulk"
    OWN_LOOP = "own_loop"


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content_type: str
    size: int
    content_id: str  # without angle brackets, "" if none
    is_inline: bool
    payload: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class ParsedEmail:
    """One inbound mail, as the inbox needs it.

    Message-IDs are given without angle brackets. Addresses are lower-cased. ``text`` is what the
    sender newly wrote (quoted history, attributions and signatures cut off). When nothing is left
    after cutting, for example a bare forward, ``text`` falls back to ``full_text``. ``kind`` decides
    how the mail is treated. The ``is_*`` flags say which signals fired (a DSN usually also carries
    ``Auto-Submitted``). ``reasons`` lists those signals. ``problems`` lists everything that was
    wrong with the bytes.
    """

    raw: bytes = field(repr=False)
    message_id: str = ""
    in_reply_to: str = ""
    references: list[str] = field(default_factory=list)
    from_email: str = ""  # effective sender, lower-cased (see module docstring)
    from_name: str = ""
    header_from_email: str = ""  # the From header's own address, lower-cased
    reply_to: str = ""
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    subject: str = ""
    date: datetime | None = None
    text: str = ""  # what the sender newly wrote
    full_text: str = ""  # the whole decoded plain-text body
    html: str = field(default="", repr=False)  # sanitised
    attachments: list[Attachment] = field(default_factory=list)
    is_auto_reply: bool = False
    is_bounce: bool = False
    is_bulk: bool = False
    kind: EmailKind = EmailKind.HUMAN
    bounced_message_ids: list[str] = field(default_factory=list)
    auto_submitted: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)  # why it was classified the way it was

    @property
    def is_automatic(self) -> bool:
        """Never answer it, never start an SLA clock for it (rules.md §5)."""
        return self.kind is not EmailKind.HUMAN

    @property
    def thread_ids(self) -> list[str]:
        """Message-IDs to look up for threading, most specific first (In-Reply-To, newest reference)."""
        ids = [self.in_reply_to] if self.in_reply_to else []
        ids.extend(ref for ref in reversed(self.references) if ref not in ids)
        return ids


# --------------------------------------------------------------------------------------------------
# Allegro masked buyer addresses (allegro-api.md §6)
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AllegroMaskedAddress:
    buyer_hash: str  # hash of the seller–buyer pair
    transaction_id: str  # "" for a bare hash (which bounces from Q2 2026)
    domain: str


_ALLEGRO_MASKED = re.compile(
    r"^([a-z0-9]{4,40})(?:\+([a-z0-9]{1,40}))?@(allegromail\.pl|user\.allegrogroup\.pl)$", re.IGNORECASE
)


def parse_allegro_masked_address(address: str) -> AllegroMaskedAddress | None:
    m = _ALLEGRO_MASKED.match((address or "").strip())
    if not m:
        return None
    return AllegroMaskedAddress(m.group(1).lower(), (m.group(2) or "").lower(), m.group(3).lower())


# --------------------------------------------------------------------------------------------------
# Subjects
# --------------------------------------------------------------------------------------------------
_SUBJECT_PREFIX = re.compile(
    r"^\s*(?:\[\s*\]\s*)?(?:re|odp|pd|fwd|fw|aw|wg|sv|tr|antw|vs|rif|enc|res|ynt)\s*(?:\[\d{1,4}\]|\(\d{1,4}\))?\s*[:：]\s*",
    re.IGNORECASE,
)
_WHITESPACE = re.compile(r"\s+")


def normalize_subject(subject: str | None) -> str:
    """'Re: RE[2]: Odp: PD: Fwd:  Zamówienie  123' → 'zamówienie 123' (for matching, not display)."""
    if not subject:
        return ""
    value = _WHITESPACE.sub(" ", str(subject)).strip()
    for _ in range(50):
        stripped = _SUBJECT_PREFIX.sub("", value, count=1)
        if stripped == value:
            break
        value = stripped
    return value.strip().casefold()


# --------------------------------------------------------------------------------------------------
# Policy: policy.default semantics, memoised MIME headers
# --------------------------------------------------------------------------------------------------
_LINESEP = re.compile(r"\n|\r")
_MEMO_HEADERS = frozenset({"content-type", "content-disposition", "content-transfer-encoding"})


@functools.lru_cache(maxsize=4096)
def _memo_header(name: str, value: str):
    return default_policy.header_factory(name, value)


class _FastPolicy(EmailPolicy):
    """policy.default, but MIME structure headers are parsed once instead of on every access."""

    def header_fetch_parse(self, name, value):
        if hasattr(value, "name"):
            return value
        if name.lower() in _MEMO_HEADERS and len(value) < 2000:
            return _memo_header(name, "".join(_LINESEP.split(value)))
        return super().header_fetch_parse(name, value)


_POLICY = _FastPolicy()
_PARSER = BytesParser(policy=_POLICY)
_HEADER_PARSER = BytesParser(policy=compat32)

# --------------------------------------------------------------------------------------------------
# Charsets
# --------------------------------------------------------------------------------------------------
_CHARSET_ALIASES = {
    "unicode-1-1-utf-7": "utf-7",
    "x-unicode-1-1-utf-7": "utf-7",
    "utf7": "utf-7",
    "unicode-1-1-utf-8": "utf-8",
    "utf8": "utf-8",
    "x-utf-8": "utf-8",
    "us-ascii": "ascii",
    "ansi_x3.4-1968": "ascii",
    "iso-8859-8-i": "iso-8859-8",
    "iso-8859-8-e": "iso-8859-8",
    "iso-8859-6-i": "iso-8859-6",
    "iso-8859-6-e": "iso-8859-6",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "x-windows-949": "cp949",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cn-gb": "gb18030",
    "x-sjis": "shift_jis",
    "shift-jis": "shift_jis",
    "windows-31j": "cp932",
    "x-mac-roman": "mac_roman",
    "macintosh": "mac_roman",
    "x-user-defined": "cp1252",
    "unknown-8bit": "",
    "x-unknown": "",
    "unknown": "",
    "default": "",
    "charset": "",
}
_NOT_TEXT_CODECS = frozenset(
    {"unicode-escape", "raw-unicode-escape", "idna", "punycode", "undefined", "mbcs", "oem"}
)
_WIDE_CODECS = frozenset({"utf-7", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"})
_C1 = re.compile(rb"[\x80-\x9f]")
_SURROGATE = re.compile("[\udc80-\udcff]")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _safe(value: str) -> str:
    """No NUL (PostgreSQL text refuses it) and no lone surrogates (not encodable as UTF-8)."""
    if _UNSTORABLE.search(value):
        value = _UNSTORABLE.sub(lambda m: "" if m.group(0) == "\x00" else "\ufffd", value)
    return value


@functools.lru_cache(maxsize=256)
def _codec_name(declared: str) -> str | None:
    """Python codec name for a MIME charset label; "" = no usable label, None = unknown label."""
    label = declared.strip().strip("\"'").lower().split("*", 1)[0]
    label = _CHARSET_ALIASES.get(label, label)
    if not label:
        return ""
    try:
        info = codecs.lookup(label)
    except (LookupError, ValueError):
        return None
    if info.name in _NOT_TEXT_CODECS or not getattr(info, "_is_text_encoding", True):
        return None
    return info.name


# Candidates for undeclared/wrong charsets, biased to our audience (Polish sellers and their buyers):
# unrestricted, charset-normalizer reads short ISO-8859-2 Polish as ISO-8859-10 or even Big5.
_GUESS_CANDIDATES = ["utf_8", "cp1250", "iso8859_2", "cp1252", "iso8859_15", "cp1251", "koi8_r"]


def _guess(data: bytes) -> tuple[str, str]:
    """charset-normalizer's best guess (on a sample of big payloads), else UTF-8 with replacement."""
    sample = data[:_MAX_GUESS_BYTES]
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(sample, cp_isolation=_GUESS_CANDIDATES).best()
    except Exception:
        best = None
    if best is not None and best.encoding:
        if len(sample) == len(data):
            return str(best), best.encoding
        try:
            return data.decode(best.encoding, "replace"), best.encoding
        except (LookupError, ValueError):
            pass
    return data.decode("utf-8", "replace"), "utf-8 with replacement characters"


def _decode_bytes(data: bytes, declared: str | None, where: str, problems: list[str]) -> str:
    """Bytes → text: declared charset → UTF-8 → charset-normalizer guess → UTF-8 with replacement."""
    if not data:
        return ""
    codec = _codec_name(declared) if declared else ""
    if codec is None:
        problems.append(f"unknown charset {declared!r} in {where}")
        codec = ""
    if codec in _WIDE_CODECS:
        try:
            return data.decode(codec)
        except (UnicodeDecodeError, ValueError):
            problems.append(f"{where} is not valid {declared}")
            return _guess(data)[0]
    if data.isascii():
        return data.decode("ascii")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        if codec not in ("", "ascii", "utf-8"):
            problems.append(f"{where} declares {declared} but is UTF-8; decoded as UTF-8")
        return text
    if codec and codec not in ("utf-8", "ascii"):
        if codec in ("iso8859-2", "iso8859-1") and _C1.search(data):
            codec = "cp1250" if codec == "iso8859-2" else "cp1252"  # mislabelled Windows charset
        try:
            return data.decode(codec)
        except (UnicodeDecodeError, LookupError, ValueError):
            if codec == "cp1252":
                return data.decode("latin-1")
    text, guessed = _guess(data)
    if declared and codec and codec != "ascii":
        problems.append(f"could not decode {where} as {declared}; decoded as {guessed}")
    elif declared and codec:
        problems.append(f"{where} declares {declared} but has 8-bit bytes; decoded as {guessed}")
    else:
        problems.append(f"{where} has 8-bit bytes and no charset; decoded as {guessed}")
    return text


# --------------------------------------------------------------------------------------------------
# Headers
# --------------------------------------------------------------------------------------------------
_UNFOLD = re.compile(r"\r?\n(?=[ \t])|\r(?=[ \t])")
_CRLF = re.compile(r"[\r\n]+")
_ANGLE_ID = re.compile(r"<([^<>\s]{1,998})>")
_BARE_ID = re.compile(r"[^<>\s,;\"()]{1,998}@[^<>\s,;\"()]{1,998}")
_NOREPLY = re.compile(
    r"^(?:no[-_.]?reply|do[-_.]?not[-_.]?reply|dont[-_.]?reply|nie[-_.]?odpowiadaj|bez[-_.]?odpowiedzi"
    r"|noreply[-_.+]\S*|no[-_.]?reply[-_.+]\S*|notifications?|powiadomienia|mailer)$",
    re.IGNORECASE,
)
_DAEMON = re.compile(r"^(?:mailer[-_]?daemon|mail[-_]?daemon|postmaster|mail[-_]?delivery[-_]?\w*)$", re.I)


class _Headers:
    """Raw header values by lower-cased name, decoded lazily, problems recorded once."""

    def __init__(self, items: Iterable[tuple[str, str]], problems: list[str]) -> None:
        self._raw: dict[str, list[str]] = {}
        for name, value in items:
            self._raw.setdefault(str(name).strip().lower(), []).append(str(value))
        self._problems = problems
        self._unfolded: dict[str, str] = {}
        self._decoded: dict[str, str] = {}

    def __contains__(self, name: str) -> bool:
        return name in self._raw

    def raw(self, name: str) -> str:
        """First value, unfolded, raw 8-bit bytes decoded; encoded words left as they are."""
        if name not in self._unfolded:
            values = self._raw.get(name)
            value = values[0] if values else ""
            if _SURROGATE.search(value):
                value = _decode_bytes(
                    value.encode("ascii", "surrogateescape"), None, f"{name} header", self._problems
                )
            self._unfolded[name] = _UNFOLD.sub("", value)
        return self._unfolded[name]

    def get(self, name: str) -> str:
        """Unfolded, RFC 2047-decoded value ("" if absent)."""
        if name not in self._decoded:
            value = self.raw(name)
            if len(value) > _MAX_DECODED_HEADER:
                self._problems.append(
                    f"{name} header longer than {_MAX_DECODED_HEADER} characters; truncated"
                )
                value = value[:_MAX_DECODED_HEADER]
            self._decoded[name] = _safe(_decode_words(value, name, self._problems))
        return self._decoded[name]


def _decode_words(value: str, name: str, problems: list[str]) -> str:
    value = _CRLF.sub(" ", value)
    if "=?" not in value:
        return value
    try:
        parts = email.header.decode_header(value)
    except Exception:
        problems.append(f"malformed encoded words in {name} header")
        return value
    out = []
    for part, charset in parts:
        if isinstance(part, str):
            out.append(part)
        elif charset is None:
            out.append(part.decode("raw-unicode-escape", "replace"))
        else:
            out.append(_decode_bytes(part, charset, f"{name} header", problems))
    return "".join(out)


def _addresses(headers: _Headers, name: str, problems: list[str]) -> list[tuple[str, str]]:
    """[(display name, lower-cased address)] of an address header; comment names honoured."""
    value = headers.raw(name)
    if not value.strip():
        return []
    if len(value) > _MAX_ADDRESS_HEADER:
        problems.append(f"{name} header longer than {_MAX_ADDRESS_HEADER} characters; truncated")
        value = value[:_MAX_ADDRESS_HEADER]
    value = _CRLF.sub(" ", value)
    try:
        pairs = email.utils.getaddresses([value])
    except Exception:
        problems.append(f"unparseable {name} header")
        return []
    result = []
    for display, address in pairs:
        address = _safe(address.strip().strip("<>").strip().lower())
        display = _safe(_decode_words(display, name, problems)).strip().strip('"').strip()
        if "@" not in address:
            if display and not address:
                result.append((display, ""))
            continue
        result.append((display, address))
    return result


def _first_id(value: str) -> str:
    m = _ANGLE_ID.search(value)
    if m:
        return m.group(1)
    m = _BARE_ID.search(value)
    return m.group(0) if m else ""


def _all_ids(value: str) -> list[str]:
    ids = _ANGLE_ID.findall(value) or _BARE_ID.findall(value)
    seen: dict[str, None] = {}
    for i in ids:
        seen.setdefault(i, None)
    result = list(seen)
    return result[-_MAX_IDS:]


def _parse_date(value: str, problems: list[str]) -> datetime | None:
    value = value.strip()
    if not value:
        problems.append("missing Date header")
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except Exception:  # TypeError, ValueError, IndexError, OverflowError on odd dates
        parsed = None
    if parsed is None:
        problems.append(f"unparseable Date header: {value[:100]!r}")
        return None
    if parsed.tzinfo is None:  # "-0000": time zone unknown, the time is UTC
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


# --------------------------------------------------------------------------------------------------
# Body
# --------------------------------------------------------------------------------------------------
_FILENAME_BAD = re.compile(r"[\x00-\x1f\x7f]")
_DSN_FIELD = re.compile(r"^(action|status)\s*:\s*(\S+)", re.IGNORECASE | re.MULTILINE)
_MESSAGE_ID_LINE = re.compile(r"^\s*message-id\s*:\s*<?([^<>\s]{1,998}?)>?\s*$", re.IGNORECASE | re.MULTILINE)


@dataclass(slots=True)
class _Body:
    problems: list[str]
    attachments: list[Attachment] = field(default_factory=list)
    dsn_fields: list[tuple[str, str]] = field(default_factory=list)
    has_dsn_part: bool = False
    attached_ids: list[str] = field(default_factory=list)
    parts_seen: int = 0


def _payload_bytes(part: Message, body: _Body, where: str) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except Exception as exc:
        body.problems.append(f"could not decode {where}: {type(exc).__name__}")
        data = None
    if data is None:
        raw = part.get_payload()
        if isinstance(raw, str):
            data = raw.encode("ascii", "surrogateescape")
        elif isinstance(raw, bytes):
            data = raw
        else:
            data = b""
    return data


def _unflow(text: str, delsp: bool) -> str:
    """RFC 3676 format=flowed → plain lines (soft line breaks joined, space-stuffing removed)."""
    out: list[str] = []
    buf: str | None = None
    buf_depth = 0
    for line in text.split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        if content.startswith(" "):
            content = content[1:]
        flowed = content.endswith(" ") and content != "-- "
        if buf is not None and depth != buf_depth:
            out.append(">" * buf_depth + (" " if buf_depth else "") + buf)
            buf = None
        if buf is None:
            buf, buf_depth = "", depth
        if flowed:
            buf += content[:-1] if delsp else content
            continue
        out.append(">" * depth + (" " if depth and content else "") + buf + content)
        buf = None
    if buf is not None:
        out.append(">" * buf_depth + (" " if buf_depth else "") + buf)
    return "\n".join(out)


def _text_of(part: Message, body: _Body, ctype: str) -> str:
    where = f"{ctype} part"
    data = _payload_bytes(part, body, where)
    try:
        charset = part.get_content_charset()
    except Exception:
        charset = None
    text = _decode_bytes(data, charset, where, body.problems)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if ctype == "text/plain":
        try:
            fmt = str(part.get_param("format") or "").lower()
            delsp = str(part.get_param("delsp") or "").lower() == "yes"
        except Exception:
            fmt, delsp = "", False
        if fmt == "flowed":
            text = _unflow(text, delsp)
    return text


def _clean_filename(name: str) -> str:
    name = _safe(str(name)).replace("\\", "/").rsplit("/", 1)[-1]
    return _FILENAME_BAD.sub("", name).strip()[:255]


def _add_attachment(part: Message, body: _Body, ctype: str, disposition: str | None) -> None:
    try:
        filename = part.get_filename() or ""
    except Exception:
        filename = ""
        body.problems.append(f"unparseable filename in {ctype} part")
    if "=?" in filename:
        filename = _decode_words(filename, "filename", body.problems)
    if ctype == "message/rfc822":
        try:
            inner = part.get_payload(0)
            payload = inner.as_bytes(policy=compat32) if isinstance(inner, Message) else b""
        except Exception:
            payload = b""
        filename = filename or "message.eml"
    else:
        payload = _payload_bytes(part, body, f"{ctype} attachment")
    try:
        content_id = _safe(str(part.get("content-id", "") or "")).strip().strip("<>").strip()[:998]
    except Exception:
        content_id = ""
    body.attachments.append(
        Attachment(
            filename=_clean_filename(filename),
            content_type=ctype,
            size=len(payload),
            content_id=content_id,
            is_inline=disposition == "inline" or (disposition is None and bool(content_id)),
            payload=payload,
        )
    )


def _note_defects(part: Message, body: _Body, ctype: str) -> None:
    for defect in getattr(part, "defects", ()) or ():
        problem = f"MIME defect in {ctype} part: {type(defect).__name__}"
        if problem not in body.problems:
            body.problems.append(problem)


def _collect(part: Message, body: _Body, depth: int) -> tuple[list[str], list[str]]:
    """(plain chunks, html chunks) of the body in this subtree; attachments go to ``body``."""
    body.parts_seen += 1
    if body.parts_seen > _MAX_PARTS:
        if body.parts_seen == _MAX_PARTS + 1:
            body.problems.append(f"more than {_MAX_PARTS} MIME parts; the rest was ignored")
        return [], []
    try:
        ctype = part.get_content_type().lower()
    except Exception:
        ctype = "text/plain"
    try:
        return _collect_part(part, body, depth, ctype)
    finally:
        _note_defects(part, body, ctype)


def _collect_part(part: Message, body: _Body, depth: int, ctype: str) -> tuple[list[str], list[str]]:
    try:
        disposition = part.get_content_disposition()
    except Exception:
        disposition = None

    if ctype == "message/rfc822" or ctype == "message/global":
        inner = part.get_payload()
        inner = inner[0] if isinstance(inner, list) and inner else None
        if isinstance(inner, Message):
            try:
                body.attached_ids.extend(_all_ids(str(inner.get("message-id", "") or ""))[:1])
            except Exception:
                body.problems.append("unparseable Message-ID in the attached message")
        _add_attachment(part, body, "message/rfc822", disposition)
        return [], []
    if ctype in ("message/delivery-status", "message/global-delivery-status"):
        body.has_dsn_part = True
        payload = part.get_payload()
        if isinstance(payload, list):
            for block in payload:
                if isinstance(block, Message):
                    for key in ("action", "status"):
                        value = block.get(key)
                        if value:
                            body.dsn_fields.append((key, str(value).strip().lower()))
        else:
            text = _decode_bytes(_payload_bytes(part, body, ctype), None, ctype, body.problems)
            body.dsn_fields.extend((k.lower(), v.lower()) for k, v in _DSN_FIELD.findall(text))
        return [], []
    if ctype in ("text/rfc822-headers", "message/rfc822-headers", "message/global-headers"):
        text = _decode_bytes(_payload_bytes(part, body, ctype), None, ctype, body.problems)
        body.attached_ids.extend(_MESSAGE_ID_LINE.findall(text)[:1])
        return [], []

    if part.is_multipart():
        if depth >= _MAX_DEPTH:
            body.problems.append(f"MIME nesting deeper than {_MAX_DEPTH}; inner parts ignored")
            return [], []
        children = part.get_payload()
        if not isinstance(children, list):
            return [], []
        results = [_collect(child, body, depth + 1) for child in children if isinstance(child, Message)]
        if ctype == "multipart/alternative":
            plain = next((p for p, _ in results if any(c.strip() for c in p)), [])
            html = next((h for _, h in reversed(results) if any(c.strip() for c in h)), [])
            return plain, html
        plain_all: list[str] = []
        html_all: list[str] = []
        for p, h in results:
            plain_all.extend(p)
            html_all.extend(h)
        return plain_all, html_all

    try:
        has_filename = bool(part.get_filename())
    except Exception:
        has_filename = True
    if ctype in ("text/plain", "text/html") and disposition != "attachment" and not has_filename:
        text = _text_of(part, body, ctype)
        return ([text], []) if ctype == "text/plain" else ([], [text])
    _add_attachment(part, body, ctype, disposition)
    return [], []


# --------------------------------------------------------------------------------------------------
# Classification
# --------------------------------------------------------------------------------------------------
# Subjects that out-of-office assistants generate: the phrase as a prefix ("Automatyczna odpowiedź: …")
# or the whole subject. "Re: Nieobecność w pracy" or "Urlop - czy paczka poczeka?" do not match.
_OOO_SUBJECT = re.compile(
    r"^\s*(?:automatyczna odpowiedź|odpowiedź automatyczna|automatic reply"
    r"|auto(?:matic)?[- ]?(?:reply|response)|autoreply"
    r"|out of (?:the )?office(?: reply| autoreply| auto-reply)?|nieobecność|nieobecny|nieobecna"
    r"|poza biurem|abwesenheitsnotiz|abwesenheit|automatische antwort|réponse automatique|absence"
    r"|respuesta automática|risposta automatica|fuera de la oficina)\s*(?:[:(\-–]|$)",
    re.IGNORECASE,
)
_OOO_BODY = re.compile(
    r"jestem (?:obecnie )?(?:nieobecn|poza biurem|na urlopie)|będę (?:nieobecn|niedostępn)"
    r"|przebywam na urlopie|(?:powrócę|wracam|wrócę)\b|ograniczony dostęp do poczty|nie mam dostępu do poczty"
    r"|out of (?:the )?office|on (?:annual )?leave|on vacation|on holiday|will be back"
    r"|limited access to e-?mail"
    r"|i am away|ich bin (?:bis|vom|ab|derzeit|zurzeit)|abwesend|bin ich wieder",
    re.IGNORECASE,
)
_FAILURE_SUBJECT = re.compile(
    r"undeliver|undelivered|returned mail|delivery status notification \(failure\)|delivery failure"
    r"|failure notice|mail delivery failed|delivery has failed|message not delivered|could not be delivered"
    r"|nie można dostarczyć|niedostarczon|nie dostarczono|zwrot wiadomości|błąd dostarczenia"
    r"|unzustellbar|nicht zustellbar|non remis|non recapitabile|onbestelbaar|rejected",
    re.IGNORECASE,
)
_DSN_TEXT = re.compile(
    r"^\s*(?:status:\s*5\.\d{1,3}\.\d{1,3}|action:\s*failed)", re.IGNORECASE | re.MULTILINE
)


def _domain(address: str) -> str:
    return address.rpartition("@")[2].strip().lower().rstrip(".")


def _domain_matches(domain: str, own: Iterable[str]) -> bool:
    for d in own:
        d = d.strip().lower().lstrip("@").rstrip(".")
        if d and (domain == d or domain.endswith("." + d)):
            return True
    return False


def _classify(
    *,
    headers: _Headers,
    top_type: str,
    report_type: str,
    body: _Body,
    sender: str,
    header_sender: str,
    sender_name: str,
    subject: str,
    full_text: str,
    message_id: str,
    own_domains: tuple[str, ...],
    own_message_id_domain: str | None,
) -> tuple[bool, bool, bool, bool, list[str]]:
    """(is_auto_reply, is_bounce, is_bulk, is_own, reasons)."""
    reasons: list[str] = []
    auto = bounce = bulk = own = False

    # -- auto-reply / auto-generated (RFC 3834) --
    auto_submitted = headers.get("auto-submitted").strip()
    if auto_submitted and auto_submitted.split(";", 1)[0].strip().lower() != "no":
        auto = True
        reasons.append(f"Auto-Submitted: {auto_submitted}")
    x_autoreply = headers.get("x-autoreply").strip().lower()
    if "x-autoreply" in headers and x_autoreply not in ("no", "false", "0", "off"):
        auto = True
        reasons.append("X-Autoreply")
    for name in ("x-autorespond", "x-mail-autoreply", "x-autoreply-from", "x-auto-reply"):
        if name in headers:
            auto = True
            reasons.append(name)
    if headers.get("x-autogenerated").strip().lower() == "reply":
        auto = True
        reasons.append("X-Autogenerated: Reply")
    if headers.get("x-fc-machinegenerated").strip().lower() == "true":
        auto = True
        reasons.append("X-FC-MachineGenerated")
    if "autoresponder" in headers.get("x-post-messageclass").lower():
        auto = True
        reasons.append("X-POST-MessageClass: autoresponder")
    precedence = headers.get("precedence").strip().lower()
    if precedence == "auto_reply":
        auto = True
        reasons.append("Precedence: auto_reply")
    if report_type == "disposition-notification":
        auto = True
        reasons.append("read receipt (disposition-notification)")
    if _OOO_SUBJECT.match(subject) and _OOO_BODY.search(full_text[:5000]):
        # an out-of-office subject alone is not enough: humans write "Re: Nieobecność w pracy"
        auto = True
        reasons.append("out-of-office subject and body")
    local = sender.partition("@")[0] if sender else ""
    if local and _NOREPLY.match(local):
        auto = True
        reasons.append("no-reply sender")

    # -- bulk / lists --
    if precedence in ("bulk", "junk", "list"):
        bulk = True
        reasons.append(f"Precedence: {precedence}")
    for name in ("list-id", "list-unsubscribe", "list-post"):
        if name in headers:
            bulk = True
            reasons.append(name)

    # -- bounces --
    daemon = bool(local and _DAEMON.match(local)) or sender_name.lower() in (
        "mail delivery system",
        "mail delivery subsystem",
    )
    return_path = headers.raw("return-path").strip()
    empty_return_path = return_path in ("<>", "") and "return-path" in headers
    is_dsn = (top_type == "multipart/report" and report_type == "delivery-status") or body.has_dsn_part
    if is_dsn:
        actions = [v for k, v in body.dsn_fields if k == "action"]
        statuses = [v for k, v in body.dsn_fields if k == "status"]
        failed = any(a.startswith("failed") for a in actions) or any(s.startswith("5") for s in statuses)
        if failed or not actions:
            bounce = True
            reasons.append("delivery status notification (failed)")
        else:
            auto = True
            reasons.append(f"delivery status notification ({', '.join(sorted(set(actions)))})")
    elif "x-failed-recipients" in headers:
        bounce = True
        reasons.append("X-Failed-Recipients")
    elif _FAILURE_SUBJECT.search(subject) and (daemon or empty_return_path):
        bounce = True
        reasons.append("delivery failure subject from a mail system")
    elif (daemon or empty_return_path) and _DSN_TEXT.search(full_text[:20000]):
        bounce = True
        reasons.append("delivery status text from a mail system")
    elif daemon:
        auto = True
        reasons.append("mailer-daemon/postmaster sender")

    # -- our own mail coming back --
    if REPLYDESK_HEADER.lower() in headers:
        own = True
        reasons.append(REPLYDESK_HEADER)
    if any(_domain_matches(_domain(address), own_domains) for address in (header_sender, sender) if address):
        own = True
        reasons.append("sender in our own domain")
    if own_message_id_domain and message_id and _domain(message_id) == own_message_id_domain.strip().lower():
        own = True
        reasons.append("Message-ID in our own domain")
    return auto, bounce, bulk, own, reasons


# --------------------------------------------------------------------------------------------------
# Sender resolution
# --------------------------------------------------------------------------------------------------
_VIA = re.compile(r"^\s*['\"]?(?P<name>.+?)['\"]?\s+via\s+\S.*$", re.IGNORECASE)


def _resolve_sender(headers: _Headers, problems: list[str]) -> tuple[str, str, str, str]:
    """(effective address, display name, From header address, Reply-To address)."""
    from_pairs = _addresses(headers, "from", problems)
    if "from" not in headers:
        problems.append("missing From header")
    elif not any(address for _, address in from_pairs):
        problems.append(f"no usable address in From header: {headers.get('from')[:100]!r}")
    header_name, header_address = next(
        ((n, a) for n, a in from_pairs if a), (from_pairs[0][0] if from_pairs else "", "")
    )
    if not header_address:
        for fallback in ("sender", "return-path"):
            pairs = [p for p in _addresses(headers, fallback, problems) if p[1]]
            if pairs:
                header_address = pairs[0][1]
                header_name = header_name or pairs[0][0]
                break
    reply_pairs = [p for p in _addresses(headers, "reply-to", problems) if p[1]]
    reply_to = reply_pairs[0][1] if reply_pairs else ""

    original_sender = [p for p in _addresses(headers, "x-original-sender", problems) if p[1]]
    if original_sender:
        return original_sender[0][1], original_sender[0][0] or header_name, header_address, reply_to
    original_from = [p for p in _addresses(headers, "x-original-from", problems) if p[1]]
    if original_from:
        return original_from[0][1], original_from[0][0] or header_name, header_address, reply_to
    via = _VIA.match(header_name) if header_name else None
    if via and len(reply_pairs) == 1:
        return reply_to, reply_pairs[0][0] or via.group("name"), header_address, reply_to
    return header_address, header_name, header_address, reply_to


# --------------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------------
_HEADERS_KEPT = (
    "message-id",
    "in-reply-to",
    "references",
    "from",
    "sender",
    "reply-to",
    "to",
    "cc",
    "subject",
    "date",
    "return-path",
    "delivered-to",
    "auto-submitted",
    "precedence",
    "x-autoreply",
    "x-autorespond",
    "x-autogenerated",
    "x-auto-response-suppress",
    "list-id",
    "list-unsubscribe",
    "x-original-sender",
    "x-original-from",
    "x-failed-recipients",
    REPLYDESK_HEADER.lower(),
    "content-type",
    "x-mailer",
    "user-agent",
)
_DATA_URI = re.compile(r"data:[^\"'\s>]{200,}")
_SANITIZER = nh3.Cleaner(url_schemes=set(nh3.ALLOWED_URL_SCHEMES) | {"cid"})


def _as_bytes(raw: object, problems: list[str]) -> bytes:
    if isinstance(raw, bytes):
        return raw
    if isinstance(raw, bytearray | memoryview):
        return bytes(raw)
    if isinstance(raw, str):
        problems.append("raw message given as str, encoded as UTF-8")
        return raw.encode("utf-8", "surrogateescape")
    problems.append(f"raw message of type {type(raw).__name__}; treated as empty")
    return b""


def _parse_message(raw: bytes, problems: list[str]) -> tuple[Message | None, bool]:
    """(message, structure_ok)."""
    try:
        return _PARSER.parsebytes(raw), True
    except Exception as exc:  # RecursionError included
        problems.append(f"MIME structure could not be parsed ({type(exc).__name__}); body kept as text")
    try:
        return _HEADER_PARSER.parsebytes(raw, headersonly=True), False
    except Exception as exc:  # RecursionError included
        problems.append(f"headers could not be parsed ({type(exc).__name__})")
    return None, False


def parse_email(
    raw: bytes,
    *,
    own_domains: Iterable[str] = (),
    own_message_id_domain: str | None = None,
) -> ParsedEmail:
    """Parse one RFC 5322 message. Never raises; see the module docstring."""
    problems: list[str] = []
    data = b""
    try:
        data = _as_bytes(raw, problems)
        return _parse(data, tuple(own_domains or ()), own_message_id_domain, problems)
    except Exception as exc:  # RecursionError included
        problems.append(f"internal parser error: {type(exc).__name__}: {str(exc)[:200]}")
        return ParsedEmail(raw=data, problems=problems)


def _parse(
    raw: bytes, own_domains: tuple[str, ...], own_message_id_domain: str | None, problems: list[str]
) -> ParsedEmail:
    if not raw.strip():
        problems.append("empty message")
    msg, structure_ok = _parse_message(raw, problems)
    if msg is None:
        return ParsedEmail(raw=raw, problems=problems)
    headers = _Headers(msg.raw_items(), problems)

    # -- identity and threading --
    message_id = _safe(_first_id(headers.raw("message-id")))
    if not message_id:
        problems.append("missing Message-ID header")
    in_reply_to = _safe(_first_id(headers.raw("in-reply-to")))
    references = [_safe(ref) for ref in _all_ids(headers.raw("references"))]
    from_email, from_name, header_from, reply_to = _resolve_sender(headers, problems)
    to = [a for _, a in _addresses(headers, "to", problems) if a]
    cc = [a for _, a in _addresses(headers, "cc", problems) if a]
    subject = headers.get("subject")
    date = _parse_date(headers.raw("date"), problems)

    # -- body --
    body = _Body(problems=problems)
    top_type, report_type = "text/plain", ""
    if structure_ok:
        try:
            top_type = msg.get_content_type().lower()
            report_type = (
                str(msg.get_param("report-type") or "").lower() if top_type == "multipart/report" else ""
            )
        except Exception:
            pass
        plain, html_chunks = _collect(msg, body, 0)
    else:
        payload = msg.get_payload()
        text = payload if isinstance(payload, str) else ""
        plain = [
            _decode_bytes(text.encode("ascii", "surrogateescape"), None, "message body", problems).replace(
                "\r\n", "\n"
            )
        ]
        html_chunks = []
    full_text = "\n".join(plain).strip() if any(c.strip() for c in plain) else ""
    raw_html = "\n".join(html_chunks) if any(c.strip() for c in html_chunks) else ""
    if not full_text and raw_html:
        if len(raw_html) > _MAX_HTML_TO_TEXT:
            problems.append(
                f"HTML body longer than {_MAX_HTML_TO_TEXT} characters; text taken from the start"
            )
        full_text = html_to_text(_DATA_URI.sub("data:", raw_html[:_MAX_HTML_TO_TEXT]))
    html = ""
    if raw_html:
        try:
            html = _SANITIZER.clean(raw_html)
        except Exception:
            problems.append("HTML could not be sanitised; dropped")
    full_text = _safe(full_text)
    html = _safe(html)
    text = extract_reply(full_text) or full_text

    # -- classification --
    auto, bounce, bulk, own, reasons = _classify(
        headers=headers,
        top_type=top_type,
        report_type=report_type,
        body=body,
        sender=from_email,
        header_sender=header_from,
        sender_name=from_name,
        subject=subject,
        full_text=full_text,
        message_id=message_id,
        own_domains=own_domains,
        own_message_id_domain=own_message_id_domain,
    )
    if bounce:
        kind = EmailKind.BOUNCE
    elif own:
        kind = EmailKind.OWN_LOOP
    elif auto:
        kind = EmailKind.AUTO_REPLY
    elif bulk:
        kind = EmailKind.BULK
    else:
        kind = EmailKind.HUMAN

    bounced: list[str] = []
    if bounce:
        candidates = (
            body.attached_ids or _MESSAGE_ID_LINE.findall(full_text) or ([in_reply_to] if in_reply_to else [])
        )
        for candidate in candidates:
            candidate = candidate.strip().strip("<>")
            candidate = _safe(candidate)
            if candidate and candidate != message_id and candidate not in bounced:
                bounced.append(candidate)

    kept = {}
    for name in _HEADERS_KEPT:
        if name in headers:
            kept[name] = headers.get(name)[:_MAX_HEADER_VALUE]

    return ParsedEmail(
        raw=raw,
        message_id=message_id,
        in_reply_to=in_reply_to,
        references=references,
        from_email=from_email,
        from_name=from_name,
        header_from_email=header_from,
        reply_to=reply_to,
        to=to,
        cc=cc,
        subject=subject,
        date=date,
        text=text,
        full_text=full_text,
        html=html,
        attachments=body.attachments,
        is_auto_reply=auto,
        is_bounce=bounce,
        is_bulk=bulk,
        kind=kind,
        bounced_message_ids=bounced,
        auto_submitted=headers.get("auto-submitted").strip(),
        headers=kept,
        problems=problems,
        reasons=reasons,
    )
