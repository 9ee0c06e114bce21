"""Error types of the sandbox and the bodies Allegro sends for them.

Resource errors use the spec's `ErrorsHolder` shape (allegro-api.md §2); OAuth errors use the
`AuthError` shape `{error, error_description}`; control-API errors are plain `{"error": "..."}`.
"""

from __future__ import annotations

from typing import Any

from . import texts

# Status -> (code, English message, user-message key) used when a fault is injected or a generic
# error is needed. The codes for 406 and 429 are the ones seen in Allegro's spec and issue tracker;
# the others are the sandbox's choice (Allegro does not document them).
GENERIC_ERRORS: dict[int, tuple[str, str, str]] = {
    400: ("BAD_REQUEST", "Bad request", "malformed"),
    401: ("UNAUTHORIZED", "Unauthorized", "forbidden"),
    403: ("ACCESS_DENIED", "Access is denied", "forbidden"),
    404: ("NOT_FOUND", "Not found", "not_found"),
    405: ("METHOD_NOT_ALLOWED", "Method not allowed", "method_not_allowed"),
    406: (
        "NotAcceptableException",
        "Not acceptable representation requested. Please check 'Accept' header",
        "not_acceptable",
    ),
    409: ("CONFLICT", "Conflict", "conflict"),
    413: ("PAYLOAD_TOO_LARGE", "Payload too large", "too_large"),
    415: ("UnsupportedMediaTypeException", "Unsupported media type", "unsupported_media_type"),
    422: ("VALIDATION_ERROR", "Validation failed", "generic"),
    429: ("RateLimitExceedException", "An error has occurred", "rate_limit"),
    500: ("INTERNAL_SERVER_ERROR", "An error has occurred", "internal"),
    502: ("BAD_GATEWAY", "Bad gateway", "unavailable"),
    503: ("SERVICE_UNAVAILABLE", "Service unavailable", "unavailable"),
    504: ("GATEWAY_TIMEOUT", "Gateway timeout", "unavailable"),
}


class ApiError(Exception):
    """An error of an Allegro resource, rendered as an `ErrorsHolder` body."""

    def __init__(
        self,
        status: int,
        code: str | None = None,
        message: str | None = None,
        *,
        path: str | None = None,
        details: str | None = None,
        user: str | None = None,
        user_params: dict[str, Any] | None = None,
        metadata: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ):
        default_code, default_message, default_user = GENERIC_ERRORS.get(status, GENERIC_ERRORS[400])
        self.status = status
        self.code = code or default_code
        self.message = message or default_message
        self.path = path
        self.details = details
        self.user = user or default_user
        self.user_params = user_params or {}
        self.metadata = metadata or {}
        self.headers = headers or {}
        super().__init__(f"{status} {self.code}: {self.message}")

    def body(self, lang: str) -> dict[str, Any]:
        return {
            "errors": [
                {
                    "code": self.code,
                    "message": self.message,
                    "details": self.details,
                    "path": self.path,
                    "userMessage": texts.user_message(self.user, lang, **self.user_params),
                    "metadata": dict(self.metadata),
                }
            ]
        }


def validation_error(
    path: str, message: str, user: str, *, details: str | None = None, status: int = 422, **user_params: Any
) -> ApiError:
    return ApiError(
        status, "VALIDATION_ERROR", message, path=path, details=details, user=user, user_params=user_params
    )


class OAuthError(Exception):
    """An error of the OAuth server or of bearer-token checking: `{error, error_description}`."""

    def __init__(
        self, status: int, error: str, description: str | None = None, headers: dict[str, str] | None = None
    ):
        self.status = status
        self.error = error
        self.description = description
        self.headers = headers or {}
        super().__init__(f"{status} {error}: {description}")

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.error}
        if self.description is not None:
            out["error_description"] = self.description
        return out


class ControlError(Exception):
    """A bad request to the sandbox's own control API."""

    def __init__(self, message: str, status: int = 400):
        self.status = status
        self.message = message
        super().__init__(message)
