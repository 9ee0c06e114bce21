"""Prints the shared-corpus pass rate at the end of the run (tests/integrations/email/test_corpus.py),
and starts the real mail servers the channel tests talk to (dovecot IMAP, aiosmtpd SMTP)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
from imapclient import IMAPClient

from .servers import Dovecot, SmtpServer

CORPUS_SUMMARY = pytest.StashKey[str]()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    summary = config.stash.get(CORPUS_SUMMARY, None)
    if summary:
        terminalreporter.write_sep("-", "shared e-mail corpus")
        terminalreporter.write_line(summary)


# --------------------------------------------------------------------------------------------------
# Real mail servers (tests/integrations/email/servers.py) and a mailbox connected to them
# --------------------------------------------------------------------------------------------------
IMAP_PASSWORD = "tajne-haslo-imap"


def _require_dovecot() -> None:
    if not Dovecot.available():
        pytest.fail(
            "dovecot-imapd is not installed: run bin/ensure-test-system-deps (apt-get install dovecot-imapd)",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    """One real IMAP server for the session; each test gets its own mail user (`imap_user`)."""
    _require_dovecot()
    server = mail_server()
    yield server
    server.destroy()


class ImapUser:
    """A mail user of a Dovecot instance, with helpers that talk IMAP like a mail client would."""

    def __init__(self, server: Dovecot, login: str, password: str) -> None:
        self.server = server
        self.login = login
        self.password = password

    def client(self) -> IMAPClient:
        client = IMAPClient(self.server.host, port=self.server.port, ssl=False, timeout=10)
        client.login(self.login, self.password)
        return client

    def append(self, raw: bytes, *, folder: str = "INBOX", flags=(), when: datetime | None = None) -> None:
        with self.client() as client:
            client.append(folder, raw, flags=list(flags), msg_time=when)

    def create_folder(self, folder: str) -> None:
        with self.client() as client:
            client.create_folder(folder)

    def delete_folder(self, folder: str) -> None:
        with self.client() as client:
            client.delete_folder(folder)

    def flags(self, folder: str = "INBOX") -> dict[int, tuple]:
        with self.client() as client:
            client.select_folder(folder, readonly=True)
            return {uid: data[b"FLAGS"] for uid, data in client.fetch(client.search(), ["FLAGS"]).items()}

    def uidvalidity(self, folder: str = "INBOX") -> int:
        with self.client() as client:
            return int(client.folder_status(folder, ["UIDVALIDITY"])[b"UIDVALIDITY"])

    def messages(self, folder: str) -> list[bytes]:
        with self.client() as client:
            client.select_folder(folder, readonly=True)
            fetched = client.fetch(client.search(), ["BODY.PEEK[]"])
            return [data[b"BODY[]"] for _uid, data in sorted(fetched.items())]


def mail_server(users: int = 400) -> Dovecot:
    """A started dovecot with `users` logins provisioned up front (dovecot re-reads its password file
    at most once a second, so users are not added on the fly)."""
    return Dovecot(users={f"sklep{n}@example.com": IMAP_PASSWORD for n in range(1, users + 1)}).start()


def add_imap_user(server: Dovecot) -> ImapUser:
    """The next unused login of `server` (each test gets an empty mailbox of its own)."""
    used = server.__dict__.setdefault("_used_logins", set())
    login = next(name for name in server.users if name not in used)
    used.add(login)
    user = ImapUser(server, login, server.users[login])
    with user.client() as client:  # creates the maildir
        if not client.folder_exists("Sent"):
            client.create_folder("Sent")
    return user


@pytest.fixture
def imap_user(dovecot) -> ImapUser:
    return add_imap_user(dovecot)


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def smtp_rejecting() -> Iterator[SmtpServer]:
    """An SMTP server that refuses one recipient with 550 (and accepts the rest)."""
    server = SmtpServer(reject=("nieznany@example.net",)).start()
    yield server
    server.stop()


def mailbox_settings(imap_user: ImapUser, smtp: SmtpServer, **extra):
    from integrations.email.mailbox import NONE, MailboxSettings, ServerSettings

    return MailboxSettings(
        imap=ServerSettings(
            host=imap_user.server.host,
            port=imap_user.server.port,
            security=NONE,
            username=imap_user.login,
            password=imap_user.password,
        ),
        smtp=ServerSettings(host=smtp.host, port=smtp.port, security=NONE, username="", password=""),
        from_email=imap_user.login,
        from_name="Sklep Alicji",
        **extra,
    )


@pytest.fixture
def mailbox(org, imap_user, smtp_server):
    """A mailbox (ChannelAccount kind email) of `org`, connected to the test servers."""
    from integrations.email.services import mailbox_create

    settings = mailbox_settings(imap_user, smtp_server)
    return mailbox_create(organization=org, name="Skrzynka sklepu", mailbox=settings)
