"""Writes of the quality mirror (rules.md §4): the official daily figures, the organization's scheme."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from inbox.models import ChannelAccount, Organization

from .models import QualityConfig, QualitySnapshot
from .quality import scheme_validate

logger = logging.getLogger(__name__)


def quality_snapshots_store(account: ChannelAccount, days: list[dict]) -> int:
    """Upsert the official daily figures (plain dicts of `integrations.allegro.quality`); one per day."""
    now = timezone.now()
    rows = [
        QualitySnapshot(
            organization_id=account.organization_id,
            account=account,
            day=item["day"],
            score=item["score"],
            grade=item.get("grade") or "",
            max_score=item.get("max_score"),
            metrics=list(item.get("metrics") or []),
            fetched_at=now,
        )
        for item in days
    ]
    if not rows:
        return 0
    with transaction.atomic():
        QualitySnapshot.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["account", "day"],
            update_fields=["score", "grade", "max_score", "metrics", "fetched_at"],
        )
        latest = max(rows, key=lambda r: r.day)
        from integrations.webhooks import webhooks_emit_quality_updated  # lazily, like inbox does

        webhooks_emit_quality_updated(
            organization_id=account.organization_id,
            account_id=account.pk,
            day=latest.day,
            score=latest.score,
            grade=latest.grade,
            max_score=latest.max_score,
        )
    return len(rows)


def quality_import(account: ChannelAccount) -> int:
    """Fetch `GET /sale/quality` for one Allegro account and store it (the one vendor call of sla)."""
    from integrations.allegro.quality import quality_fetch  # the only integrations import of sla

    days = quality_fetch(account)
    stored = quality_snapshots_store(account, days)
    logger.info("quality import", extra={"account_id": account.pk, "days": stored})
    return stored


def quality_accounts(organization: Organization | None = None) -> list[int]:
    """Active Allegro accounts whose figures are imported."""
    qs = ChannelAccount.objects.filter(kind=ChannelAccount.Kind.ALLEGRO, is_active=True)
    if organization is not None:
        qs = qs.filter(organization=organization)
    return list(qs.order_by("pk").values_list("pk", flat=True))


def quality_config_update(
    organization: Organization,
    *,
    scheme: dict,
    orders_30d: int | None,
    company_account: bool | None,
    acting_user=None,
) -> QualityConfig:
    problems = scheme_validate(scheme)
    if problems:
        raise ValueError("; ".join(problems))
    config, _ = QualityConfig.objects.update_or_create(
        organization=organization,
        defaults={
            "scheme": scheme,
            "orders_30d": orders_30d,
            "company_account": company_account,
            "updated_at": timezone.now(),
            "updated_by": acting_user,
        },
    )
    return config
