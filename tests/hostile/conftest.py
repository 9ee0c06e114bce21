"""Hostile-input fixtures: the real mail servers of tests/integrations/email (dovecot IMAP, aiosmtpd)."""

from tests.api.conftest import api  # noqa: F401
from tests.integrations.email.conftest import dovecot, imap_user, mailbox, smtp_server  # noqa: F401
