"""E-mail ingest: ours (parse → thread → store) against django-helpdesk's e-mail import, same mails.

    .venv/bin/python bench/email_ingest.py [--count 10000] [--skip-imap] [--skip-helpdesk]

The mails are the shared corpus (<project root>/../shared/corpus/email: .eml as they are, .txt
body-only samples inside a minimal header) repeated until `--count`, every copy with unique
Message-IDs (In-Reply-To and References rewritten the same way, so each round keeps the corpus's
own threads). Three timings, one after the other on this machine:

1. **ours, from bytes** — `integrations.email.ingest.email_import`: per mail `email_ingest` (raw
   bytes kept, dedupe, classification, threading) then `inbox.services.message_receive`
   (conversation, contact, message, SLA clock), one transaction per 200 mails. Database
   `replydesk_bench_email` (PostgreSQL).
2. **ours, through IMAP** — the same mails APPENDed to a throw-away dovecot (not timed), then
   timed: `channel_account_sync` until the mailbox is read (EXAMINE, UID search, Message-ID/size
   pre-fetch, BODY.PEEK[] batches, the same ingest and store). Skipped without dovecot.
3. **django-helpdesk** — installed from PyPI into its own virtualenv (/tmp/helpdesk-venv, never
   our dependencies) with a throw-away Django project on PostgreSQL (`replydesk_bench_helpdesk`);
   each mail goes through `helpdesk.email.extract_email_metadata(message, queue, logger)`, the
   function its IMAP/POP/local importers call per mail (subject-slug and In-Reply-To threading,
   ticket or follow-up, attachments saved to disk, notification mail rendered to a dummy backend).
   It is given the decoded text, as its importers do (`force_str(raw, errors="replace")`).

The ratio is ours-from-bytes ÷ helpdesk (like for like: neither counts the mail server); the
IMAP figure shows what the server round trips add.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from _django import ROOT, record, setup

CORPUS = Path(os.environ.get("REPLYDESK_SHARED_DIR", ROOT / ".." / "shared")).resolve() / "corpus" / "email"
HELPDESK_VENV = Path(os.environ.get("HELPDESK_VENV", "/tmp/helpdesk-venv"))
HELPDESK_DB = "replydesk_bench_helpdesk"
OUR_DB = "replydesk_bench_email"
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")

_TXT_HEADERS = (
    b"From: Corpus Sample <sample@example.com>\r\n"
    b"To: inbox@example.com\r\n"
    b"Subject: body-only corpus sample\r\n"
    b"Message-ID: <body-only-sample@example.com>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n"
)
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_ID_HEADER = re.compile(rb"^(message-id|in-reply-to|references):[^\n]*(?:\n[ \t][^\n]*)*", re.I | re.M)
_ANGLE = re.compile(rb"<([^<>\s]+)>")


def corpus_samples() -> list[tuple[str, bytes]]:
    samples = []
    for path in sorted(CORPUS.iterdir()):
        if path.suffix == ".eml":
            samples.append((path.name, path.read_bytes()))
        elif path.suffix == ".txt":
            samples.append((path.name, _TXT_HEADERS + path.read_bytes()))
    if not samples:
        sys.exit(f"no corpus at {CORPUS}")
    return samples


def unique_copy(raw: bytes, round_no: int, index: int) -> bytes:
    """The mail with round-specific ids: <r7.orig@dom> everywhere, and a Message-ID if it had none."""
    match = _HEADER_END.search(raw)
    header, body = (raw[: match.start()], raw[match.start() :]) if match else (raw, b"")

    def rewrite(m: re.Match) -> bytes:
        return _ANGLE.sub(lambda a: b"<r%d.%s>" % (round_no, a.group(1)), m.group(0))

    header = _ID_HEADER.sub(rewrite, header)
    if not re.search(rb"^message-id:", header, re.I | re.M):
        header += b"\r\nMessage-ID: <r%d.n%d@bench.replydesk.test>" % (round_no, index)
    return header + body


def bench_mails(count: int) -> list[bytes]:
    samples = corpus_samples()
    mails = []
    for n in range(count):
        round_no, index = divmod(n, len(samples))
        mails.append(unique_copy(samples[index][1], round_no, index))
    return mails


# --------------------------------------------------------------------------------------------------
# Ours
# --------------------------------------------------------------------------------------------------


def _fresh_org(name: str):
    from inbox.models import Organization

    return Organization.objects.create(name=name, slug=f"{name}-{time.time_ns()}")


def _analyze() -> None:
    """Table statistics as autovacuum keeps them on a live server (on some machines it is off): without
    them the planner takes a new account for a rare value and walks its rows (see bench/README.md)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def ours_from_bytes(mails: list[bytes]) -> dict:
    from inbox.models import ChannelAccount, Conversation, Message
    from integrations.email.ingest import email_import
    from integrations.email.mailbox import NONE, MailboxSettings, ServerSettings

    settings = MailboxSettings(
        imap=ServerSettings("127.0.0.1", 1, NONE, "inbox@example.com", "x"),
        smtp=ServerSettings("127.0.0.1", 1, NONE, "", ""),
        from_email="inbox@example.com",
    )
    org = _fresh_org("bench-email-bytes")
    account = ChannelAccount.objects.create(
        organization=org,
        kind="email",
        name="bench",
        external_id=f"bytes-{time.time_ns()}@example.com",
        credentials=settings.as_credentials(),
        health="ok",
    )
    timings: dict[str, float] = {}
    _analyze()
    started = time.perf_counter()
    email_import(account, mails, mailbox=settings, timings=timings)
    elapsed = time.perf_counter() - started
    return {
        "seconds": round(elapsed, 2),
        "per_second": round(len(mails) / elapsed, 1),
        "messages": Message.objects.filter(account=account).count(),
        "conversations": Conversation.objects.filter(account=account).count(),
        # Where the time goes: the channel (parse, dedupe, raw bytes, bounces, threading) and the
        # inbox's store (message_receive: conversation, contact, message, SLA clock, events).
        "ms_per_mail_ingest": round(timings.get("ingest", 0) * 1000 / len(mails), 2),
        "ms_per_mail_store": round(timings.get("store", 0) * 1000 / len(mails), 2),
    }


