"""Shared fixtures: personas (healthchecks-style) and the Allegro sandbox plugin."""

from __future__ import annotations

import pytest

from inbox.models import Membership
from tests.factories import ChannelAccountFactory, MembershipFactory, OrganizationFactory

pytest_plugins = ["tests.fixtures_sandbox"]


@pytest.fixture
def org(db):
    return OrganizationFactory(name="Sklep Alicji", slug="alicja")


@pytest.fixture
def alice(org):
    """An agent of `org`."""
    return MembershipFactory(organization=org, user__username="alice", role=Membership.Role.AGENT).user


@pytest.fixture
def bob(org):
    """A teammate of alice (team lead)."""
    return MembershipFactory(organization=org, user__username="bob", role=Membership.Role.LEAD).user


@pytest.fixture
def charlie(db):
    """An outsider: a member of another organization, who must get 404 everywhere in `org`."""
    other = OrganizationFactory(name="Inny sklep", slug="inny")
    return MembershipFactory(organization=other, user__username="charlie", role=Membership.Role.OWNER).user


@pytest.fixture
def account(org):
    return ChannelAccountFactory(organization=org, name="SklepTest")
