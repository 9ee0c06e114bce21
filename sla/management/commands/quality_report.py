"""Print the mirrored customer-service area beside Allegro's official figures, and the forecast.

    manage.py quality_report [--org SLUG] [--date YYYY-MM-DD]

Per Allegro account: each metric of our area (value, points, rule) for the day's rolling 30-day
window, the official score/grade/metrics of that day (or the newest before it), the difference, and
— for today — what the open queue does by the daily cut-off (sla.quality_selectors).
"""

from __future__ import annotations

from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.utils import translation

from inbox.models import Organization
from sla.quality_selectors import forecast_sentence, quality_board

UNITS = {
    "messages_on_time": "rate",
    "discussions_on_time": "rate",
    "messages_avg_time": "hours",
    "discussions_avg_time": "hours",
    "discussions_unresolved": "ratio",
    "no_discussions": "orders",
}


def format_value(code: str, value: float | None) -> str:
    if value is None:
        return "—"
    unit = UNITS.get(code)
    if unit in ("rate", "ratio"):
        return f"{value * 100:.1f} %"
    if unit == "hours":
        return f"{value:.1f} h"
    return f"{value:g}"


class Command(BaseCommand):
    help = "Mirrored quality (customer-service area) beside Allegro's official figures, and the forecast."

    def add_arguments(self, parser):
        parser.add_argument("--org", default=None, help="organization slug (default: all)")
        parser.add_argument("--date", default=None, help="day (YYYY-MM-DD, Europe/Warsaw; default today)")

    def handle(self, *args, org: str | None, date: str | None, **options):
        day = None
        if date:
            try:
                day = _parse_day(date)
            except ValueError as exc:
                raise CommandError(f"--date must be YYYY-MM-DD, got {date!r}") from exc
        organizations = Organization.objects.order_by("slug")
        if org:
            organizations = organizations.filter(slug=org)
            if not organizations.exists():
                raise CommandError(f"no organization with slug {org!r}")
        with translation.override("en"):
            for organization in organizations:
                self._organization(organization, day)

    def _organization(self, organization: Organization, day) -> None:
        board = quality_board(organization=organization, day=day)
        write = self.stdout.write
        write(f"== {organization.name} ({organization.slug}) — {board['day'].isoformat()}")
        if not board["accounts"]:
            write("   no Allegro account")
        threshold = next(
            (m["threshold"] for m in board["settings"].scheme["metrics"] if m["code"] == "messages_on_time"),
            0.95,
        )
        for aq in board["accounts"]:
            area = aq.mirrored
            write(f"-- {aq.account.name}")
            write(
                f"   mirrored customer-service area: {area.score:g} / {area.max_score:g}  grade {area.grade}"
            )
            write(f"   {'metric':<24} {'value':>10} {'points':>8}  rule")
            for m in area.metrics:
                flag = "  (small sample)" if m.small_sample else ""
                write(f"   {m.code:<24} {format_value(m.code, m.value):>10} {m.points:>8g}  {m.rule}{flag}")
            off = aq.official
            if off is None:
                write("   official: not imported yet")
            else:
                max_score = f" / {off.max_score:g}" if off.max_score is not None else ""
                write(f"   official ({off.day.isoformat()}): {off.score:g}{max_score}  grade {off.grade}")
                for metric in off.metrics:
                    mx = f" / {metric['max_score']:g}" if metric.get("max_score") is not None else ""
                    score = "—" if metric.get("score") is None else f"{metric['score']:g}"
                    write(f"     {metric['code']:<22} {score}{mx}  {metric['name']}")
                if aq.difference is not None:
                    what = "official customer-service metrics"
                    write(f"   difference (mirrored area − {what}): {aq.difference:+g}")
                else:
                    write(
                        "   difference: not comparable (the official figures list no customer-service"
                        f" metric; grades: mirrored {aq.mirrored.grade}, official {off.grade})"
                    )
            write(f"   forecast: {forecast_sentence(aq.forecast, threshold=threshold)}")
            for saving in aq.savings[:10]:
                if saving["points"]:
                    due = f"{saving['due_at']:%Y-%m-%d %H:%M}"
                    write(
                        f"     answer #{saving['conversation'].pk} (due {due} UTC): "
                        f"saves {saving['points']:g} points"
                    )


def _parse_day(text: str):
    return date.fromisoformat(text)
