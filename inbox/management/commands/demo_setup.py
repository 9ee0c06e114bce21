"""Create the demo workspace: an owner, a team lead and two agents (idempotent)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from inbox.models import Membership, Organization

DEMO_PASSWORD = "demo-haslo-2026"
DEMO_USERS = [
    ("wlasciciel", "Anna", "Właścicielka", Membership.Role.OWNER),
    ("kierownik", "Piotr", "Kierownik", Membership.Role.LEAD),
    ("agent1", "Kasia", "Nowak", Membership.Role.AGENT),
    ("agent2", "Tomek", "Wiśniewski", Membership.Role.AGENT),
]


class Command(BaseCommand):
    help = "Create (or keep) the demo workspace and its four users."

    def add_arguments(self, parser):
        parser.add_argument("--password", default=DEMO_PASSWORD)

    @transaction.atomic
    def handle(self, *args, password: str, **options):
        org, _ = Organization.objects.get_or_create(slug="demo", defaults={"name": "Sklep Demo"})
        User = get_user_model()
        for username, first, last, role in DEMO_USERS:
            user, created = User.objects.get_or_create(
                username=username, defaults={"first_name": first, "last_name": last}
            )
            if created:
                user.set_password(password)
                user.save()
            Membership.objects.get_or_create(organization=org, user=user, defaults={"role": role})
        self.stdout.write(self.style.SUCCESS(f"Demo workspace '{org.name}' ready."))
