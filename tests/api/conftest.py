"""API fixtures: tokens made through the token service, conversations through the inbox services."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from inbox import services
from inbox.authentication import api_token_create
from inbox.models import ApiToken, Organization
from integrations.contracts import InboundMessage


def buyer_message(
    account, *, thread="thread-1", external_id="m-1", text="Czy pralka jest dostępna?", ago=2, kind="message"
):
    item = InboundMessage(
        external_id=external_id,
        conversation_external_id=thread,
        conversation_kind=kind,
        direction="in",
        author_type="buyer",
        created_at=timezone.now() - timedelta(hours=ago),
        text=text,
        buyer_login=f"kupujacy-{thread}",
    )
    message, _ = services.message_receive(account, item)
    return message


@pytest.fixture
def conversation(account):
    return buyer_message(account).conversation


class TokenClient(Client):
    """A test client that sends `Authorization: Bearer <token>` with every request."""

    def __init__(self, raw: str, **kwargs):
        super().__init__(HTTP_AUTHORIZATION=f"Bearer {raw}", **kwargs)
        self.raw = raw


def _token(org: Organization, user, scope: str) -> TokenClient:
    _token_row, raw = api_token_create(organization=org, name=f"{scope} token", scope=scope, acting_user=user)
    return TokenClient(raw)


@pytest.fixture
def api(org, bob):
    """A client with a write token of `org` (created by bob, a lead)."""
    return _token(org, bob, ApiToken.Scope.WRITE)


@pytest.fixture
def read_api(org, bob):
    return _token(org, bob, ApiToken.Scope.READ)


@pytest.fixture
def outsider_api(charlie):
    """A write token of charlie's own organization: must see nothing of `org`."""
    return _token(charlie.memberships.get().organization, charlie, ApiToken.Scope.WRITE)
