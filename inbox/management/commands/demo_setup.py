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
        self._demo_policies(org)
        self.stdout.write(self.style.SUCCESS(f"Demo workspace '{org.name}' ready."))

    def _demo_policies(self, org: Organization) -> None:
        """A demo lasts minutes, not days: the team target of messages and discussions is 10 minutes
        of calendar time (warning at 5), so warnings and breaches show up live on the boards. The
        marketplace limit stays Allegro's 24 h on working days. Only set once; leads may change it."""
        from sla.models import SlaPolicy
        from sla.policy import DEFAULT_BUSINESS_HOURS
        from sla.services import sla_policy_update

        owner = Membership.objects.get(organization=org, role=Membership.Role.OWNER).user
        for kind in ("message", "discussion"):
            if SlaPolicy.objects.filter(organization=org, conversation_kind=kind).exists():
                continue
            sla_policy_update(
                org,
                conversation_kind=kind,
                acting_user=owner,
                marketplace_limit_minutes=24 * 60,
                marketplace_calendar="working_days",
                team_target_minutes=10,
                team_calendar="calendar_hours",
                business_hours=DEFAULT_BUSINESS_HOURS,
                warning_minutes=[5],
            )
