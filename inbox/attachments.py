"""Checks for attachments: what agents upload, and what arrives by mail or from Allegro (issue #9).

Agents: Allegro accepts images (png, gif, bmp, tiff, jpeg) and PDF up to 5 MB in Message Center and
issue chats (allegro-api.md §3); we sniff the bytes rather than trusting the browser's content type.

Incoming files are checked by `inbound_verdict` before they are stored: executables, content that
contradicts its declared type (an .exe renamed .jpg, HTML claiming image/png), files over the size
cap and archives that would expand too far (zip bombs: total size, ratio, entry count, nesting) are
refused. A refused file is kept as a record with the reason (and the raw mail is kept anyway, see
EmailSource), never silently dropped. Zip archives are judged from their central directory alone:
nothing is ever decompressed.

Every stored file is served as a download (`Content-Disposition: attachment`, `nosniff`) with a
content type from `served_content_type`: the sniffed image/PDF type, otherwise octet-stream.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import PurePosixPath

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

MAX_FILES = 5
MAX_BYTES = 5 * 1024 * 1024
SIGNATURES = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
)
# Served with their own type (still as downloads); everything else is application/octet-stream.
SAFE_TYPES = frozenset(ct for _m, ct in SIGNATURES)

# Incoming files (mail, Allegro).
MAX_INBOUND_FILES = 20
MAX_INBOUND_BYTES = 25 * 1024 * 1024
# Archives, from the central directory only.
ZIP_MAX_ENTRIES = 1000
ZIP_MAX_TOTAL_BYTES = 200 * 1024 * 1024
ZIP_MAX_RATIO = 100
ZIP_MAX_DEPTH = 1  # an archive inside an archive is looked into once; deeper is refused
# Files no row names any more are deleted once this old (attachment_files_sweep).
ORPHAN_AGE = timedelta(days=1)
ARCHIVE_SUFFIXES = frozenset({".zip", ".jar", ".7z", ".rar", ".gz", ".tgz", ".bz2", ".xz", ".tar", ".cab"})

EXECUTABLE_MAGIC = (
    (b"MZ", "Windows executable"),
    (b"\x7fELF", "ELF executable"),
    (b"\xcf\xfa\xed\xfe", "Mach-O executable"),
    (b"\xce\xfa\xed\xfe", "Mach-O executable"),
    (b"\xca\xfe\xba\xbe", "Mach-O executable"),
    (b"#!", "script"),
)
EXECUTABLE_SUFFIXES = frozenset(
    {".exe", ".com", ".scr", ".pif", ".bat", ".cmd", ".msi", ".dll", ".js", ".jse", ".vbs", ".vbe"}
    | {".wsf", ".hta", ".ps1", ".lnk", ".jar", ".apk", ".sh", ".elf", ".cpl", ".reg", ".iso", ".img"}
)
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp"})
MARKUP_STARTS = (b"<!doctype", b"<html", b"<head", b"<body", b"<script", b"<svg", b"<?xml", b"<iframe", b"<")


def sniff_type(head: bytes) -> str | None:
    for magic, content_type in SIGNATURES:
        if head.startswith(magic):
            return content_type
    return None


def served_content_type(head: bytes) -> str:
    """The content type a stored file is served with: its sniffed image/PDF type or octet-stream."""
    sniffed = sniff_type(head)
    return sniffed if sniffed in SAFE_TYPES else "application/octet-stream"


def validate_reply_files(files) -> list[tuple[object, str]]:
    """[(uploaded file, sniffed content type)] or ValidationError with a message for the agent."""
    files = list(files)
    if len(files) > MAX_FILES:
        raise ValidationError(_("At most %(n)s attachments per reply.") % {"n": MAX_FILES})
    checked = []
    for upload in files:
        if upload.size > MAX_BYTES:
            raise ValidationError(_("%(name)s is larger than 5 MB.") % {"name": upload.name})
        head = upload.read(16)
        upload.seek(0)
        content_type = sniff_type(head)
        if content_type is None:
            raise ValidationError(
                _("%(name)s is not a PDF or an image (PNG, JPEG, GIF, BMP, TIFF).") % {"name": upload.name}
            )
        checked.append((upload, content_type))
    return checked


# --- incoming files --------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    content_type: str  # what the file is served as
    refused: str = ""  # empty when accepted; otherwise why (shown to agents, in English and Polish)


def _is_zip(head: bytes) -> bool:
    return head.startswith((b"PK\x03\x04", b"PK\x05\x06"))


def _looks_like_markup(head: bytes) -> bool:
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return any(text.startswith(start) for start in MARKUP_STARTS)


def inspect_zip(data: bytes, *, depth: int = 0) -> str:
    """Why a zip archive is refused ("" when it is acceptable), from its central directory only.

    Nothing is decompressed: sizes and counts are the ones the archive declares, which is what an
    unpacking program on the agent's machine would trust too. A nested archive is looked into only
    when it is stored (not compressed) — then its bytes are a plain slice of ours.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
            if len(entries) > ZIP_MAX_ENTRIES:
                return _("archive has too many entries (%(n)s, at most %(max)s)") % {
                    "n": len(entries),
                    "max": ZIP_MAX_ENTRIES,
                }
            total = sum(e.file_size for e in entries)
            packed = sum(e.compress_size for e in entries)
            if total > ZIP_MAX_TOTAL_BYTES:
                return _("archive expands to %(mb)s MB (at most %(max)s MB)") % {
                    "mb": total // (1024 * 1024),
                    "max": ZIP_MAX_TOTAL_BYTES // (1024 * 1024),
                }
            if packed > len(data):
                return _("archive directory is inconsistent")
            for entry in entries:
                name = entry.filename[:100]
                ratio = entry.file_size // max(entry.compress_size, 1)
                if ratio > ZIP_MAX_RATIO and entry.file_size > 1024 * 1024:
                    return _("archive entry %(name)s is compressed %(ratio)s:1 (a zip bomb)") % {
                        "name": name,
                        "ratio": ratio,
                    }
                suffix = PurePosixPath(entry.filename.lower()).suffix
                if suffix in EXECUTABLE_SUFFIXES:
                    return _("archive contains a program (%(name)s)") % {"name": name}
                if suffix in ARCHIVE_SUFFIXES:
                    if depth + 1 > ZIP_MAX_DEPTH:
                        return _("archives nested too deep (%(name)s)") % {"name": name}
                    if entry.compress_type != zipfile.ZIP_STORED or suffix != ".zip":
                        return _("nested archive %(name)s cannot be inspected") % {"name": name}
                    with archive.open(entry) as inner:  # stored: a slice of our bytes, nothing inflated
                        reason = inspect_zip(inner.read(), depth=depth + 1)
                    if reason:
                        return reason
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, NotImplementedError, OSError, EOFError):
        return _("damaged archive")
    return ""


