"""Issue #9, hostile input: attachments — caps, type sniffing, zip bombs, safe downloads.

Zip archives are judged from their central directory (inbox/attachments.py): the bombs below are real
archives (deflated zeros), and the check never inflates them. Incoming mail goes through a real
dovecot and the real IMAP sync; refused files stay as a "refused: reason" row, the raw mail is kept.
"""

from __future__ import annotations

import io
import time
import zipfile
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import translation

from inbox.attachments import MAX_FILES, inbound_verdict, inspect_zip
from inbox.models import Attachment, Message
from integrations.models import EmailSource
from integrations.services import channel_account_sync
from tests.factories import ConversationFactory

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
EXE = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 120 + b"This program cannot be run in DOS mode"
HTML = b"<!DOCTYPE html><html><script>alert(document.cookie)</script></html>"


def _zip(entries: dict[str, bytes], *, compression=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression, compresslevel=9) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture(autouse=True)
def _english():
    """The refusal reasons are shown to agents in their language; these tests read the English ones."""
    with translation.override("en"):
        yield


@pytest.fixture(scope="module")
def gigabyte_bomb() -> bytes:
    """A real ~1 MB archive that expands to 1 GiB (streamed: never 1 GiB in memory)."""
    buffer = io.BytesIO()
    chunk = b"\x00" * (8 * 1024 * 1024)
    with (
        zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive,
        archive.open("faktura.pdf", "w", force_zip64=True) as entry,
    ):
        for _ in range(128):
            entry.write(chunk)
    return buffer.getvalue()


def test_a_gigabyte_bomb_is_refused_from_its_directory_without_inflating(gigabyte_bomb):
    assert len(gigabyte_bomb) < 8 * 1024 * 1024
    started = time.perf_counter()
    reason = inspect_zip(gigabyte_bomb)
    assert time.perf_counter() - started < 0.5  # headers only
    assert "1024 MB" in reason


def test_zip_caps():
    assert inspect_zip(_zip({"a.txt": b"x" * 100, "b/c.png": PNG})) == ""
    assert "zip bomb" in inspect_zip(_zip({"zera.bin": b"\x00" * (4 * 1024 * 1024)}))
    assert "too many entries" in inspect_zip(_zip({f"{n}.txt": b"" for n in range(1001)}))
    assert "program" in inspect_zip(_zip({"faktura.pdf.exe": EXE}))
    assert "damaged" in inspect_zip(b"PK\x03\x04" + b"\x00" * 100)
    # Nesting: one stored level is looked into; deeper, or compressed, is refused.
    inner = _zip({"a.txt": b"ok"}, compression=zipfile.ZIP_STORED)
    assert inspect_zip(_zip({"inner.zip": inner}, compression=zipfile.ZIP_STORED)) == ""
    bad_inner = _zip({"x.exe": EXE}, compression=zipfile.ZIP_STORED)
    assert "program" in inspect_zip(_zip({"inner.zip": bad_inner}, compression=zipfile.ZIP_STORED))
    deeper = _zip({"inner.zip": inner}, compression=zipfile.ZIP_STORED)
    assert "nested too deep" in inspect_zip(_zip({"outer.zip": deeper}, compression=zipfile.ZIP_STORED))
    assert "cannot be inspected" in inspect_zip(_zip({"inner.zip": inner}))


def test_type_sniffing_of_incoming_files():
    assert inbound_verdict("zdjecie.jpg", "image/jpeg", EXE).refused  # an .exe renamed .jpg
    assert inbound_verdict("faktura.exe", "application/pdf", b"%PDF-1.4").refused  # a program by name
    assert "HTML" in inbound_verdict("obraz.png", "image/png", HTML).refused
    assert inbound_verdict("obraz.png", "image/png", b"%PDF-1.4 ...").refused  # not an image
    ok = inbound_verdict("obraz.png", "image/png", PNG)
    assert ok.refused == "" and ok.content_type == "image/png"
    page = inbound_verdict("strona.html", "text/html", HTML)
    assert page.refused == "" and page.content_type == "application/octet-stream"  # never text/html
    assert inbound_verdict("duzy.pdf", "application/pdf", b"%PDF-" + b"0" * (26 * 1024 * 1024)).refused


def _hostile_mail(bomb: bytes) -> bytes:
    mail = EmailMessage()
    mail["From"] = "Anna Nowak <anna.nowak@example.pl>"
    mail["To"] = "sklep@example.com"
    mail["Subject"] = "Zdjęcia uszkodzonej paczki"
    mail["Message-ID"] = "<hostile-attachments@example.pl>"
    mail.set_content("Dzień dobry, w załączniku zdjęcia.\n\nAnna")
    mail.add_attachment(EXE, maintype="image", subtype="jpeg", filename="zdjecie.jpg")
    mail.add_attachment(HTML, maintype="image", subtype="png", filename="paczka.png")
    mail.add_attachment(bomb, maintype="application", subtype="zip", filename="zdjecia.zip")
    mail.add_attachment(PNG, maintype="image", subtype="png", filename="karton.png")
    mail.add_attachment(HTML, maintype="text", subtype="html", filename="strona.html")
    return mail.as_bytes()


