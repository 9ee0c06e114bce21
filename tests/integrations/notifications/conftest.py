from __future__ import annotations

import pytest
from django.utils import timezone

from inbox.models import ChannelAccount
from integrations.allegro.client import TokenSet


@pytest.fixture
def fast_retries(settings):
    settings.ALLEGRO_RETRY_BASE_SECONDS = 0.01
    settings.ALLEGRO_REQUESTS_PER_MINUTE = 100000


@pytest.fixture
def connected_account(org, allegro_sandbox, fast_retries):
    """An Allegro account of `org` holding a real sandbox token pair for seller SklepTest."""
    tokens = TokenSet.from_response(allegro_sandbox.mint_token(seller="SklepTest"), now=timezone.now())
    return ChannelAccount.objects.create(
        organization=org,
        kind=ChannelAccount.Kind.ALLEGRO,
        name="SklepTest",
        external_id="sandbox-SklepTest",
        health=ChannelAccount.Health.OK,
        credentials=tokens.as_credentials(),
    )
