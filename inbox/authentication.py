"""API tokens (issue #8): create, revoke, authenticate, throttle.

A token is `rdk_` + 43 URL-safe characters (256 random bits). Only its SHA-256 is stored
(`ApiToken.key_hash`, unique), so a database dump does not hand out API access; a slow hash would
add nothing to 256 bits of entropy. Requests send it as `Authorization: Bearer rdk_…`.

A request made with a token acts on behalf of the member who created it, inside the token's
organization only: services get that person as `acting_user` (audit trail, reply author), and the
token stops working when the person leaves the organization. `read` tokens may only use safe
methods (GET, HEAD, OPTIONS); `write` tokens may use every endpoint the person may use.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.throttling import SimpleRateThrottle

from .models import ApiToken, Membership, Organization

TOKEN_PREFIX = "rdk_"
# The visible part stored in `ApiToken.prefix` ("rdk_" + 8 characters).
VISIBLE_CHARS = 12
# `last_used_at` is written at most this often per token.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


# --- services and selectors --------------------------------------------------------------------


def _require_lead(organization: Organization, acting_user) -> None:
    if (
        acting_user is None
        or not Membership.objects.filter(
            organization=organization,
            user=acting_user,
            role__in=(Membership.Role.OWNER, Membership.Role.LEAD),
        ).exists()
    ):
        raise PermissionError("Only an owner or a team lead can manage API tokens")


def api_token_create(
    *, organization: Organization, name: str, scope: str, acting_user
) -> tuple[ApiToken, str]:
    """A new token and its plaintext (returned once, never stored)."""
    _require_lead(organization, acting_user)
    if scope not in ApiToken.Scope.values:
        raise ValueError(f"unknown scope {scope!r}")
    name = " ".join(name.split())[:100]
    if not name:
        raise ValueError("A token needs a name")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        organization=organization,
        name=name,
        scope=scope,
        prefix=raw[:VISIBLE_CHARS],
        key_hash=_hash(raw),
        created_by=acting_user,
    )
    return token, raw


def api_token_revoke(token: ApiToken, *, acting_user) -> ApiToken:
    """Revoke a token (idempotent). It fails authentication from the next request on."""
    _require_lead(token.organization, acting_user)
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_by=acting_user
    )
    token.refresh_from_db()
    return token


def api_token_list(*, organization: Organization) -> QuerySet[ApiToken]:
    return (
        ApiToken.objects.filter(organization=organization)
        .select_related("created_by")
        .order_by("-created_at", "-id")
    )


def api_token_get(*, organization: Organization, pk: int) -> ApiToken:
    return get_object_or_404(ApiToken, organization=organization, pk=pk)


def api_token_authenticate(raw: str) -> ApiToken | None:
    """The active token for `raw`, with `.membership` (its creator's, in its organization), or None."""
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        return None
    token = (
        ApiToken.objects.select_related("organization", "created_by")
        .filter(key_hash=_hash(raw), revoked_at__isnull=True)
        .first()
    )
    if token is None or token.created_by is None or not token.created_by.is_active:
        return None
    membership = (
        Membership.objects.select_related("organization")
        .filter(organization_id=token.organization_id, user_id=token.created_by_id)
        .first()
    )
    if membership is None:
        return None
    token.membership = membership
    now = timezone.now()
    if token.last_used_at is None or token.last_used_at < now - LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


# --- DRF interfaces ----------------------------------------------------------------------------


class ApiTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer rdk_…` → (the token's creator, the token)."""

    keywords = (b"bearer", b"token")

    def authenticate(self, request):
        try:
            parts = get_authorization_header(request).split()
        except UnicodeEncodeError as exc:  # only a test client can pass non-latin-1 header text
            raise exceptions.AuthenticationFailed(_("Invalid Authorization header.")) from exc
        if not parts or parts[0].lower() not in self.keywords:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(_("Invalid Authorization header."))
        try:
            raw = parts[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed(_("Invalid Authorization header.")) from exc
        token = api_token_authenticate(raw)
        if token is None:
            raise exceptions.AuthenticationFailed(_("Invalid or revoked API token."))
        return token.created_by, token

    def authenticate_header(self, request) -> str:
        # Makes DRF answer 401 (not 403) to a request without credentials.
        return 'Bearer realm="api"'


class ReadOnlyToken(exceptions.PermissionDenied):
    default_detail = _("This API token is read-only.")
    default_code = "read_only_token"


class TokenScopePermission(BasePermission):
    """A `read` token may only use safe methods."""

    def has_permission(self, request, view) -> bool:
        token = request.auth
        if (
            isinstance(token, ApiToken)
            and token.scope != ApiToken.Scope.WRITE
            and request.method not in SAFE_METHODS
        ):
            raise ReadOnlyToken()
        return True


class ApiRateThrottle(SimpleRateThrottle):
    """One bucket per token (per user for session requests, per address otherwise).

    The rate is `settings.API_THROTTLE_RATE` (e.g. "600/min"), read per request. Buckets live in the
    shared cache (Redis), so every web process counts together. DRF answers 429 with Retry-After.
    """

    scope = "api"

    def get_rate(self) -> str | None:
        return getattr(settings, "API_THROTTLE_RATE", "600/min") or None

    def get_cache_key(self, request, view) -> str:
        if isinstance(request.auth, ApiToken):
            ident = f"token-{request.auth.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user-{request.user.pk}"
        else:
            ident = f"addr-{self.get_ident(request)}"
        return f"throttle:api:{ident}"


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """How drf-spectacular documents the token (securitySchemes.apiToken)."""

    target_class = "inbox.authentication.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "rdk_…",
            "description": "An organization's API token (Settings → API tokens), scoped read or write.",
        }
