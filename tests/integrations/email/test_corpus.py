"""Every sample of the shared corpus through ``parse_email``; every asserted field of expected.json.

``test_corpus_pass_rate`` is the gate (>= 95 % of all asserted fields). The parametrised
``test_corpus_field`` shows each field on its own; fields we knowingly get wrong are listed in
``KNOWN_FAILURES`` and marked xfail(strict=False), so they stay visible.
"""

from __future__ import annotations

import pytest

from integrations.email.parsing import ParsedEmail, parse_email

from .conftest import CORPUS_SUMMARY
from .corpus import CORPUS_DIR, all_checks, asserted_fields, check, expectations, require_corpus, sample_bytes

PASS_RATE_GATE = 0.95

# (file, field) -> why we do not get it right. Empty: every asserted field currently passes.
KNOWN_FAILURES: dict[tuple[str, str], str] = {}


def _field_params() -> list:
    params = []
    for sample in expectations():
        for field in asserted_fields(sample):
            marks = []
            reason = KNOWN_FAILURES.get((sample["file"], field))
            if reason:
                marks.append(pytest.mark.xfail(reason=reason, strict=False))
            params.append(pytest.param(sample, field, marks=marks, id=f"{sample['file']}::{field}"))
    return params


def test_corpus_is_complete() -> None:
    require_corpus()
    listed = {sample["file"] for sample in expectations()}
    on_disk = {path.name for path in CORPUS_DIR.iterdir() if path.name not in ("README.md", "expected.json")}
    assert listed == on_disk
    assert len(listed) == 59


@pytest.mark.parametrize("filename", [s["file"] for s in expectations()])
def test_every_sample_parses_without_losing_the_raw_bytes(filename: str) -> None:
    require_corpus()
    raw = sample_bytes(filename)
    email = parse_email(raw)
    assert isinstance(email, ParsedEmail)
    assert email.raw == raw
    assert email.full_text or email.attachments or not email.raw.strip() or email.kind != "human"


@pytest.mark.parametrize(("sample", "field"), _field_params())
def test_corpus_field(sample: dict, field: str) -> None:
    result = check(sample, field)
    assert result.ok, f"{result.id}: expected {result.expected!r}, got {result.got!r}"


def test_corpus_pass_rate(request: pytest.FixtureRequest) -> None:
    require_corpus()
    checks = all_checks()
    right = sum(c.ok for c in checks)
    rate = right / len(checks)
    failing = [c.id for c in checks if not c.ok]
    summary = (
        f"corpus pass rate: {right}/{len(checks)} asserted fields = {rate:.1%} "
        f"over {len(expectations())} samples; failing: {', '.join(failing) or 'none'}"
    )
    request.config.stash[CORPUS_SUMMARY] = summary
    assert rate >= PASS_RATE_GATE, summary


def test_known_failures_are_still_asserted_fields() -> None:
    """A stale KNOWN_FAILURES entry would hide nothing, but it would lie about the corpus."""
    require_corpus()
    asserted = {(s["file"], f) for s in expectations() for f in asserted_fields(s)}
    assert set(KNOWN_FAILURES) <= asserted
