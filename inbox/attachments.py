"""Checks for files agents attach to replies: count and size caps, and the real type by content.

Allegro accepts images (png, gif, bmp, tiff, jpeg) and PDF up to 5 MB in Message Center and issue
chats (allegro-api.md §3); we sniff the bytes rather than trusting the browser's content type.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
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


def sniff_type(head: bytes) -> str | None:
    for magic, content_type in SIGNATURES:
        if head.startswith(magic):
            return content_type
    return None


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