def inbound_verdict(filename: str, declared_type: str, data: bytes) -> Verdict:
    """Accept or refuse one incoming file (mail or marketplace attachment)."""
    head = data[:512]
    declared = (declared_type or "").split(";")[0].strip().lower()
    suffix = PurePosixPath((filename or "").lower()).suffix
    served = served_content_type(head)
    if len(data) > MAX_INBOUND_BYTES:
        return Verdict(served, _("larger than %(mb)s MB") % {"mb": MAX_INBOUND_BYTES // (1024 * 1024)})
    for magic, label in EXECUTABLE_MAGIC:
        if head.startswith(magic):
            return Verdict("application/octet-stream", _("a program (%(kind)s)") % {"kind": label})
    if suffix in EXECUTABLE_SUFFIXES:
        return Verdict("application/octet-stream", _("a program (%(suffix)s)") % {"suffix": suffix})
    if _is_zip(head) or suffix == ".zip" or declared in ("application/zip", "application/x-zip-compressed"):
        reason = inspect_zip(data)
        if reason:
            return Verdict("application/octet-stream", reason)
        return Verdict("application/octet-stream")
    claims_image = declared.startswith("image/") or suffix in (
        ".png",
        ".jpg",
        ".jpeg",
        ".gif",
        ".bmp",
        ".tif",
    )
    claims_pdf = declared == "application/pdf" or suffix == ".pdf"
    sniffed = sniff_type(head)
    if (claims_image or claims_pdf) and _looks_like_markup(head) and not declared.startswith("image/svg"):
        return Verdict(
            "application/octet-stream",
            _("declared %(declared)s but the content is HTML/XML") % {"declared": declared or suffix},
        )
    if claims_image and sniffed is not None and not sniffed.startswith("image/"):
        return Verdict(served, _("declared an image but the content is %(type)s") % {"type": sniffed})
    return Verdict(served)


def inbound_attachments(message, attachments) -> list:
    """Unsaved Attachment rows for a stored incoming message; accepted payloads are written to storage.

    Files the channel only links to (Allegro's attachment URL, no payload) are recorded as before.
    """
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from .models import Attachment, attachment_upload_to

    rows = []
    for n, att in enumerate(attachments):
        row = Attachment(
            organization_id=message.organization_id,
            message=message,
            filename=(att.filename or "attachment")[:255],
            content_type=(att.content_type or "application/octet-stream")[:200],
            size=att.size,
            external_url=att.url[:1000],
            external_id=att.external_id[:300],
            content_id=att.content_id[:300],
        )
        if att.payload is not None:
            row.size = len(att.payload)
            if n >= MAX_INBOUND_FILES:
                verdict = Verdict("application/octet-stream", _("too many attachments in one message"))
            else:
                verdict = inbound_verdict(att.filename, att.content_type, att.payload)
            row.content_type = verdict.content_type
            row.refused = verdict.refused[:300]
            if not verdict.refused:
                path = attachment_upload_to(row, row.filename)
                row.file.name = default_storage.save(path, ContentFile(att.payload))
        rows.append(row)
    return rows


def attachment_files_sweep(*, older_than: timedelta = ORPHAN_AGE, dry_run: bool = False) -> list[str]:
    """Delete stored attachment files no `Attachment` row names any more; the names deleted.

    Files are written before their transaction commits (the row must never name a missing file), so
    a rolled-back store — a batch of mails done again one by one, a failed sync — leaves its files
    behind, as does a deleted message or account. Only files older than `older_than` go: a younger
    one may belong to a transaction still running. Walks `attachments/<organization>/` of the
    default storage, checking the names against the database 1,000 at a time.
    """
    from django.core.files.storage import default_storage

    from .models import ATTACHMENTS_DIR, Attachment

    cutoff = timezone.now() - older_than
    deleted: list[str] = []
    if not default_storage.exists(ATTACHMENTS_DIR):
        return deleted
    folders, _files = default_storage.listdir(ATTACHMENTS_DIR)
    for folder in folders:
        _dirs, files = default_storage.listdir(f"{ATTACHMENTS_DIR}/{folder}")
        names = [f"{ATTACHMENTS_DIR}/{folder}/{name}" for name in files]
        for start in range(0, len(names), 1000):
            chunk = names[start : start + 1000]
            named = set(Attachment.objects.filter(file__in=chunk).values_list("file", flat=True))
            for name in chunk:
                if name in named or default_storage.get_modified_time(name) >= cutoff:
                    continue
                if not dry_run:
                    default_storage.delete(name)
                deleted.append(name)
    return deleted
