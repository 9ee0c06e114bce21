"""A thin HTTP client for Allegro's REST API and OAuth endpoints (allegro-api.md §1–§2).

It knows Allegro's conventions: media types (public.v1, beta.v1 for /sale/issues; a caller may ask
for another, e.g. the beta.v1 /messaging, with `media=`), the error body
format, retries with backoff and jitter on 429/5xx/timeouts, the client-wide budget and the
1 message POST per second per user, and token refresh (single-use rotating refresh tokens).
It raises `integrations.contracts` errors: permanent ones (401 after a failed refresh, 403, 404,
409, 422) are not retried and carry Allegro's `userMessage` for the agent.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from inbox.models import ChannelAccount
from integrations.contracts import AuthorizationLost, PermanentChannelError, TransientChannelError

from . import ratelimit

logger = logging.getLogger(__name__)

PUBLIC = "application/vnd.allegro.public.v1+json"
BETA = "application/vnd.allegro.beta.v1+json"
ACCEPT_LANGUAGE = "pl-PL"
# Refresh this long before the access token expires (tokens last 12 h).
REFRESH_MARGIN = timedelta(minutes=5)
RETRYABLE_STATUS = {429, 500, 502, 503, 504}


class MalformedPayload(ValueError):
    """A 2xx answer whose body is not JSON (issue #9). Sources catch it per item, keeping `body`."""

    def __init__(self, path: str, status: int, body: str) -> None:
        super().__init__(f"{path} -> {status}: the body is not JSON")
        self.path = path
        self.status = status
        self.body = body


def _json_body(path: str, response: httpx.Response) -> Any:
    try:
        return response.json()
    except (ValueError, RecursionError):
        raise MalformedPayload(path, response.status_code, response.text[:100_000]) from None


def media_type_for(path: str) -> str:
    """All /sale/issues* resources are beta; the rest we use is public.v1 (allegro-api.md §2)."""
    return BETA if path.startswith("/sale/issues") else PUBLIC


def error_message(response: httpx.Response) -> tuple[str, str]:
    """(code, user-facing message) from Allegro's error body, whichever of its two shapes."""
    try:
        body = response.json()
    except ValueError:
        return "", f"HTTP {response.status_code}"
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            first = errors[0]
            text = first.get("userMessage") or first.get("message") or first.get("code") or ""
            return str(first.get("code") or ""), str(text)
        if "error" in body:
            return str(body.get("error")), str(body.get("error_description") or body.get("error"))
    return "", f"HTTP {response.status_code}"


@dataclass
class TokenSet:
    access_token: str
    refresh_token: str
    expires_at: datetime

    @classmethod
    def from_response(cls, body: dict[str, Any], *, now: datetime | None = None) -> TokenSet:
        now = now or timezone.now()
        return cls(
            access_token=body["access_token"],
            refresh_token=body.get("refresh_token", ""),
            expires_at=now + timedelta(seconds=int(body.get("expires_in", 43199))),
        )

    def as_credentials(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "expires_at": self.expires_at.isoformat(),
        }


def _http(timeout: float | None = None) -> httpx.Client:
    return httpx.Client(timeout=timeout or settings.ALLEGRO_TIMEOUT_SECONDS, follow_redirects=False)


class OAuth:
    """The OAuth endpoints on the auth host (allegro-api.md §1)."""

    def __init__(self, http: httpx.Client | None = None) -> None:
        self.base = settings.ALLEGRO_AUTH_URL.rstrip("/")
        self.auth = (settings.ALLEGRO_CLIENT_ID, settings.ALLEGRO_CLIENT_SECRET)
        self.http = http or _http()
        self.calls = 0

    def _post(self, path: str, data: dict[str, str], params: dict[str, str] | None = None) -> httpx.Response:
        self.calls += 1
        try:
            return self.http.post(f"{self.base}{path}", data=data, params=params, auth=self.auth)
        except httpx.HTTPError as exc:
            raise TransientChannelError(
                f"Allegro authorization server unreachable: {exc.__class__.__name__}"
            ) from exc

    def device_start(self) -> dict[str, Any]:
        response = self._post(
            "/auth/oauth/device",
            {"client_id": settings.ALLEGRO_CLIENT_ID},
            params={"client_id": settings.ALLEGRO_CLIENT_ID},
        )
        if response.status_code != 200:
            code, text = error_message(response)
            raise PermanentChannelError(
                f"Device authorization refused: {text}", status=response.status_code, code=code
            )
        return response.json()

    def device_poll(self, device_code: str) -> tuple[str, TokenSet | None]:
        """("ok", tokens) once approved; otherwise (error code, None): authorization_pending, slow_down…"""
        response = self._post(
            "/auth/oauth/token",
            {"grant_type": "urn:ietf:params:oauth:grant-type:device_code", "device_code": device_code},
        )
        if response.status_code == 200:
            return "ok", TokenSet.from_response(response.json())
        if response.status_code >= 500 or response.status_code == 429:
            raise TransientChannelError(f"Allegro authorization server answered {response.status_code}")
        code, text = error_message(response)
        return code or text, None

    def refresh(self, refresh_token: str) -> TokenSet:
        response = self._post(
            "/auth/oauth/token", {"grant_type": "refresh_token", "refresh_token": refresh_token}
        )
        if response.status_code == 200:
            return TokenSet.from_response(response.json())
        if response.status_code >= 500 or response.status_code == 429:
            raise TransientChannelError(f"Allegro authorization server answered {response.status_code}")
        _code, text = error_message(response)
        raise AuthorizationLost(
            f"Token refresh refused: {text}",
            user_message="Autoryzacja konta Allegro wygasła lub została cofnięta — połącz konto ponownie.",
            status=response.status_code,
        )


class AllegroClient:
    """REST calls on behalf of one connected account."""

    def __init__(self, account: ChannelAccount, *, http: httpx.Client | None = None) -> None:
        self.account = account
        self.base = settings.ALLEGRO_API_URL.rstrip("/")
        self.http = http or _http()
        self.oauth = OAuth(self.http)
        self.calls = 0
        self.max_retries = settings.ALLEGRO_MAX_RETRIES
        self.retry_base = float(getattr(settings, "ALLEGRO_RETRY_BASE_SECONDS", 0.5))
        self.sleep = time.sleep

    # --- tokens ----------------------------------------------------------------------------

    def _credentials(self) -> dict[str, Any]:
        return self.account.credentials or {}

    def _access_token(self) -> str:
        creds = self._credentials()
        expires_at = creds.get("expires_at")
        if not creds.get("access_token"):
            raise AuthorizationLost(
                "Account has no access token", user_message="Konto Allegro nie jest połączone."
            )
        if expires_at and datetime.fromisoformat(expires_at) - REFRESH_MARGIN <= timezone.now():
            self._refresh(stale_access_token=creds["access_token"])
        return self._credentials()["access_token"]

    def _refresh(self, *, stale_access_token: str) -> None:
        """Refresh under a row lock: refresh tokens are single use, so two workers must not both spend one."""
        with transaction.atomic():
            account = ChannelAccount.objects.select_for_update().get(pk=self.account.pk)
            creds = account.credentials or {}
            if creds.get("access_token") and creds["access_token"] != stale_access_token:
                expires_at = datetime.fromisoformat(creds["expires_at"])
                if expires_at - REFRESH_MARGIN > timezone.now():
                    self.account.credentials = creds  # another worker refreshed already
                    return
            if not creds.get("refresh_token"):
                raise AuthorizationLost(
                    "No refresh token", user_message="Konto Allegro wymaga ponownego połączenia."
                )
            tokens = self.oauth.refresh(creds["refresh_token"])
            account.credentials = {**creds, **tokens.as_credentials()}
            account.save(update_fields=["credentials"])
            self.account.credentials = account.credentials
        self.calls += 1

    # --- requests --------------------------------------------------------------------------

    def _pause(self, attempt: int, *, rate_limited: bool) -> None:
        base = self.retry_base * (4 if rate_limited else 1)
        delay = min(base * 2**attempt, 30.0)
        self.sleep(delay / 2 + random.uniform(0, delay / 2))

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | list[tuple[str, Any]] | None = None,
        json: Any = None,
        is_message_post: bool = False,
        media: str | None = None,
    ) -> Any:
        """`media` (Accept and Content-Type) defaults to the path's media type (`media_type_for`)."""
        media = media or media_type_for(path)
        refreshed = False
        last_error = ""
        for attempt in range(self.max_retries + 1):
            ratelimit.acquire_request_budget(settings.ALLEGRO_CLIENT_ID)
            if is_message_post:
                ratelimit.acquire_message_post_slot(str(self.account.pk))
            headers = {
                "Authorization": f"Bearer {self._access_token()}",
                "Accept": media,
                "Accept-Language": ACCEPT_LANGUAGE,
            }
            if json is not None:
                headers["Content-Type"] = media
            self.calls += 1
            try:
                response = self.http.request(
                    method, f"{self.base}{path}", params=params, json=json, headers=headers
                )
            except httpx.TimeoutException:
                last_error = "Allegro nie odpowiedziało w czasie (timeout)."
                if is_message_post:
                    # The POST may have gone through; the outbox reconciles before any resend.
                    raise TransientChannelError(last_error) from None
                self._pause(attempt, rate_limited=False)
                continue
            except httpx.TransportError as exc:
                last_error = f"Brak połączenia z Allegro ({exc.__class__.__name__})."
                if is_message_post:
                    raise TransientChannelError(last_error) from None
                self._pause(attempt, rate_limited=False)
                continue
            status = response.status_code
            if status < 300:
                if status == 204 or not response.content:
                    return None
                return _json_body(path, response)
            code, text = error_message(response)
            if status == 401 and not refreshed:
                refreshed = True
                self._refresh(stale_access_token=headers["Authorization"][7:])
                continue
            if status == 401:
                raise AuthorizationLost(
                    f"Allegro refused the token: {text}",
                    user_message="Autoryzacja konta Allegro wygasła — połącz konto ponownie.",
                    status=401,
                    code=code,
                )
            if status in RETRYABLE_STATUS:
                last_error = text or f"HTTP {status}"
                logger.info("allegro %s %s -> %s (attempt %s)", method, path, status, attempt + 1)
                self._pause(attempt, rate_limited=status == 429)
                continue
            raise PermanentChannelError(
                f"Allegro {method} {path} -> {status}: {text}", user_message=text, status=status, code=code
            )
        raise TransientChannelError(
            f"Allegro unavailable after {self.max_retries + 1} attempts: {last_error}",
            user_message=last_error or "Allegro jest chwilowo niedostępne.",
        )

    def upload(self, path: str, payload: bytes, content_type: str) -> Any:
        """PUT raw bytes (attachment upload, the second step of declare + upload)."""
        ratelimit.acquire_request_budget(settings.ALLEGRO_CLIENT_ID)
        self.calls += 1
        try:
            response = self.http.put(
                path if path.startswith("http") else f"{self.base}{path}",
                content=payload,
                headers={
                    "Authorization": f"Bearer {self._access_token()}",
                    "Accept": media_type_for(path),
                    "Content-Type": content_type or "application/octet-stream",
                },
            )
        except httpx.HTTPError as exc:
            raise TransientChannelError(f"Attachment upload failed: {exc.__class__.__name__}") from exc
        if response.status_code >= 300:
            code, text = error_message(response)
            error = (
                TransientChannelError if response.status_code in RETRYABLE_STATUS else PermanentChannelError
            )
            raise error(
                f"Attachment upload -> {response.status_code}: {text}",
                user_message=text,
                status=response.status_code,
                code=code,
            )
        return response.json() if response.content else None

    def get(self, path: str, *, media: str | None = None, **params: Any) -> Any:
        query = {k: v for k, v in params.items() if v is not None}
        return self.request("GET", path, params=query, media=media)