def ours_through_imap(mails: list[bytes]) -> dict | None:
    sys.path.insert(0, str(ROOT))
    from tests.integrations.email.servers import Dovecot

    if not Dovecot.available():
        print("dovecot not installed (bin/ensure-test-system-deps): IMAP path skipped")
        return None
    from imapclient import IMAPClient

    from inbox.models import ChannelAccount, Conversation, Message
    from integrations import services
    from integrations.email.mailbox import NONE, MailboxSettings, ServerSettings

    login, password = "bench@example.com", "bench-haslo"
    server = Dovecot(users={login: password}).start()
    try:
        client = IMAPClient(server.host, port=server.port, ssl=False, timeout=60)
        client.login(login, password)
        appended_at = time.perf_counter()
        for start in range(0, len(mails), 500):
            client.multiappend("INBOX", mails[start : start + 500])
        append_s = time.perf_counter() - appended_at
        client.logout()
        settings = MailboxSettings(
            imap=ServerSettings(server.host, server.port, NONE, login, password),
            smtp=ServerSettings("127.0.0.1", 1, NONE, "", ""),
            from_email=login,
        )
        org = _fresh_org("bench-email-imap")
        account = ChannelAccount.objects.create(
            organization=org,
            kind="email",
            name="bench",
            external_id=f"imap-{time.time_ns()}@example.com",
            credentials=settings.as_credentials(),
            health="ok",
        )
        _analyze()
        started = time.perf_counter()
        syncs = calls = 0
        while True:
            run = services.channel_account_sync(account.pk)
            assert run is not None and run.ok, run and run.error
            syncs += 1
            calls += run.http_calls
            if run.seen_messages == 0:
                break
        elapsed = time.perf_counter() - started
        stored = Message.objects.filter(account=account).count()
        return {
            "seconds": round(elapsed, 2),
            "per_second": round(len(mails) / elapsed, 1),
            "messages": stored,
            "conversations": Conversation.objects.filter(account=account).count(),
            "syncs": syncs,
            "imap_round_trips": calls,
            "append_seconds": round(append_s, 2),
        }
    finally:
        server.destroy()


