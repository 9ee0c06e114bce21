"""IMAP with imapclient: read-only, by UID, never touching the seller's flags.

* Folders are always opened with EXAMINE (``select_folder(readonly=True)``) and bodies are read
  with ``BODY.PEEK[]``: a sync never sets ``\\Seen`` or any other flag.
* Reads are by UID in batches: first the Message-ID and size of each new UID (cheap), then the full
  bytes only of the mails we do not already have (dedupe happens before the download).
* Every library/socket error becomes a ``ChannelError``: a failed login is ``AuthorizationLost``
  (the owner has to fix the mailbox settings), anything else is transient (retried next poll).
* Passwords are never logged or put in an error message.
"""

from __future__ import annotations

import contextlib
import re
import ssl
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.utils.translation import gettext as _
from imapclient import IMAPClient
from imapclient import exceptions as imap_exceptions

from integrations.contracts import AuthorizationLost, ChannelError, TransientChannelError

from .mailbox import SSL, STARTTLS, ServerSettings

TIMEOUT_SECONDS = 30.0
HEADER_BATCH = 200  # UIDs per FETCH of Message-ID and size
BODY_BATCH = 50  # mails per FETCH of full bodies …
BODY_BATCH_BYTES = 20 * 1024 * 1024  # … and at most this many bytes
IDLE_RENEW_SECONDS = 25 * 60  # RFC 2177: re-issue IDLE before the server's 30-minute timeout

_MESSAGE_ID = re.compile(rb"^message-id:\s*(.*?)\s*$", re.IGNORECASE | re.MULTILINE | re.DOTALL)
_ANGLE = re.compile(rb"<([^<>\s]{1,998})>")


@dataclass(frozen=True)
class FolderState:
    name: str
    uidvalidity: int
    uidnext: int | None
    exists: int


@dataclass(frozen=True)
class Envelope:
    uid: int
    message_id: str  # without angle brackets, "" if none
    size: int


def header_message_id(header_block: bytes) -> str:
    """The Message-ID from a raw header block (as `parse_email` reads it: first <…> or the bare value)."""
    unfolded = re.sub(rb"\r?\n[ \t]+", b" ", header_block or b"")
    match = _MESSAGE_ID.search(unfolded)
    if not match:
        return ""
    value = match.group(1).splitlines()[0] if match.group(1) else b""
    angle = _ANGLE.search(value)
    found = angle.group(1) if angle else value.strip()
    return found.decode("utf-8", "replace") if b"@" in found else ""


@contextlib.contextmanager
def imap_errors(host: str) -> Iterator[None]:
    """Translate imapclient/socket errors into ChannelErrors with a message for the seller."""
    try:
        yield
    except ChannelError:
        raise
    except imap_exceptions.LoginError as exc:
        text = _server_text(exc)
        if "UNAVAILABLE" in text.upper():
            raise TransientChannelError(
                f"IMAP login temporarily unavailable at {host}",
                user_message=_("The mail server %(host)s cannot log in right now: %(reason)s")
                % {"host": host, "reason": text},
            ) from None
        raise AuthorizationLost(
            f"IMAP login refused by {host}",
            user_message=_("The mail server %(host)s refused the login: %(reason)s")
            % {"host": host, "reason": text},
        ) from None
    except (imap_exceptions.IMAPClientAbortError, TimeoutError, ssl.SSLError, OSError, EOFError) as exc:
        raise TransientChannelError(
            f"IMAP connection to {host} failed: {type(exc).__name__}",
            user_message=_("The connection to the mail server %(host)s failed: %(reason)s")
            % {"host": host, "reason": _server_text(exc) or type(exc).__name__},
        ) from None
    except imap_exceptions.IMAPClientError as exc:
        raise TransientChannelError(
            f"IMAP error from {host}",
            user_message=_("The mail server %(host)s answered with an error: %(reason)s")
            % {"host": host, "reason": _server_text(exc)},
        ) from None


def _server_text(exc: BaseException) -> str:
    text = str(exc)
    if text.startswith("b'") or text.startswith('b"'):
        text = text[2:-1]
    return text[:300]


def imap_connect(server: ServerSettings, *, timeout: float = TIMEOUT_SECONDS) -> IMAPClient:
    """A logged-in client. Raises ChannelError (AuthorizationLost for a refused login)."""
    with imap_errors(server.host):
        context = ssl.create_default_context()
        client = IMAPClient(
            server.host,
            port=server.port,
            ssl=server.security == SSL,
            ssl_context=context if server.security == SSL else None,
            timeout=timeout,
        )
        try:
            if server.security == STARTTLS:
                client.starttls(context)
            client.normalise_times = False  # aware INTERNALDATEs
            client.login(server.username, server.password)
        except BaseException:
            with contextlib.suppress(Exception):
                client.shutdown()
            raise
        return client


