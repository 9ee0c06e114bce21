"""sla.quality: the customer-service area scored against hand-computed fixtures (no database)."""

from __future__ import annotations

import pytest

from sla import quality
from sla.quality import AreaInputs, OpenItem, forecast, scheme_merge, scheme_validate, score_area

H = 3600


def points(result) -> dict[str, float]:
    return {m.code: m.points for m in result.metrics}


def test_a_good_month_by_hand():
    # 200 messages due, 196 on time (98 % ≥ 95 % → +30); average 6.75 h:
    #   20 × (24 − 6.75) / (24 − 1) = 20 × 17.25 / 23 = 15.0
    # 20 discussions due, 19 on time (95 % → +20); average 3.3 h: 30 × 20.7 / 23 = 27.0
    # 2 unresolved of 500 orders = 0.4 %: 10 × (1 − 0.004 / 0.02) = 8.0
    # no_discussions does not apply (there are discussions): 0. Total 30 + 15 + 20 + 27 + 8 = 100.
    inputs = AreaInputs(
        messages_due=200,
        messages_on_time=196,
        messages_replied=200,
        messages_reply_seconds=200 * 6.75 * H,
        discussions_due=20,
        discussions_on_time=19,
        discussions_replied=20,
        discussions_reply_seconds=20 * 3.3 * H,
        discussions_total=25,
        discussions_unresolved=2,
        orders=500,
    )
    result = score_area(inputs)
    assert points(result) == {
        "messages_on_time": 30,
        "messages_avg_time": 15.0,
        "discussions_on_time": 20,
        "discussions_avg_time": 27.0,
        "discussions_unresolved": 8.0,
        "no_discussions": 0,
    }
    assert result.score == 100.0
    assert result.max_score == 30 + 20 + 20 + 30 + 10  # the discussion metrics beat no_discussions' 5
    assert result.grade == "NEUTRAL"  # 0–100
    assert result.metric("messages_on_time").value == pytest.approx(0.98)
    assert result.metric("messages_avg_time").value == pytest.approx(6.75)
    assert not result.metric("messages_on_time").small_sample


def test_just_below_the_threshold_is_minus():
    # 189 / 200 = 94.5 % < 95 % → −30; average 1 h → the full 20.
    inputs = AreaInputs(
        messages_due=200, messages_on_time=189, messages_replied=190, messages_reply_seconds=190 * H
    )
    result = score_area(inputs)
    assert points(result)["messages_on_time"] == -30
    assert points(result)["messages_avg_time"] == 20


def test_no_discussions_at_all():
    # No discussion in the window: the four discussion metrics give 0, "no discussions" gives
    # 5 × min(1, 40 / 100) = 2.0. Messages: 10/10 on time (+30), average 12.5 h: 20 × 11.5 / 23 = 10.0.
    inputs = AreaInputs(
        messages_due=10,
        messages_on_time=10,
        messages_replied=10,
        messages_reply_seconds=10 * 12.5 * H,
        orders=40,
    )
    result = score_area(inputs)
    assert points(result) == {
        "messages_on_time": 30,
        "messages_avg_time": 10.0,
        "discussions_on_time": 0,
        "discussions_avg_time": 0,
        "discussions_unresolved": 0,
        "no_discussions": 2.0,
    }
    assert result.metric("discussions_on_time").rule == "no discussions"
    assert result.score == 42.0
    assert result.max_score == 30 + 20 + 30 + 20 + 10  # maximum still assumes the discussion branch
    # With orders unknown the metric is 0, not guessed.
    assert points(score_area(AreaInputs()))["no_discussions"] == 0
    # With ≥ 100 orders the full 5.
    assert points(score_area(AreaInputs(orders=250)))["no_discussions"] == 5


def test_nothing_at_all_scores_zero_and_is_neutral():
    result = score_area(AreaInputs())
    assert result.score == 0
    assert result.grade == "NEUTRAL"
    assert result.metric("messages_on_time").value is None
    assert result.metric("messages_on_time").rule == "nothing due"


def test_a_single_late_reply_in_a_small_sample():
    # One message in 30 days, answered late (after 30 h of working-day time): 0 % → −30 and the
    # average 30 h ≥ 24 h → 0. The rule is applied as is, but flagged as a small sample.
    inputs = AreaInputs(messages_due=1, messages_on_time=0, messages_replied=1, messages_reply_seconds=30 * H)
    result = score_area(inputs)
    assert points(result)["messages_on_time"] == -30
    assert points(result)["messages_avg_time"] == 0
    assert result.metric("messages_on_time").small_sample
    assert result.score == -30
    assert result.grade == "NEEDS_IMPROVEMENT"


