"""Request context and reply type shared by the sandbox's route handlers."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request

from . import texts
from .errors import ApiError, ControlError

if TYPE_CHECKING:
    from .state import SandboxState, Token

PUBLIC_V1 = "application/vnd.allegro.public.v1+json"
BETA_V1 = "application/vnd.allegro.beta.v1+json"
MEDIA_TYPES = {"public": PUBLIC_V1, "beta": BETA_V1}
JSON = "application/json"
OAUTH_JSON = "application/json;charset=UTF-8"
HTML = "text/html; charset=utf-8"


@dataclass
class Reply:
    status: int
    body: Any = None  # dict/list -> JSON; bytes -> raw; str -> text
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


def accepted_types(request: Request) -> list[str]:
    header = request.headers.get("Accept", "")
    return [part.split(";")[0].strip().lower() for part in header.split(",") if part.strip()]


@dataclass
class Ctx:
    request: Request
    state: SandboxState
    trace_id: str
    base_url: str
    media_type: str | None = None  # the vnd type of the resource family, once Accept was checked
    token: Token | None = None
    simulator: Any = None

    @property
    def lang(self) -> str:
        return texts.language(self.request.headers.get("Accept-Language"))

    @property
    def seller(self) -> str:
        assert self.token is not None and self.token.seller is not None
        return self.token.seller

    def params(self) -> dict[str, str]:
        """Query string and form fields (form wins), as OAuth endpoints read them."""
        out = self.request.args.to_dict()
        out.update(self.request.form.to_dict())
        return out

    def api_json(self, media_type: str) -> dict[str, Any]:
        """The JSON body of an Allegro resource request, sent with the resource's vnd media type."""
        raw = self.request.get_data(cache=True)
        if raw.strip() and self.request.mimetype != media_type:
            raise ApiError(
                415,
                details=f"Content type '{self.request.content_type or ''}' not supported; "
                f"send '{media_type}'",
            )
        if not raw.strip():
            return {}
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError(
                400, "VALIDATION_ERROR", "Malformed JSON request body", details=str(exc), user="malformed"
            ) from exc
        if not isinstance(body, dict):
            raise ApiError(
                400, "VALIDATION_ERROR", "The request body must be a JSON object", user="malformed"
            )
        return body

    def control_json(self) -> dict[str, Any]:
        raw = self.request.get_data(cache=True)
        if not raw.strip():
            return {}
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ControlError(f"malformed JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise ControlError("the body must be a JSON object")
        return body
