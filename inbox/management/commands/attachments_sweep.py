"""`manage.py attachments_sweep [--dry-run] [--hours N]`: delete attachment files no message names."""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand

from inbox.attachments import ORPHAN_AGE, attachment_files_sweep


class Command(BaseCommand):
    help = "Delete stored attachment files that no attachment row names (older than --hours)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="list them, delete nothing")
        parser.add_argument("--hours", type=float, default=ORPHAN_AGE.total_seconds() / 3600)

    def handle(self, *args, dry_run: bool, hours: float, **options) -> None:
        names = attachment_files_sweep(older_than=timedelta(hours=hours), dry_run=dry_run)
        for name in names:
            self.stdout.write(name)
        verb = "would delete" if dry_run else "deleted"
        self.stdout.write(f"{verb} {len(names)} file(s)")