@pytest.mark.slow
def test_hostile_mail_attachments_are_refused_and_recorded_the_rest_served_as_downloads(
    mailbox, imap_user, alice, gigabyte_bomb
):
    imap_user.append(_hostile_mail(gigabyte_bomb))
    run = channel_account_sync(mailbox.pk)
    assert run.ok, run.error
    message = Message.objects.get(account=mailbox, direction=Message.Direction.INBOUND)
    rows = {a.filename: a for a in Attachment.objects.filter(message=message)}
    assert set(rows) == {"zdjecie.jpg", "paczka.png", "zdjecia.zip", "karton.png", "strona.html"}
    assert "program" in rows["zdjecie.jpg"].refused and not rows["zdjecie.jpg"].file
    assert "HTML" in rows["paczka.png"].refused and not rows["paczka.png"].file
    assert "1024 MB" in rows["zdjecia.zip"].refused and not rows["zdjecia.zip"].file
    assert rows["karton.png"].refused == "" and rows["karton.png"].file
    assert rows["strona.html"].refused == "" and rows["strona.html"].file
    # Lose nothing: the raw mail with every byte of every attachment is kept.
    kept = message_from_bytes(bytes(EmailSource.objects.get(account=mailbox).raw), policy=policy.default)
    kept_files = {part.get_filename(): part.get_content() for part in kept.iter_attachments()}
    assert kept_files["zdjecia.zip"] == gigabyte_bomb and kept_files["zdjecie.jpg"] == EXE

    client = Client()
    client.force_login(alice)
    page = client.get(reverse("inbox:conversation-detail", args=[message.conversation_id]))
    assert "zdjecie.jpg" in page.content.decode()
    png = client.get(reverse("inbox:attachment-download", args=[rows["karton.png"].pk]))
    assert png.status_code == 200
    assert png["Content-Type"] == "image/png"
    assert png["Content-Disposition"].startswith("attachment")
    assert png["X-Content-Type-Options"] == "nosniff"
    assert b"".join(png.streaming_content) == PNG
    html = client.get(reverse("inbox:attachment-download", args=[rows["strona.html"].pk]))
    assert html["Content-Type"] == "application/octet-stream"  # never rendered as a page
    assert html["Content-Disposition"].startswith("attachment")
    assert "sandbox" in html["Content-Security-Policy"]
    refused = client.get(reverse("inbox:attachment-download", args=[rows["zdjecie.jpg"].pk]))
    assert refused.status_code == 404


def test_an_outsider_cannot_download(mailbox, charlie):
    conversation = ConversationFactory(account=mailbox)
    message = Message.objects.create(
        organization=mailbox.organization, account=mailbox, conversation=conversation, text="x"
    )
    attachment = Attachment.objects.create(
        organization=mailbox.organization,
        message=message,
        filename="a.png",
        file=SimpleUploadedFile("a.png", PNG),
    )
    client = Client()
    client.force_login(charlie)
    assert client.get(reverse("inbox:attachment-download", args=[attachment.pk])).status_code == 404


@pytest.mark.parametrize(
    ("name", "data", "content_type"),
    [
        ("zdjecie.jpg", EXE, "image/jpeg"),  # an .exe renamed .jpg
        ("obraz.png", HTML, "image/png"),  # HTML claiming to be a PNG
        ("zdjecia.zip", _zip({"a.jpg": PNG}), "application/zip"),  # Allegro takes no archives
    ],
)
def test_agent_uploads_are_sniffed(org, alice, account, name, data, content_type):
    conversation = ConversationFactory(account=account)
    client = Client()
    client.force_login(alice)
    response = client.post(
        reverse("inbox:conversation-reply", args=[conversation.pk]),
        {"text": "W załączniku", "attachments": [SimpleUploadedFile(name, data, content_type=content_type)]},
    )
    assert not Message.objects.filter(conversation=conversation, direction="out").exists()
    assert name in response.content.decode()


def test_agent_upload_caps(org, alice, account):
    conversation = ConversationFactory(account=account)
    client = Client()
    client.force_login(alice)
    too_many = [SimpleUploadedFile(f"{n}.png", PNG, content_type="image/png") for n in range(MAX_FILES + 1)]
    client.post(
        reverse("inbox:conversation-reply", args=[conversation.pk]), {"text": "x", "attachments": too_many}
    )
    too_big = SimpleUploadedFile(
        "duzy.pdf", b"%PDF-" + b"0" * (5 * 1024 * 1024), content_type="application/pdf"
    )
    client.post(
        reverse("inbox:conversation-reply", args=[conversation.pk]), {"text": "x", "attachments": [too_big]}
    )
    assert not Message.objects.filter(conversation=conversation, direction="out").exists()
    ok = SimpleUploadedFile("karton.png", PNG, content_type="image/png")
    client.post(
        reverse("inbox:conversation-reply", args=[conversation.pk]), {"text": "x", "attachments": [ok]}
    )
    reply = Message.objects.get(conversation=conversation, direction="out")
    stored = reply.attachments.get()
    response = client.get(reverse("inbox:attachment-download", args=[stored.pk]))
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"].startswith("attachment")
    assert response["X-Content-Type-Options"] == "nosniff"
