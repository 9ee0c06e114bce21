"""The official quality figures imported from the local Allegro sandbox over HTTP (GET /sale/quality)."""

from __future__ import annotations

from datetime import date

import pytest
from django.utils import timezone

from inbox.models import ChannelAccount
from integrations.allegro.client import TokenSet
from integrations.allegro.quality import parse_quality, quality_fetch
from sla import quality_services
from sla.models import QualitySnapshot
from sla.tasks import quality_snapshots_import


@pytest.fixture
def quality_account(org, allegro_sandbox, settings):
    """An Allegro account of `org` holding a real sandbox token pair (the idea of
    tests/integrations/allegro/conftest.py's `connected_account`)."""
    settings.ALLEGRO_RETRY_BASE_SECONDS = 0.01
    settings.ALLEGRO_REQUESTS_PER_MINUTE = 100000
    tokens = TokenSet.from_response(allegro_sandbox.mint_token(seller="SklepTest"), now=timezone.now())
    return ChannelAccount.objects.create(
        organization=org,
        kind=ChannelAccount.Kind.ALLEGRO,
        name="SklepTest",
        external_id="sandbox-SklepTest",
        health=ChannelAccount.Health.OK,
        credentials=tokens.as_credentials(),
    )


def test_fetch_returns_plain_dicts(quality_account, allegro_sandbox):
    days = quality_fetch(quality_account)
    assert len(days) == 30
    first = days[-1]
    assert isinstance(first["day"], date)
    assert set(first) == {"day", "score", "grade", "max_score", "metrics"}
    assert first["score"] == sum(m["score"] for m in first["metrics"])
    assert {m["code"] for m in first["metrics"]} >= {"BUYER_SATISFACTION", "DISPATCH_IN_TIME"}
    assert set(first["metrics"][0]) == {"code", "name", "score", "max_score"}
    assert allegro_sandbox.count("GET", "/sale/quality") == 1


def test_import_upserts_one_snapshot_per_account_and_day(quality_account, allegro_sandbox):
    assert quality_snapshots_import(quality_account.pk) == 30
    assert QualitySnapshot.objects.filter(account=quality_account).count() == 30
    newest = QualitySnapshot.objects.filter(account=quality_account).order_by("-day").first()
    assert newest.organization_id == quality_account.organization_id
    assert newest.grade in {"SUPER", "GOOD", "NEUTRAL"}
    assert newest.max_score == 500
    # Again (the beat the next day, or "import now" twice): same rows, updated in place.
    newest.score = -1
    newest.save()
    assert quality_snapshots_import(quality_account.pk) == 30
    assert QualitySnapshot.objects.filter(account=quality_account).count() == 30
    newest.refresh_from_db()
    assert newest.score >= 0


def test_the_beat_fans_out_to_active_allegro_accounts(quality_account, allegro_sandbox, settings, org):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    from config.celery import app

    app.conf.task_always_eager = True
    try:
        ChannelAccount.objects.create(
            organization=org, kind=ChannelAccount.Kind.ALLEGRO, name="off", external_id="x", is_active=False
        )
        assert quality_snapshots_import() == 1
    finally:
        app.conf.task_always_eager = False
    assert QualitySnapshot.objects.count() == 30


def test_parse_skips_malformed_days():
    body = {
        "quality": [
            {
                "resultFor": "2026-11-01",
                "score": 20,
                "grade": "NEUTRAL",
                "maxScore": 500,
                "metrics": [
                    {"code": "DISPATCH_IN_TIME", "name": "On-time dispatch", "score": 0, "maxScore": 40},
                    {"name": "no code"},
                ],
            },
            {"resultFor": "not a day", "score": 1},
            {"resultFor": "2026-11-02"},
            "junk",
        ]
    }
    days = parse_quality(body)
    assert days == [
        {
            "day": date(2026, 11, 1),
            "score": 20.0,
            "grade": "NEUTRAL",
            "max_score": 500.0,
            "metrics": [
                {"code": "DISPATCH_IN_TIME", "name": "On-time dispatch", "score": 0.0, "max_score": 40.0}
            ],
        }
    ]
    assert parse_quality(None) == [] and parse_quality({"quality": None}) == []


def test_store_is_scoped_to_the_account_organization(account, charlie):
    other_org_account = ChannelAccount.objects.create(
        organization=charlie.memberships.get().organization, kind="allegro", name="Inny", external_id="y"
    )
    day = {"day": date(2026, 11, 1), "score": 10.0, "grade": "NEUTRAL", "max_score": 500.0, "metrics": []}
    quality_services.quality_snapshots_store(account, [day])
    quality_services.quality_snapshots_store(other_org_account, [{**day, "score": 99.0}])
    assert QualitySnapshot.objects.get(account=account).organization_id == account.organization_id
    assert QualitySnapshot.objects.get(account=other_org_account).score == 99.0
