"""Attachment downloads (issue #9): always a download, never rendered by the browser.

`Content-Disposition: attachment`, `X-Content-Type-Options: nosniff`, a content type from the bytes
(an image/PDF type, otherwise application/octet-stream) and a CSP sandbox in case a browser opens it
anyway. Scoped by organization (404 for anyone else's); refused files have nothing to download.
"""

from __future__ import annotations

from django.http import FileResponse, Http404, HttpRequest
from django.views.decorators.http import require_GET

from .attachments import served_content_type
from .models import Attachment
from .views import member_required


@require_GET
@member_required
def attachment_download(request: HttpRequest, pk: int) -> FileResponse:
    attachment = (
        Attachment.objects.filter(organization=request.membership.organization, pk=pk, refused="")
        .exclude(file="")
        .first()
    )
    if attachment is None:
        raise Http404("No such attachment")
    handle = attachment.file.open("rb")
    head = handle.read(512)
    handle.seek(0)
    response = FileResponse(
        handle, as_attachment=True, filename=attachment.filename, content_type=served_content_type(head)
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