def test_an_unanswered_overdue_message_counts_late():
    # 19 replied on time + 1 unanswered overdue = 19/20 = 95 % → still +30; a second → 19/21 → −30.
    base = AreaInputs(
        messages_due=19, messages_on_time=19, messages_replied=19, messages_reply_seconds=19 * H
    )
    assert points(score_area(base.with_breached("messages")))["messages_on_time"] == 30
    assert points(score_area(base.with_breached("messages", 2)))["messages_on_time"] == -30


def test_unresolved_without_orders_is_zero_and_none_is_full():
    with_discussions = {
        "discussions_due": 1,
        "discussions_on_time": 1,
        "discussions_replied": 1,
        "discussions_total": 1,
    }
    assert (
        points(score_area(AreaInputs(**with_discussions, discussions_unresolved=1)))["discussions_unresolved"]
        == 0
    )
    assert points(score_area(AreaInputs(**with_discussions)))["discussions_unresolved"] == 10
    # 3 of 100 orders = 3 % ≥ 2 % → 0 (floored, never negative).
    assert (
        points(score_area(AreaInputs(**with_discussions, discussions_unresolved=3, orders=100)))[
            "discussions_unresolved"
        ]
        == 0
    )


@pytest.mark.parametrize(
    ("score", "grade"),
    [
        (400, "SUPER"),
        (230, "SUPER"),
        (229.9, "GOOD"),
        (101, "GOOD"),
        (100, "NEUTRAL"),
        (0, "NEUTRAL"),
        (-0.1, "NEEDS_IMPROVEMENT"),
    ],
)
def test_grade_bands(score, grade):
    assert quality.grade_for(score, quality.DEFAULT_SCHEME["bands"]) == grade


def test_an_override_changes_points_and_bands():
    scheme = scheme_merge(
        {
            "metrics": [{"code": "messages_on_time", "threshold": 0.99, "plus": 70, "minus": -100}],
            "bands": [{"grade": "SUPER", "min": 60}, {"grade": "NEEDS_IMPROVEMENT", "min": None}],
        }
    )
    inputs = AreaInputs(
        messages_due=100, messages_on_time=99, messages_replied=100, messages_reply_seconds=100 * H
    )
    result = score_area(inputs, scheme)
    assert points(result)["messages_on_time"] == 70
    assert result.score == 90 and result.grade == "SUPER"
    assert points(score_area(inputs.with_breached("messages"), scheme))["messages_on_time"] == -100
    # The defaults are untouched.
    assert quality.DEFAULT_SCHEME["metrics"][0]["plus"] == 30


def test_scheme_validation():
    assert scheme_validate({}) == []
    assert scheme_validate({"metrics": [{"code": "nope"}]})
    assert scheme_validate({"metrics": [{"code": "messages_on_time", "plus": "a lot"}]})
    assert scheme_validate({"bands": [{"grade": "A", "min": None}, {"grade": "B", "min": 0}]})
    assert scheme_validate({"bands": [{"grade": "A", "min": 10}, {"grade": "B", "min": None}]}) == []


def test_forecast_by_hand():
    # Today: 95 messages due, 92 on time (96.8 % → +30), 92 replied in 2 h average (20 × 22/23 = 19.1).
    # Open: A due in 1 h, B due in 3 h, C due after the cut-off (in 10 h, the cut-off is in 5 h).
    # If nothing is answered A and B breach: 92 / 97 = 94.8 % → −30; the area falls 49.1 → −10.9.
    # Answering A now (it waited 20 h): 93 / 97 = 95.9 % → +30 again: saves 60 points minus what
    # its 20 h reply does to the average: 20 × (24 − (92×2+20)/93) / 23 = 20 × 21.806 / 23 = 18.96 → 19.0,
    # so 30 + 19.0 − (−10.9) = 59.9. Answering B (waited 1 h): average 185/93 h → 19.1, saves 60.0.
    inputs = AreaInputs(
        messages_due=95, messages_on_time=92, messages_replied=92, messages_reply_seconds=92 * 2 * H
    )
    items = [
        OpenItem("A", "messages", 1 * H, 20 * H),
        OpenItem("B", "messages", 3 * H, 1 * H),
        OpenItem("C", "messages", 10 * H, 1 * H),
    ]
    fc = forecast(inputs, items, seconds_to_cutoff=5 * H)
    assert fc.breaching_soon == 1  # within 2 h
    assert fc.breaching_by_cutoff == 2
    assert fc.rate_now == pytest.approx(92 / 95)
    assert fc.rate_at_cutoff == pytest.approx(92 / 97)
    assert fc.now.score == 49.1
    assert fc.at_cutoff.score == -10.9
    assert dict(fc.savings) == {"A": 59.9, "B": 60.0}
    assert fc.savings[0][0] == "B"  # B waited 1 h: its answer keeps the average best


