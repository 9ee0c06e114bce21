"""`GET /sale/quality` (allegro-api.md §5) as plain dicts, for sla's quality mirror.

The only place that knows the vendor's shape: `sla` gets a list of
{"day": date, "score", "grade", "max_score", "metrics": [{"code", "name", "score", "max_score"}]}.
Days without a score are left out by Allegro; malformed entries are skipped here.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from inbox.models import ChannelAccount

from .client import AllegroClient


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def parse_quality(body: Any) -> list[dict[str, Any]]:
    """The days of a `/sale/quality` response body; entries without a day or a score are skipped."""
    days: list[dict[str, Any]] = []
    items = body.get("quality") if isinstance(body, dict) else None
    for item in items or []:
        if not isinstance(item, dict):
            continue
        try:
            day = date.fromisoformat(str(item.get("resultFor"))[:10])
        except ValueError:
            continue
        score = _number(item.get("score"))
        if score is None:
            continue
        metrics = []
        for metric in item.get("metrics") or []:
            if isinstance(metric, dict) and metric.get("code"):
                metrics.append(
                    {
                        "code": str(metric["code"]),
                        "name": str(metric.get("name") or metric["code"]),
                        "score": _number(metric.get("score")),
                        "max_score": _number(metric.get("maxScore")),
                    }
                )
        days.append(
            {
                "day": day,
                "score": score,
                "grade": str(item.get("grade") or ""),
                "max_score": _number(item.get("maxScore")),
                "metrics": metrics,
            }
        )
    return days


def quality_fetch(account: ChannelAccount) -> list[dict[str, Any]]:
    """Up to 30 days of the account's official quality figures (raises integrations.contracts errors)."""
    return parse_quality(AllegroClient(account).get("/sale/quality"))
