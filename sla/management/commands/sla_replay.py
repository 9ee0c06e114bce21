"""Recompute reply clocks, response records and daily rollups from the stored messages.

    manage.py sla_replay --since 2026-03-01 [--org SLUG]

Uses the current policies. Every conversation with activity on or after the date is rebuilt from its
first message; the rollups of every day whose records changed are recomputed (sla.services.sla_replay).
"""

from __future__ import annotations

from datetime import date

from django.core.management.base import BaseCommand, CommandError

from inbox.models import Organization
from sla.services import sla_replay


class Command(BaseCommand):
    help = "Recompute SLA clocks, response records and rollups from stored messages with current policies."

    def add_arguments(self, parser):
        parser.add_argument("--since", required=True, help="first day (YYYY-MM-DD, Europe/Warsaw)")
        parser.add_argument("--org", default=None, help="organization slug (default: all)")

    def handle(self, *args, since: str, org: str | None, **options):
        try:
            since_day = date.fromisoformat(since)
        except ValueError as exc:
            raise CommandError(f"--since must be YYYY-MM-DD, got {since!r}") from exc
        organization = None
        if org:
            organization = Organization.objects.filter(slug=org).first()
            if organization is None:
                raise CommandError(f"no organization with slug {org!r}")
        result = sla_replay(since=since_day, organization=organization)
        self.stdout.write(
            self.style.SUCCESS(
                f"Replayed {result.conversations} conversations; rebuilt the rollups of {result.days} days."
            )
        )
