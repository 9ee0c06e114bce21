"""Sending through the seller's SMTP server with Django's EmailMessage and a per-mailbox connection.

Errors become ChannelErrors: a 5xx refusal (unknown recipient, rejected sender or content) is
permanent and shown to the agent with the server's words; 4xx, timeouts and dropped connections
are transient (the outbox retries, after asking `find_sent` whether the mail did go out); a refused
login is `AuthorizationLost` (the owner must fix the mailbox settings).
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
from collections.abc import Iterator, Sequence
from datetime import datetime
from email.utils import format_datetime, formataddr

from django.core.mail import EmailMessage, get_connection
from django.utils.translation import gettext as _

from integrations.contracts import AuthorizationLost, PermanentChannelError, TransientChannelError

from .mailbox import SSL, STARTTLS, MailboxSettings, ServerSettings
from .parsing import REPLYDESK_HEADER

TIMEOUT_SECONDS = 30
MAX_REFERENCES = 20


def smtp_connection(server: ServerSettings, *, timeout: float = TIMEOUT_SECONDS):
    return get_connection(
        backend="django.core.mail.backends.smtp.EmailBackend",
        host=server.host,
        port=server.port,
        username=server.username,
        password=server.password,
        use_tls=server.security == STARTTLS,
        use_ssl=server.security == SSL,
        timeout=timeout,
        fail_silently=False,
    )


def _reply_text(value) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return " ".join(str(value).split())[:400]


@contextlib.contextmanager
def smtp_errors(host: str) -> Iterator[None]:
    try:
        yield
    except smtplib.SMTPRecipientsRefused as exc:
        refused = list((exc.recipients or {}).items())
        address, (code, reply) = refused[0] if refused else ("?", (550, b""))
        error = PermanentChannelError if int(code) >= 500 else TransientChannelError
        raise error(
            f"SMTP refused recipient ({code})",
            user_message=_("The mail server refused the recipient %(address)s: %(code)s %(reason)s")
            % {"address": address, "code": code, "reason": _reply_text(reply)},
            status=int(code),
        ) from None
    except smtplib.SMTPAuthenticationError as exc:
        if int(exc.smtp_code) < 500:
            raise TransientChannelError(
                f"SMTP login temporarily refused ({exc.smtp_code})",
                user_message=_("The mail server %(host)s cannot log in right now: %(reason)s")
                % {"host": host, "reason": _reply_text(exc.smtp_error)},
                status=exc.smtp_code,
            ) from None
        raise AuthorizationLost(
            f"SMTP login refused ({exc.smtp_code})",
            user_message=_("The mail server %(host)s refused the login: %(reason)s")
            % {"host": host, "reason": f"{exc.smtp_code} {_reply_text(exc.smtp_error)}"},
            status=exc.smtp_code,
        ) from None
    except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
        error = PermanentChannelError if int(exc.smtp_code) >= 500 else TransientChannelError
        raise error(
            f"SMTP refused the mail ({exc.smtp_code})",
            user_message=_("The mail server refused the mail: %(code)s %(reason)s")
            % {"code": exc.smtp_code, "reason": _reply_text(exc.smtp_error)},
            status=exc.smtp_code,
        ) from None
    except smtplib.SMTPNotSupportedError as exc:
        raise PermanentChannelError(
            "SMTP feature not supported",
            user_message=_("The mail server %(host)s does not support this: %(reason)s")
            % {"host": host, "reason": _reply_text(exc)},
        ) from None
    except ssl.SSLCertVerificationError as exc:
        raise PermanentChannelError(
            "SMTP certificate not trusted",
            user_message=_("The mail server's certificate is not trusted: %(reason)s")
            % {"reason": _reply_text(exc.verify_message or exc)},
        ) from None
    except smtplib.SMTPResponseException as exc:
        error = PermanentChannelError if int(exc.smtp_code) >= 500 else TransientChannelError
        raise error(
            f"SMTP error ({exc.smtp_code})",
            user_message=_("The mail server %(host)s answered: %(code)s %(reason)s")
            % {"host": host, "code": exc.smtp_code, "reason": _reply_text(exc.smtp_error)},
            status=exc.smtp_code,
        ) from None
    except (smtplib.SMTPException, TimeoutError, ssl.SSLError, OSError) as exc:
        raise TransientChannelError(
            f"SMTP connection failed: {type(exc).__name__}",
            user_message=_("The connection to the mail server %(host)s failed: %(reason)s")
            % {"host": host, "reason": _reply_text(exc) or type(exc).__name__},
        ) from None


def reply_build(
    mailbox: MailboxSettings,
    *,
    to: str,
    subject: str,
    text: str,
    message_id: str,
    date: datetime,
    in_reply_to: str = "",
    references: Sequence[str] = (),
    replydesk_id: str = "",
    automatic: bool = False,
    connection=None,
) -> EmailMessage:
    """Our mail: our Message-ID, threading headers, X-Replydesk-Id, Auto-Submitted when automatic."""
    headers = {"Message-ID": f"<{message_id}>", "Date": format_datetime(date)}
    if in_reply_to:
        headers["In-Reply-To"] = f"<{in_reply_to}>"
    refs = list(dict.fromkeys(r for r in references if r))
    if len(refs) > MAX_REFERENCES:  # RFC 5322 §3.6.4: keep the root and the newest ones
        refs = [refs[0], *refs[-(MAX_REFERENCES - 1) :]]
    if refs:
        headers["References"] = " ".join(f"<{r}>" for r in refs)
    if replydesk_id:
        headers[REPLYDESK_HEADER] = replydesk_id
    if automatic:
        headers["Auto-Submitted"] = "auto-replied"  # rules.md §5, RFC 3834
    return EmailMessage(
        subject=" ".join(subject.split()),
        body=text,
        from_email=formataddr((mailbox.from_name, mailbox.from_email))
        if mailbox.from_name
        else mailbox.from_email,
        to=[to],
        headers=headers,
        connection=connection,
    )


def message_bytes(message: EmailMessage) -> bytes:
    return message.message().as_bytes(linesep="\r\n")


def smtp_send(mailbox: MailboxSettings, message: EmailMessage) -> None:
    """Hand one mail to the mailbox's SMTP server. Raises ChannelError."""
    connection = smtp_connection(mailbox.smtp)
    message.connection = connection
    with smtp_errors(mailbox.smtp.host):
        sent = message.send(fail_silently=False)
    if sent != 1:
        raise TransientChannelError(
            "SMTP accepted nothing",
            user_message=_("The mail server %(host)s did not accept the mail.") % {"host": mailbox.smtp.host},
        )


def smtp_check(server: ServerSettings, *, timeout: float = 15) -> None:
    """Log in to the SMTP server and log out (the "Test connection" button). Raises ChannelError."""
    connection = smtp_connection(server, timeout=timeout)
    with smtp_errors(server.host):
        connection.open()
        connection.close()
