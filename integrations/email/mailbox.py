"""A mailbox's settings, as stored (encrypted) in `ChannelAccount.credentials`.

Layout of `credentials` for kind "email" (everything lives in the encrypted field, the passwords
and the rest alike, so the settings are one document)::

    {"imap": {"host", "port", "security", "username", "password"},
     "smtp": {"host", "port", "security", "username", "password"},
     "folders": ["INBOX", …], "from_email", "from_name", "sent_folder", "append_to_sent"}

`security` is "ssl" (TLS from the first byte), "starttls" or "none". Nothing here is ever logged
or rendered: `__repr__` hides the passwords.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from inbox.models import ChannelAccount

SSL = "ssl"
STARTTLS = "starttls"
NONE = "none"
SECURITY_CHOICES = (SSL, STARTTLS, NONE)

DEFAULT_PORTS = {
    ("imap", SSL): 993,
    ("imap", STARTTLS): 143,
    ("imap", NONE): 143,
    ("smtp", SSL): 465,
    ("smtp", STARTTLS): 587,
    ("smtp", NONE): 25,
}


@dataclass(frozen=True)
class ServerSettings:
    host: str
    port: int
    security: str = SSL
    username: str = ""
    password: str = field(default="", repr=False)

    def __repr__(self) -> str:
        return f"<ServerSettings {self.username}@{self.host}:{self.port} {self.security}>"

    def as_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "port": self.port,
            "security": self.security,
            "username": self.username,
            "password": self.password,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, protocol: str) -> ServerSettings:
        security = data.get("security") if data.get("security") in SECURITY_CHOICES else SSL
        return cls(
            host=str(data.get("host") or ""),
            port=int(data.get("port") or DEFAULT_PORTS[(protocol, security)]),
            security=security,
            username=str(data.get("username") or ""),
            password=str(data.get("password") or ""),
        )


@dataclass(frozen=True)
class MailboxSettings:
    imap: ServerSettings
    smtp: ServerSettings
    from_email: str
    from_name: str = ""
    folders: tuple[str, ...] = ("INBOX",)
    # Where sent mail lives: searched for an interrupted send (find_sent), and, with
    # `append_to_sent`, where a copy of each reply is saved (off for Gmail, which saves it itself).
    sent_folder: str = ""
    append_to_sent: bool = False

    def __repr__(self) -> str:
        return f"<MailboxSettings {self.from_email} imap={self.imap!r} smtp={self.smtp!r}>"

    @property
    def domain(self) -> str:
        """Our Message-ID domain: the From address's domain."""
        return self.from_email.rpartition("@")[2].lower() or "localhost"

    @property
    def own_addresses(self) -> frozenset[str]:
        """Addresses that are the seller's own (mail from them is outbound)."""
        addresses = {self.from_email.lower()}
        for login in (self.imap.username, self.smtp.username):
            if "@" in login:
                addresses.add(login.lower())
        return frozenset(a for a in addresses if a)

    def as_credentials(self) -> dict[str, Any]:
        return {
            "imap": self.imap.as_dict(),
            "smtp": self.smtp.as_dict(),
            "folders": list(self.folders),
            "from_email": self.from_email,
            "from_name": self.from_name,
            "sent_folder": self.sent_folder,
            "append_to_sent": self.append_to_sent,
        }

    @classmethod
    def from_credentials(cls, data: dict[str, Any]) -> MailboxSettings:
        folders = tuple(str(f) for f in (data.get("folders") or ["INBOX"]) if str(f).strip())
        return cls(
            imap=ServerSettings.from_dict(data.get("imap") or {}, protocol="imap"),
            smtp=ServerSettings.from_dict(data.get("smtp") or {}, protocol="smtp"),
            from_email=str(data.get("from_email") or "").strip().lower(),
            from_name=str(data.get("from_name") or ""),
            folders=folders or ("INBOX",),
            sent_folder=str(data.get("sent_folder") or ""),
            append_to_sent=bool(data.get("append_to_sent")),
        )

    @classmethod
    def from_account(cls, account: ChannelAccount) -> MailboxSettings:
        return cls.from_credentials(account.credentials or {})

    def with_secrets_from(self, stored: MailboxSettings) -> MailboxSettings:
        """Empty passwords mean "keep the stored one" (the form never shows them)."""
        imap = self.imap if self.imap.password else replace(self.imap, password=stored.imap.password)
        smtp = self.smtp if self.smtp.password else replace(self.smtp, password=stored.smtp.password)
        return replace(self, imap=imap, smtp=smtp)