# --------------------------------------------------------------------------------------------------
# django-helpdesk (its own virtualenv and Django project; never imported here)
# --------------------------------------------------------------------------------------------------

HELPDESK_SETTINGS = """
import os
SECRET_KEY = "bench-only"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = [
    "django.contrib.admin", "django.contrib.auth", "django.contrib.contenttypes",
    "django.contrib.sessions", "django.contrib.messages", "django.contrib.staticfiles",
    "django.contrib.sites", "django.contrib.humanize", "rest_framework", "helpdesk",
]
SITE_ID = 1
MIDDLEWARE = []
ROOT_URLCONF = "hdbench.urls"
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "DIRS": [], "APP_DIRS": True,
              "OPTIONS": {"context_processors": ["django.template.context_processors.request",
                                                 "django.contrib.auth.context_processors.auth",
                                                 "django.contrib.messages.context_processors.messages"]}}]
DATABASES = {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": os.environ["HD_DB"],
                         "USER": os.environ["HD_USER"], "HOST": os.environ["HD_HOST"],
                         "PORT": os.environ["HD_PORT"], "PASSWORD": os.environ.get("HD_PASSWORD", "")}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
EMAIL_BACKEND = "django.core.mail.backends.dummy.EmailBackend"
MEDIA_ROOT = os.environ["HD_MEDIA"]
STATIC_URL = "/static/"
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
HELPDESK_TEAMS_MODE_ENABLED = False  # teams (pinax-teams) play no part in the e-mail import
"""

HELPDESK_RUNNER = """
import json, logging, os, sys, time
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.utils import encoding
import helpdesk
from helpdesk.email import extract_email_metadata
from helpdesk.models import FollowUp, Queue, Ticket
queue = Queue.objects.create(title="Bench", slug="rd%d" % time.time_ns(), email_address="inbox@example.com")
logger = logging.getLogger("helpdesk.bench")
logger.setLevel(logging.WARNING)
paths = sorted(os.listdir(sys.argv[1]))
mails = [open(os.path.join(sys.argv[1], p), "rb").read() for p in paths]
errors = {}
started = time.perf_counter()
for raw in mails:
    try:
        extract_email_metadata(message=encoding.force_str(raw, errors="replace"), queue=queue, logger=logger)
    except Exception as exc:  # counted, like its importers log and go on
        key = f"{type(exc).__name__}: {exc}"[:200]
        errors[key] = errors.get(key, 0) + 1
elapsed = time.perf_counter() - started
print(json.dumps({"seconds": round(elapsed, 2), "per_second": round(len(mails) / elapsed, 1),
                  "tickets": Ticket.objects.filter(queue=queue).count(),
                  "followups": FollowUp.objects.filter(ticket__queue=queue).count(),
                  "errors": errors, "version": getattr(helpdesk, "__version__", "")}))
"""


def _helpdesk_python() -> Path:
    python = HELPDESK_VENV / "bin" / "python"
    if not python.exists():
        print(f"creating {HELPDESK_VENV} and installing django-helpdesk from PyPI …")
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(HELPDESK_VENV)], check=True)
    probe = subprocess.run([str(python), "-c", "import helpdesk, psycopg"], capture_output=True)
    if probe.returncode != 0:
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "django-helpdesk", "psycopg[binary]"], check=True
        )
    return python