def test_forecast_without_queue():
    fc = forecast(AreaInputs(), [], seconds_to_cutoff=3 * H)
    assert fc.breaching_by_cutoff == 0 and fc.savings == ()
    assert fc.now == fc.at_cutoff


def test_super_seller_checklist():
    grades = ["SUPER"] * 14 + ["GOOD"] * 16
    checklist = {
        c.code: c.status
        for c in quality.super_seller_checklist(official_grades=grades, company_account=True, orders=50)
    }
    assert checklist == {
        "company_account": "met",
        "super_days": "met",
        "at_least_good": "met",
        "orders": "met",
    }
    checklist = {
        c.code: c.status
        for c in quality.super_seller_checklist(
            official_grades=["SUPER"] * 13 + ["NEUTRAL"] + ["GOOD"] * 16, company_account=None, orders=None
        )
    }
    assert checklist == {
        "company_account": "unknown",
        "super_days": "not_met",
        "at_least_good": "not_met",
        "orders": "unknown",
    }
    # Ten days of history only: neither the 14 days nor "through 30 days" can be decided yet.
    checklist = {
        c.code: c.status
        for c in quality.super_seller_checklist(
            official_grades=["GOOD"] * 10, company_account=False, orders=10
        )
    }
    assert checklist == {
        "company_account": "not_met",
        "super_days": "unknown",
        "at_least_good": "unknown",
        "orders": "not_met",
    }


def test_official_comparison_uses_the_area_codes_when_present():
    metrics = [
        {"code": "BUYER_SATISFACTION", "score": 120.0},
        {"code": "CUSTOMER_SERVICE", "score": 45.0},
        {"code": "DISCUSSIONS", "score": None},
    ]
    assert quality.official_compared(300.0, metrics, ["CUSTOMER_SERVICE", "DISCUSSIONS"]) == (45.0, "area")
    assert quality.official_compared(300.0, metrics[:1], ["CUSTOMER_SERVICE"]) == (300.0, "total")
    assert scheme_merge({"official_area_codes": ["X"]})["official_area_codes"] == ["X"]
    assert scheme_validate({"official_area_codes": "X"})


def test_chart_coordinates_are_locale_proof_strings():
    from sla.charts import line_chart

    chart = line_chart(["a", "b", "c"], [("s", "S", [0.0, None, 10.0])], width=100, height=50, pad=10)
    assert chart.series[0].points == "10.0,40.0 90.0,10.0"  # the gap is skipped
    assert all(isinstance(v, str) for x, y, _ in chart.series[0].dots for v in (x, y))
    assert chart.y_ticks[0] == ("40.0", "0") and chart.x_end == 90


def test_forecast_sentence_in_both_languages():
    from django.utils import translation

    from sla.quality_selectors import forecast_sentence

    inputs = AreaInputs(
        messages_due=100, messages_on_time=96, messages_replied=96, messages_reply_seconds=96 * H
    )
    items = [OpenItem(i, "messages", 30 * 60 * (i + 1), H) for i in range(3)]
    fc = forecast(inputs, items, seconds_to_cutoff=4 * H)
    with translation.override("en"):
        text = forecast_sentence(fc)
    assert text.startswith("3 conversations breach in the next 2 h (3 by the daily cut-off)")
    assert "on-time rate falls from 96.0 % to 93.2 % (below 95 %)" in text
    assert "area score 50 → -10" in text
    with translation.override("pl"):
        text = forecast_sentence(fc)
    assert text.startswith("3 rozmowy przekroczą termin w ciągu 2 h")
    assert "(poniżej 95 %)" in text
