"""Real mail servers on loopback for the e-mail channel tests (and bench/email_ingest.py).

* :class:`Dovecot`: Debian's dovecot-imapd (bin/ensure-test-system-deps installs it) with a
  throw-away config, maildirs and a static password file in a temp dir, listening on a free
  loopback port with plaintext auth (loopback only). Runs as root (mail owned by root, which the
  config allows) or as the current user.
* :class:`SmtpServer`: aiosmtpd on loopback that keeps every accepted message; ``reject`` names
  recipients it refuses with 550.

Nothing here mocks our code: the app talks IMAP and SMTP to these servers like to a provider's.
"""

from __future__ import annotations

import getpass
import grp
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

DOVECOT_BIN = "/usr/sbin/dovecot"
DOVEADM_BIN = "/usr/bin/doveadm"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


_CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
default_internal_user = {internal_user}
default_internal_group = {internal_group}
default_login_user = {login_user}
mail_location = maildir:{root}/mail/%u
first_valid_uid = {uid}
first_valid_gid = {gid}
mailbox_idle_check_interval = 1 secs
imap_idle_notify_interval = 10 secs
protocol imap {{
  mail_max_userip_connections = 200
}}
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Sent {{
    special_use = \\Sent
  }}
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
  process_min_avail = 1
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
"""


@dataclass
class Dovecot:
    """One dovecot instance; `users` maps login → password."""

    users: dict[str, str] = field(default_factory=lambda: {"sklep@example.com": "tajne-haslo"})
    host: str = "127.0.0.1"
    port: int = 0
    root: Path | None = None
    process: subprocess.Popen | None = None

    @staticmethod
    def available() -> bool:
        return Path(DOVECOT_BIN).exists()

    @property
    def config(self) -> Path:
        assert self.root is not None
        return self.root / "dovecot.conf"

    def start(self) -> Dovecot:
        if self.root is None:
            self.root = Path(tempfile.mkdtemp(prefix="replydesk-dovecot-"))
            self.root.chmod(0o755)
            for sub in ("run", "state", "mail"):
                (self.root / sub).mkdir()
        if not self.port:
            self.port = free_port()
        if os.geteuid() == 0:
            # dovecot's own unprivileged users (the package creates them); mail is owned by `dovecot`
            # because dovecot refuses uid 0 for mail access.
            internal_user, internal_group, login_user = "dovecot", "dovecot", "dovenull"
            mail_uid, mail_gid = pwd.getpwnam("dovecot").pw_uid, grp.getgrnam("dovecot").gr_gid
            os.chown(self.root / "mail", mail_uid, mail_gid)
        else:  # everything runs as the current user
            internal_user = internal_group = login_user = getpass.getuser()
            mail_uid, mail_gid = os.getuid(), os.getgid()
        lines = "".join(f"{login}:{{PLAIN}}{password}::::::\n" for login, password in self.users.items())
        (self.root / "users").write_text(lines)
        self.config.write_text(
            _CONFIG.format(
                root=self.root,
                port=self.port,
                uid=mail_uid,
                gid=mail_gid,
                internal_user=internal_user,
                internal_group=internal_group,
                login_user=login_user,
            )
        )
        self.process = subprocess.Popen(
            [DOVECOT_BIN, "-F", "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            _wait_for_port(self.port)
        except RuntimeError:
            self.stop()
            raise RuntimeError(f"dovecot did not start: {self.log()[-2000:]}") from None
        return self

    def stop(self) -> None:
        """Stop the server (the maildirs stay: `start()` again serves the same mail)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.process = None
        # Wait until the port is free again, so a restart on the same port works.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                sock.settimeout(0.2)
                if sock.connect_ex(("127.0.0.1", self.port)) != 0:
                    return
            time.sleep(0.05)

    def destroy(self) -> None:
        self.stop()
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def kick(self, user: str) -> None:
        """Drop every open IMAP connection of `user` (as if the provider cut it)."""
        subprocess.run(
            [DOVEADM_BIN, "-c", str(self.config), "kick", user], check=False, capture_output=True, timeout=20
        )

    def log(self) -> str:
        if self.root is None:
            return ""
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""


# --------------------------------------------------------------------------------------------------
# SMTP
# --------------------------------------------------------------------------------------------------


@dataclass
class Received:
    envelope_from: str
    recipients: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        """The mail with decoded headers (RFC 2047 words and all)."""
        return message_from_bytes(self.data, policy=policy.default)


class SmtpServer:
    """aiosmtpd on loopback that keeps what it accepted; `reject` recipients get 550."""

    def __init__(self, *, reject: tuple[str, ...] = (), auth: tuple[str, str] | None = None) -> None:
        self.reject = {r.lower() for r in reject}
        self.auth = auth
        self.received: list[Received] = []
        self.port = free_port()
        self.host = "127.0.0.1"
        self._controller = None

    def start(self) -> SmtpServer:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword

        server = self

        class Handler:
            async def handle_RCPT(self, smtp_server, session, envelope, address, rcpt_options):
                if address.lower() in server.reject:
                    return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
                envelope.rcpt_tos.append(address)
                return "250 OK"

            async def handle_DATA(self, smtp_server, session, envelope):
                server.received.append(
                    Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.original_content))
                )
                return "250 2.0.0 Ok: queued"

        def authenticator(smtp_server, session, envelope, mechanism, auth_data):
            if server.auth is None:
                return AuthResult(success=True)
            ok = (
                isinstance(auth_data, LoginPassword)
                and (
                    auth_data.login.decode(),
                    auth_data.password.decode(),
                )
                == server.auth
            )
            return AuthResult(success=ok)

        self._controller = Controller(
            Handler(),
            hostname=self.host,
            port=self.port,
            authenticator=authenticator,
            auth_require_tls=False,
            auth_required=self.auth is not None,
        )
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