def _helpdesk_version(python: Path) -> str:
    out = subprocess.run(
        [
            str(python),
            "-c",
            "import importlib.metadata as m; print(m.version('django-helpdesk'), m.version('django'))",
        ],
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


def helpdesk_import(mails: list[bytes]) -> dict:
    import psycopg

    python = _helpdesk_python()
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{HELPDESK_DB}"')
        conn.execute(f'CREATE DATABASE "{HELPDESK_DB}"')
    work = Path(tempfile.mkdtemp(prefix="helpdesk-bench-"))
    try:
        project = work / "hdbench"
        project.mkdir()
        (project / "__init__.py").write_text("")
        (project / "settings.py").write_text(textwrap.dedent(HELPDESK_SETTINGS))
        (project / "urls.py").write_text(
            "from django.urls import include, path\n"
            'urlpatterns = [path("helpdesk/", include("helpdesk.urls", namespace="helpdesk"))]\n'
        )
        (work / "runner.py").write_text(textwrap.dedent(HELPDESK_RUNNER))
        mail_dir = work / "mails"
        mail_dir.mkdir()
        for n, raw in enumerate(mails):
            (mail_dir / f"{n:06d}.eml").write_bytes(raw)
        (work / "media").mkdir()
        from urllib.parse import urlparse

        url = urlparse(PG)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO", "DATABASE_URL"))},
            "DJANGO_SETTINGS_MODULE": "hdbench.settings",
            "PYTHONPATH": str(work),
            "HD_DB": HELPDESK_DB,
            "HD_USER": url.username or "postgres",
            "HD_PASSWORD": url.password or "",
            "HD_HOST": url.hostname or "127.0.0.1",
            "HD_PORT": str(url.port or 5432),
            "HD_MEDIA": str(work / "media"),
        }
        done = subprocess.run(
            [str(python), str(work / "runner.py"), str(mail_dir)],
            env=env,
            cwd=work,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise RuntimeError(f"django-helpdesk run failed:\n{done.stderr[-4000:]}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        result["version"] = _helpdesk_version(python)
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--skip-imap", action="store_true")
    parser.add_argument("--skip-helpdesk", action="store_true")
    args = parser.parse_args()

    mails = bench_mails(args.count)
    print(f"{len(mails)} mails ({sum(map(len, mails)) / 2**20:.1f} MiB) from {CORPUS}")
    setup(OUR_DB)

    figures: dict = {"mails": len(mails)}
    ours = ours_from_bytes(mails)
    figures["ours_bytes"] = ours
    print(f"ours, from bytes:      {ours['per_second']:8.1f} mails/s  ({ours['seconds']} s)")
    print(
        f"  per mail: {ours['ms_per_mail_ingest']} ms e-mail channel (parse, dedupe, raw, thread) + "
        f"{ours['ms_per_mail_store']} ms inbox store (message_receive)"
    )
    if not args.skip_imap:
        imap = ours_through_imap(mails)
        if imap:
            figures["ours_imap"] = imap
            print(f"ours, through IMAP:    {imap['per_second']:8.1f} mails/s  ({imap['seconds']} s)")
    if not args.skip_helpdesk:
        helpdesk = helpdesk_import(mails)
        figures["helpdesk"] = helpdesk
        rate, seconds = helpdesk["per_second"], helpdesk["seconds"]
        print(f"django-helpdesk {helpdesk['version']}: {rate:8.1f} mails/s  ({seconds} s)")
        figures["ratio_bytes"] = round(ours["per_second"] / helpdesk["per_second"], 2)
        print(f"ratio (ours from bytes / helpdesk): {figures['ratio_bytes']}×  (target ≥ 3×)")
        if "ours_imap" in figures:
            figures["ratio_imap"] = round(figures["ours_imap"]["per_second"] / helpdesk["per_second"], 2)
            print(f"ratio (ours through IMAP / helpdesk): {figures['ratio_imap']}×")
    record("email_ingest", figures)


if __name__ == "__main__":
    main()
