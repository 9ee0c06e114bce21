"""`manage.py notification_report [--org SLUG] [--days N]`: notifications per day and mails saved."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from inbox.models import Organization
from integrations.notifications import services

COLUMNS = ("planned", "merged", "suppressed", "held", "sent", "dropped", "saved")


class Command(BaseCommand):
    help = "Notifications planned, merged, suppressed as duplicates, held, sent per day, and mails saved."

    def add_arguments(self, parser):
        parser.add_argument("--org", help="organization slug (default: every organization)")
        parser.add_argument("--days", type=int, default=30, help="how many days back (default 30)")

    def handle(self, *args, org=None, days=30, **options):
        if days < 1:
            raise CommandError("--days must be at least 1")
        orgs = Organization.objects.order_by("slug")
        if org:
            orgs = orgs.filter(slug=org)
            if not orgs.exists():
                raise CommandError(f"no organization with slug {org!r}")
        for organization in orgs:
            report = services.notification_report(organization, days=days)
            totals = services.report_totals(report)
            self.stdout.write(f"{organization.slug}: last {days} days")
            self.stdout.write("day         " + " ".join(f"{c:>10}" for c in COLUMNS))
            for day in report:
                if day.total:
                    self.stdout.write(
                        f"{day.day:%Y-%m-%d}  " + " ".join(f"{getattr(day, c):>10}" for c in COLUMNS)
                    )
            self.stdout.write("total       " + " ".join(f"{getattr(totals, c):>10}" for c in COLUMNS))
            self.stdout.write(f"mails saved: {totals.saved}")
