"""factory_boy factories for plain rows. Complex state is built by calling services."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from inbox.models import ChannelAccount, Conversation, Membership, Organization


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Sklep {n}")
    slug = factory.Sequence(lambda n: f"sklep-{n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = "Jan"
    last_name = "Kowalski"
    password = factory.PostGenerationMethodCall("set_password", "haslo-testowe-1")

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    organization = factory.SubFactory(OrganizationFactory)
    user = factory.SubFactory(UserFactory)
    role = Membership.Role.AGENT


class ChannelAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ChannelAccount

    organization = factory.SubFactory(OrganizationFactory)
    kind = ChannelAccount.Kind.ALLEGRO
    name = factory.Sequence(lambda n: f"SklepTest{n}")
    external_id = factory.Sequence(lambda n: f"4696869{n}")
    health = ChannelAccount.Health.OK
    credentials = factory.LazyFunction(
        lambda: {
            "access_token": "unused",
            "refresh_token": "unused",
            "expires_at": (timezone.now() + timezone.timedelta(hours=12)).isoformat(),
        }
    )


class ConversationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Conversation

    account = factory.SubFactory(ChannelAccountFactory)
    organization = factory.SelfAttribute("account.organization")
    kind = Conversation.Kind.MESSAGE
    external_id = factory.Sequence(lambda n: f"thread-{n}")
    subject = ""