class ImapMailbox:
    """One logged-in IMAP session used read-only. Use as a context manager."""

    def __init__(self, server: ServerSettings, *, timeout: float = TIMEOUT_SECONDS) -> None:
        self.server = server
        self.timeout = timeout
        self.client: IMAPClient | None = None
        self.calls = 0
        self.selected: FolderState | None = None

    def __enter__(self) -> ImapMailbox:
        self.client = imap_connect(self.server, timeout=self.timeout)
        self.calls += 1
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        if self.client is None:
            return
        client, self.client = self.client, None
        try:
            client.logout()
        except Exception:
            with contextlib.suppress(Exception):
                client.shutdown()

    def _client(self) -> IMAPClient:
        if self.client is None:
            raise TransientChannelError("IMAP session is closed")
        return self.client

    # --- reading ---------------------------------------------------------------------------

    def select(self, folder: str) -> FolderState:
        """EXAMINE a folder (read-only: nothing we do changes its flags)."""
        with imap_errors(self.server.host):
            info = self._client().select_folder(folder, readonly=True)
            self.calls += 1
        uidnext = info.get(b"UIDNEXT")
        self.selected = FolderState(
            name=folder,
            uidvalidity=int(info[b"UIDVALIDITY"]),
            uidnext=int(uidnext) if uidnext is not None else None,
            exists=int(info.get(b"EXISTS") or 0),
        )
        return self.selected

    def uids_after(self, last_uid: int) -> list[int]:
        """UIDs greater than `last_uid` in the selected folder, ascending."""
        state = self.selected
        if state is None:
            raise TransientChannelError("no folder selected")
        if state.exists == 0 or (state.uidnext is not None and state.uidnext <= last_uid + 1):
            return []
        with imap_errors(self.server.host):
            uids = self._client().search(["UID", f"{last_uid + 1}:*"])
            self.calls += 1
        # "n:*" always matches the highest UID, even when it is below n.
        return sorted(int(uid) for uid in uids if int(uid) > last_uid)

    def envelopes(self, uids: Sequence[int]) -> list[Envelope]:
        """Message-ID and size of each UID (no body download), in UID order."""
        result: list[Envelope] = []
        for start in range(0, len(uids), HEADER_BATCH):
            batch = list(uids[start : start + HEADER_BATCH])
            with imap_errors(self.server.host):
                data = self._client().fetch(batch, ["RFC822.SIZE", "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
                self.calls += 1
            for uid in batch:
                item = data.get(uid)
                if item is None:  # expunged meanwhile
                    continue
                header = next((v for k, v in item.items() if k.startswith(b"BODY[HEADER")), b"") or b""
                result.append(Envelope(uid, header_message_id(header), int(item.get(b"RFC822.SIZE") or 0)))
        return result

    def bodies(self, envelopes: Sequence[Envelope]) -> Iterator[tuple[int, bytes, datetime | None]]:
        """(uid, raw bytes, INTERNALDATE) of each mail, fetched in bounded batches with BODY.PEEK[]."""
        batch: list[Envelope] = []
        batch_bytes = 0
        for envelope in [*envelopes, None]:
            if envelope is not None and (
                not batch or (len(batch) < BODY_BATCH and batch_bytes < BODY_BATCH_BYTES)
            ):
                batch.append(envelope)
                batch_bytes += envelope.size
                continue
            if batch:
                yield from self._fetch_bodies([e.uid for e in batch])
            batch, batch_bytes = ([envelope], envelope.size) if envelope is not None else ([], 0)

    def _fetch_bodies(self, uids: list[int]) -> Iterator[tuple[int, bytes, datetime | None]]:
        with imap_errors(self.server.host):
            data = self._client().fetch(uids, ["BODY.PEEK[]", "INTERNALDATE"])
            self.calls += 1
        for uid in uids:
            item = data.get(uid)
            if item is None:
                continue
            raw = item.get(b"BODY[]")
            if raw is None:
                continue
            internal = item.get(b"INTERNALDATE")
            yield uid, bytes(raw), internal if isinstance(internal, datetime) else None

    def find_message_id(self, folder: str, message_id: str) -> bool:
        """Is a mail with this Message-ID in `folder`? (HEADER search, read-only.)"""
        self.select(folder)
        with imap_errors(self.server.host):
            found = self._client().search(["HEADER", "Message-ID", f"<{message_id}>"])
            self.calls += 1
        return bool(found)

    def list_folders(self) -> list[str]:
        with imap_errors(self.server.host):
            folders = self._client().list_folders()
            self.calls += 1
        return [name for _flags, _delimiter, name in folders]

    # --- writing (only our own sent copies) ------------------------------------------------

    def append(self, folder: str, raw: bytes, *, flags: Sequence[bytes] = (rb"\Seen",), when=None) -> None:
        with imap_errors(self.server.host):
            self._client().append(folder, raw, flags=list(flags), msg_time=when)
            self.calls += 1

    # --- IDLE ------------------------------------------------------------------------------

    def has_idle(self) -> bool:
        with imap_errors(self.server.host):
            return bool(self._client().has_capability("IDLE"))

    def idle_wait(self, timeout: float) -> bool:
        """IDLE on the selected folder for up to `timeout` seconds; True if the server announced news."""
        client = self._client()
        responses: list = []
        with imap_errors(self.server.host):
            client.idle()
            try:
                responses.extend(client.idle_check(timeout=timeout))
            finally:
                _text, late = client.idle_done()
                responses.extend(late or [])
            self.calls += 1
        return any(
            isinstance(r, tuple) and len(r) >= 2 and r[1] in (b"EXISTS", b"RECENT", b"FETCH")
            for r in responses
        )
