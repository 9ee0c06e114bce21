"""Payloads a sync could not (fully) use: made safe to store, recorded once, listed (issue #9).

A channel's fetch reports each bad thread, issue or message as a `contracts.FetchProblem` and goes
on with the rest; `channel_account_sync` records them here. Recording is an upsert on (account,
kind, external id, digest of code + detail + payload), so a payload seen by every sync is one row
whose `count` and `last_seen_at` grow. Also here: `json_safe`, which turns anything a JSON parser
returned into what PostgreSQL's jsonb/text accept (no NUL characters, no NaN/Infinity, strings cut
to a cap).
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count, F
from django.utils import timezone

from inbox.models import ChannelAccount

from .contracts import FetchProblem
from .models import SyncProblem, SyncRun

# The raw copy kept of a bad payload: at most this many characters of JSON (the full size is noted).
RAW_LIMIT = 64 * 1024
# Longest string kept inside a stored payload (a message's text is capped separately).
STRING_LIMIT = 100_000
# How many times a sync reads a failing item again before it records it and moves on.
MAX_RETRIES = 3
TRUNCATED_MARK = "…[truncated]"


def text_safe(value: str, limit: int | None = None) -> str:
    """`value` without NUL characters (PostgreSQL text cannot hold them), at most `limit` long."""
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    if limit is not None and len(value) > limit:
        mark = TRUNCATED_MARK if limit > 4 * len(TRUNCATED_MARK) else ""
        value = value[: limit - len(mark)] + mark
    return value


def json_safe(value: Any, *, string_limit: int = STRING_LIMIT, _depth: int = 0) -> Any:
    """A copy of a parsed JSON document that jsonb accepts: strings without NUL and cut to
    `string_limit`, NaN/Infinity (Python's json parser accepts them, PostgreSQL does not) as
    strings, and nesting below 500 levels."""
    if _depth > 500:
        return "…[nested too deep]"
    if isinstance(value, str):
        return text_safe(value, string_limit)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, bool | int | float) or value is None:
        return value
    if isinstance(value, dict):
        return {
            text_safe(str(k), 1000): json_safe(v, string_limit=string_limit, _depth=_depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [json_safe(v, string_limit=string_limit, _depth=_depth + 1) for v in value]
    return text_safe(repr(value), string_limit)


def raw_capped(value: Any, limit: int = RAW_LIMIT) -> tuple[Any, int, bool]:
    """(what to store, full JSON size in characters, truncated?) for a bad payload."""
    safe = json_safe(value)
    dumped = json.dumps(safe, ensure_ascii=False)
    if len(dumped) <= limit:
        return safe, len(dumped), False
    return {"truncated": True, "size": len(dumped), "head": dumped[:limit]}, len(dumped), True


def payload_digest(value: Any) -> str:
    """A stable short digest of a payload (the external id of an item that has none)."""
    dumped = json.dumps(json_safe(value, string_limit=10**9), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(dumped.encode("utf-8", "replace")).hexdigest()[:16]


def sync_problem_record(
    account: ChannelAccount, problem: FetchProblem, *, run: SyncRun | None
) -> SyncProblem:
    """Record `problem` once; seen again, the same row counts it (and is unresolved again)."""
    raw, size, truncated = raw_capped(problem.raw)
    digest = hashlib.sha256(
        f"{problem.code}\n{problem.detail}\n{payload_digest(problem.raw)}".encode("utf-8", "replace")
    ).hexdigest()
    key = {
        "account": account,
        "kind": problem.kind[:20],
        "external_id": text_safe(problem.external_id, 290),
        "problem_hash": digest,
    }
    now = timezone.now()
    changes = {
        "run": run,
        "raw": raw,
        "raw_size": size,
        "raw_truncated": truncated,
        "retrying": problem.retrying,
        "last_seen_at": now,
        "resolved_at": None,
    }
    for _attempt in range(2):
        if SyncProblem.objects.filter(**key).update(count=F("count") + 1, **changes):
            return SyncProblem.objects.get(**key)
        try:
            with transaction.atomic():
                return SyncProblem.objects.create(
                    organization_id=account.organization_id,
                    code=problem.code,
                    detail=text_safe(problem.detail, 2000),
                    first_seen_at=now,
                    **key,
                    **changes,
                )
        except IntegrityError:
            continue  # a concurrent sync created it first: count it on that row
    return SyncProblem.objects.get(**key)


def sync_problems_resolve(account: ChannelAccount, items: list[tuple[str, str]]) -> int:
    """Mark the open problems of items that now read cleanly as resolved."""
    if not items:
        return 0
    open_problems = SyncProblem.objects.filter(account=account, resolved_at__isnull=True)
    if not open_problems.exists():
        return 0
    resolved = 0
    for kind in {k for k, _ in items}:
        ids = [external_id for k, external_id in items if k == kind]
        resolved += open_problems.filter(kind=kind, external_id__in=ids).update(
            resolved_at=timezone.now(), retrying=False
        )
    return resolved


def sync_problem_list(*, organization, account_ids: list[int], limit: int = 5) -> dict[int, dict[str, Any]]:
    """For the accounts page: per account, how many problems are open and the latest `limit`."""
    open_problems = SyncProblem.objects.filter(
        organization=organization, account_id__in=account_ids, resolved_at__isnull=True
    )
    counts = dict(
        open_problems.values_list("account_id")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("account_id", "n")
    )
    result: dict[int, dict[str, Any]] = {}
    for pk in account_ids:
        recent = (
            list(open_problems.filter(account_id=pk).order_by("-last_seen_at", "-id")[:limit])
            if counts.get(pk)
            else []
        )
        for problem in recent:
            problem.raw_preview = raw_preview(problem)
        result[pk] = {"count": counts.get(pk, 0), "recent": recent}
    return result


def raw_preview(problem: SyncProblem, limit: int = 2000) -> str:
    raw = problem.raw
    text = (
        raw["head"]
        if problem.raw_truncated and isinstance(raw, dict)
        else json.dumps(raw, ensure_ascii=False, indent=1)
    )
    return text if len(text) <= limit else text[:limit] + TRUNCATED_MARK
