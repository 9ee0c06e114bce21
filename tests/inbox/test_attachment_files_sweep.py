"""Attachment files no row names (a rolled-back store, a deleted message) are swept, a day late."""

from __future__ import annotations

import os
import time
from email.message import EmailMessage

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.db import transaction

from inbox.attachments import attachment_files_sweep
from inbox.models import Attachment, ChannelAccount
from inbox.tasks import attachment_files_sweep_task
from integrations.email.ingest import email_import
from integrations.email.mailbox import NONE, MailboxSettings, ServerSettings

SETTINGS = MailboxSettings(
    imap=ServerSettings("127.0.0.1", 1, NONE, "sklep@example.com", "x"),
    smtp=ServerSettings("127.0.0.1", 1, NONE, "", ""),
    from_email="sklep@example.com",
)
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def _mail_with_invoice(n: int) -> bytes:
    mail = EmailMessage()
    mail["From"] = "Anna <anna@example.pl>"
    mail["To"] = "sklep@example.com"
    mail["Subject"] = f"Faktura {n}"
    mail["Message-ID"] = f"<faktura-{n}-{time.time_ns()}@example.pl>"
    mail.set_content("W załączniku faktura.")
    mail.add_attachment(PDF, maintype="application", subtype="pdf", filename=f"faktura-{n}.pdf")
    return mail.as_bytes()


def _files() -> set[str]:
    found = set()
    folders, _ = default_storage.listdir("attachments")
    for folder in folders:
        found |= {
            f"attachments/{folder}/{name}" for name in default_storage.listdir(f"attachments/{folder}")[1]
        }
    return found


def _age(names, hours: float) -> None:
    for name in names:
        then = time.time() - hours * 3600
        os.utime(default_storage.path(name), (then, then))


@pytest.mark.django_db
def test_files_of_a_rolled_back_store_are_swept_once_a_day_old(org, settings, tmp_path) -> None:
    settings.MEDIA_ROOT = tmp_path
    account = ChannelAccount.objects.create(
        organization=org,
        kind="email",
        name="m",
        external_id="m@example.com",
        credentials=SETTINGS.as_credentials(),
    )
    email_import(account, [_mail_with_invoice(1)], mailbox=SETTINGS)  # committed: its file stays
    kept = set(Attachment.objects.values_list("file", flat=True))
    assert len(kept) == 1

    class Failed(Exception):
        pass

    with pytest.raises(Failed), transaction.atomic():
        email_import(account, [_mail_with_invoice(2), _mail_with_invoice(3)], mailbox=SETTINGS)
        raise Failed  # e.g. the sync's database connection died before the commit
    orphans = _files() - kept
    assert len(orphans) == 2 and Attachment.objects.count() == 1

    assert attachment_files_sweep() == []  # too young: their transaction might still be running
    _age(_files(), hours=25)
    assert sorted(attachment_files_sweep(dry_run=True)) == sorted(orphans)
    assert _files() == kept | orphans  # a dry run deletes nothing
    assert attachment_files_sweep_task() == 2
    assert _files() == kept
    assert default_storage.open(next(iter(kept))).read() == PDF


@pytest.mark.django_db
def test_the_command_lists_what_it_deletes(org, settings, tmp_path, capsys) -> None:
    settings.MEDIA_ROOT = tmp_path
    default_storage.save(f"attachments/{org.pk}/stray", ContentFile(b"x"))
    call_command("attachments_sweep", "--hours", "0", "--dry-run")
    assert "would delete 1 file(s)" in capsys.readouterr().out
    call_command("attachments_sweep", "--hours", "0")
    assert f"attachments/{org.pk}/stray" in capsys.readouterr().out
    assert not default_storage.exists(f"attachments/{org.pk}/stray")
