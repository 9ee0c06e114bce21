"""The customer-service area of Allegro's quality score ("Jakość sprzedaży"), computed by us.

rules.md §4, allegro-api.md §7. Pure: no ORM, no clock — the inputs are plain figures of one rolling
30-day window (`AreaInputs`), the scheme is a plain dict (`DEFAULT_SCHEME`, overridable per
organization through `sla.models.QualityConfig.scheme`), the result is `AreaResult`.

Allegro has changed the scheme several times and the numbers are mostly unverified, so every
threshold and every number of points lives in the scheme. The rules (one per metric `code`):

* `messages_on_time`: on-time rate of buyer messages (replies within the marketplace limit ÷ replies
  due + unanswered overdue) ≥ `threshold` → `plus`, below → `minus`; no message due → 0.
* `messages_avg_time`: average reply time (policy time: working days) ≤ `full_hours` → `max_points`,
  ≥ `zero_hours` → 0, linear in between; nothing replied → 0.
* `discussions_on_time`: like `messages_on_time`, for discussions and claims.
* `discussions_avg_time`: like `messages_avg_time`, for discussions and claims.
* `discussions_unresolved`: no unresolved discussion → `max_points`; otherwise
  `max_points × (1 − ratio / zero_ratio)` (floored at 0), ratio = unresolved ÷ completed orders;
  unresolved with the number of orders unknown → 0.
* `no_discussions`: only when there was no discussion at all in the window (the four discussion
  rules then give 0): `max_points × min(1, orders / full_at_orders)`; orders unknown → 0.

Grades: the first band (highest first) whose `min` the total reaches; the last band has no minimum.
Points are rounded to one decimal. Small samples are flagged (`small_sample`), not changed.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from datetime import date
from itertools import pairwise

DEFAULT_SCHEME: dict = {
    "metrics": [
        {"code": "messages_on_time", "threshold": 0.95, "plus": 30, "minus": -30},
        {"code": "messages_avg_time", "max_points": 20, "full_hours": 1, "zero_hours": 24},
        {"code": "discussions_on_time", "threshold": 0.95, "plus": 20, "minus": -20},
        {"code": "discussions_avg_time", "max_points": 30, "full_hours": 1, "zero_hours": 24},
        {"code": "discussions_unresolved", "max_points": 10, "zero_ratio": 0.02},
        {"code": "no_discussions", "max_points": 5, "full_at_orders": 100},
    ],
    # Highest first; `min` None = everything below the previous band.
    "bands": [
        {"grade": "SUPER", "min": 230},
        {"grade": "GOOD", "min": 101},
        {"grade": "NEUTRAL", "min": 0},
        {"grade": "NEEDS_IMPROVEMENT", "min": None},
    ],
    # A rate over fewer items than this is flagged as a small sample (rules.md §4, seed 001).
    "small_sample": 20,
    # Codes of the official metrics that make up Allegro's customer-service area: our area is compared
    # with their sum. Allegro does not document its codes (allegro-api.md §5): while none of these is
    # in the official figures, the comparison is with the official total.
    "official_area_codes": ["CUSTOMER_SERVICE", "MESSAGES_ANSWERED_ON_TIME", "BUYER_MESSAGES", "DISCUSSIONS"],
}

CODES = tuple(m["code"] for m in DEFAULT_SCHEME["metrics"])
GRADES = tuple(b["grade"] for b in DEFAULT_SCHEME["bands"])
# Allegro's grade strings (only GOOD and NEUTRAL are confirmed, allegro-api.md §5) to our band names.
OFFICIAL_GRADE_ALIASES = {"SUPER_PLUS": "SUPER", "UNACCEPTABLE": "NEEDS_IMPROVEMENT"}


def scheme_merge(override: dict | None) -> dict:
    """The default scheme with an organization's override applied (per metric code; bands whole)."""
    scheme = copy.deepcopy(DEFAULT_SCHEME)
    if not override:
        return scheme
    by_code = {m["code"]: m for m in scheme["metrics"]}
    for item in override.get("metrics", []):
        if isinstance(item, dict) and item.get("code") in by_code:
            by_code[item["code"]].update({k: v for k, v in item.items() if k != "code"})
    if override.get("bands"):
        scheme["bands"] = copy.deepcopy(override["bands"])
    for key in ("small_sample", "official_area_codes"):
        if key in override:
            scheme[key] = copy.deepcopy(override[key])
    return scheme


def scheme_validate(scheme: dict) -> list[str]:
    """Problems of an override (empty when it is usable); for the leads' editing form."""
    problems: list[str] = []
    if not isinstance(scheme, dict):
        return ["The scheme must be a JSON object."]
    for item in scheme.get("metrics", []):
        if not isinstance(item, dict) or item.get("code") not in CODES:
            problems.append(f"Unknown metric: {item!r}")
            continue
        for key, value in item.items():
            if key != "code" and not isinstance(value, int | float):
                problems.append(f"{item['code']}.{key} must be a number")
    codes = scheme.get("official_area_codes")
    if codes is not None and (not isinstance(codes, list) or not all(isinstance(c, str) for c in codes)):
        problems.append("official_area_codes must be a list of strings")
    bands = scheme.get("bands")
    if bands is not None:
        if not isinstance(bands, list) or not bands:
            problems.append("bands must be a non-empty list")
        else:
            mins = [b.get("min") for b in bands if isinstance(b, dict)]
            if len(mins) != len(bands) or any(not b.get("grade") for b in bands):
                problems.append("every band needs a grade and a min")
            elif mins[-1] is not None or any(m is None for m in mins[:-1]):
                problems.append("only the last band has min null")
            elif any(a <= b for a, b in pairwise(mins[:-1])):
                problems.append("band minimums must decrease")
    return problems


@dataclass(frozen=True)
class AreaInputs:
    """The figures of one rolling window (rules.md §3) the area is scored from."""

    messages_due: int = 0  # replies decided in the window + unanswered overdue
    messages_on_time: int = 0
    messages_replied: int = 0
    messages_reply_seconds: float = 0.0  # sum of policy seconds of replied messages
    discussions_due: int = 0
    discussions_on_time: int = 0
    discussions_replied: int = 0
    discussions_reply_seconds: float = 0.0
    discussions_total: int = 0  # discussions/claims with any activity in the window
    discussions_unresolved: int = 0
    orders: int | None = None  # completed orders in the window, when known

    def __add__(self, other: AreaInputs) -> AreaInputs:
        values = {}
        for name in self.__dataclass_fields__:
            a, b = getattr(self, name), getattr(other, name)
            values[name] = None if a is None and b is None else (a or 0) + (b or 0)
        return AreaInputs(**values)

    def with_answered(self, kind: str, seconds: float) -> AreaInputs:
        """One more on-time reply of `kind` ("messages"/"discussions") taking `seconds`."""
        return replace(
            self,
            **{
                f"{kind}_due": getattr(self, f"{kind}_due") + 1,
                f"{kind}_on_time": getattr(self, f"{kind}_on_time") + 1,
                f"{kind}_replied": getattr(self, f"{kind}_replied") + 1,
                f"{kind}_reply_seconds": getattr(self, f"{kind}_reply_seconds") + seconds,
            },
        )

    def with_breached(self, kind: str, count: int = 1) -> AreaInputs:
        """`count` more unanswered overdue items of `kind` (they count as late, rules.md §3)."""
        return replace(self, **{f"{kind}_due": getattr(self, f"{kind}_due") + count})

    def on_time_rate(self, kind: str) -> float | None:
        due = getattr(self, f"{kind}_due")
        return getattr(self, f"{kind}_on_time") / due if due else None

    def avg_seconds(self, kind: str) -> float | None:
        replied = getattr(self, f"{kind}_replied")
        return getattr(self, f"{kind}_reply_seconds") / replied if replied else None


@dataclass(frozen=True)
class MetricScore:
    code: str
    value: float | None  # the measured figure (a rate 0..1, hours, a ratio, a count), None if none
    points: float
    max_points: float
    rule: str  # a short description of the rule that gave the points (English; translated in UI)
    small_sample: bool = False


@dataclass(frozen=True)
class AreaResult:
    day: date | None
    score: float
    max_score: float
    grade: str
    metrics: tuple[MetricScore, ...] = field(default_factory=tuple)

    def metric(self, code: str) -> MetricScore | None:
        return next((m for m in self.metrics if m.code == code), None)


def _r(points: float) -> float:
    return round(points + 0.0, 1)


def _linear(value: float, full: float, zero: float) -> float:
    """1 at `value` ≤ full, 0 at ≥ zero, linear between."""
    if value <= full:
        return 1.0
    if value >= zero:
        return 0.0
    return (zero - value) / (zero - full)


def _on_time(rule: dict, inputs: AreaInputs, kind: str, small: int) -> MetricScore:
    due = getattr(inputs, f"{kind}_due")
    rate = inputs.on_time_rate(kind)
    top = max(rule["plus"], 0)
    if rate is None:
        return MetricScore(rule["code"], None, 0.0, top, "nothing due")
    ok = rate >= rule["threshold"]
    return MetricScore(
        rule["code"],
        rate,
        _r(rule["plus"] if ok else rule["minus"]),
        top,
        f"{'≥' if ok else '<'} {rule['threshold'] * 100:g} %",
        small_sample=due < small,
    )


def _avg_time(rule: dict, inputs: AreaInputs, kind: str, small: int) -> MetricScore:
    avg = inputs.avg_seconds(kind)
    if avg is None:
        return MetricScore(rule["code"], None, 0.0, rule["max_points"], "nothing replied")
    hours = avg / 3600
    points = rule["max_points"] * _linear(hours, rule["full_hours"], rule["zero_hours"])
    return MetricScore(
        rule["code"],
        hours,
        _r(points),
        rule["max_points"],
        f"≤ {rule['full_hours']:g} h: {rule['max_points']:g}, ≥ {rule['zero_hours']:g} h: 0",
        small_sample=getattr(inputs, f"{kind}_replied") < small,
    )


def _unresolved(rule: dict, inputs: AreaInputs) -> MetricScore:
    n = inputs.discussions_unresolved
    if n == 0:
        return MetricScore(rule["code"], 0.0, _r(rule["max_points"]), rule["max_points"], "none unresolved")
    if not inputs.orders:
        return MetricScore(rule["code"], None, 0.0, rule["max_points"], "orders unknown")
    ratio = n / inputs.orders
    points = max(0.0, rule["max_points"] * (1 - ratio / rule["zero_ratio"]))
    return MetricScore(
        rule["code"],
        ratio,
        _r(points),
        rule["max_points"],
        f"0 at ≥ {rule['zero_ratio'] * 100:g} % of orders",
    )


def _no_discussions(rule: dict, inputs: AreaInputs) -> MetricScore:
    if inputs.orders is None:
        return MetricScore(rule["code"], None, 0.0, rule["max_points"], "orders unknown")
    share = min(1.0, inputs.orders / rule["full_at_orders"]) if rule["full_at_orders"] else 1.0
    return MetricScore(
        rule["code"],
        float(inputs.orders),
        _r(rule["max_points"] * share),
        rule["max_points"],
        f"{rule['max_points']:g} at ≥ {rule['full_at_orders']:g} orders",
    )


def grade_for(score: float, bands: list[dict]) -> str:
    for band in bands:
        if band.get("min") is None or score >= band["min"]:
            return band["grade"]
    return bands[-1]["grade"]


def score_area(inputs: AreaInputs, scheme: dict | None = None, *, day: date | None = None) -> AreaResult:
    """Score the customer-service area of one window with `scheme` (the defaults when None)."""
    scheme = scheme or DEFAULT_SCHEME
    small = int(scheme.get("small_sample", 0) or 0)
    no_discussions = inputs.discussions_total == 0 and inputs.discussions_due == 0
    results: list[MetricScore] = []
    for rule in scheme["metrics"]:
        code = rule["code"]
        if code == "messages_on_time":
            results.append(_on_time(rule, inputs, "messages", small))
        elif code == "messages_avg_time":
            results.append(_avg_time(rule, inputs, "messages", small))
        elif code.startswith("discussions_") and no_discussions:
            top = rule.get("max_points", rule.get("plus", 0))
            results.append(MetricScore(code, None, 0.0, top, "no discussions"))
        elif code == "discussions_on_time":
            results.append(_on_time(rule, inputs, "discussions", small))
        elif code == "discussions_avg_time":
            results.append(_avg_time(rule, inputs, "discussions", small))
        elif code == "discussions_unresolved":
            results.append(_unresolved(rule, inputs))
        elif code == "no_discussions":
            if no_discussions:
                results.append(_no_discussions(rule, inputs))
            else:
                results.append(MetricScore(code, None, 0.0, rule["max_points"], "has discussions"))
    score = _r(sum(m.points for m in results))
    # The area's maximum: every metric at its best, but no_discussions and the discussion metrics
    # exclude each other.
    best = {m.code: m.max_points for m in results}
    discussions_best = sum(v for k, v in best.items() if k.startswith("discussions_"))
    max_score = sum(v for k, v in best.items() if k.startswith("messages_")) + max(
        discussions_best, best.get("no_discussions", 0)
    )
    return AreaResult(
        day=day,
        score=score,
        max_score=_r(max_score),
        grade=grade_for(score, scheme["bands"]),
        metrics=tuple(results),
    )


def official_grade(grade: str) -> str:
    """Allegro's grade string in our band vocabulary (unknown ones pass through)."""
    grade = (grade or "").upper()
    return OFFICIAL_GRADE_ALIASES.get(grade, grade)


# --- forecast ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenItem:
    """An open marketplace clock: which kind of item it is, when it is due, how long it has waited."""

    key: object  # the conversation id
    kind: str  # "messages" or "discussions"
    due_in_seconds: float  # ≤ 0: already overdue (already counted as late)
    waited_seconds: float  # policy time so far (the reply time if answered now)


@dataclass(frozen=True)
class Forecast:
    now: AreaResult
    at_cutoff: AreaResult
    breaching_soon: int  # due within `soon_seconds`
    breaching_by_cutoff: int
    rate_now: float | None
    rate_at_cutoff: float | None
    soon_seconds: float
    savings: tuple[tuple[object, float], ...]  # (key, points saved by answering it now), best first


def forecast(
    inputs: AreaInputs,
    items: list[OpenItem],
    *,
    seconds_to_cutoff: float,
    scheme: dict | None = None,
    soon_seconds: float = 2 * 3600,
) -> Forecast:
    """What the area is at the next daily cut-off if nothing is answered, and what each answer saves.

    `inputs` are today's window figures (already counting overdue open items as late). Every open
    item due before the cut-off becomes late; answering one now makes it an on-time reply instead
    (its reply time: what it has waited). Items already overdue are late whatever happens: answering
    them only changes the average, which is not forecast.
    """
    scheme = scheme or DEFAULT_SCHEME
    now_result = score_area(inputs, scheme)
    breaching = [i for i in items if 0 < i.due_in_seconds <= seconds_to_cutoff]
    at_cutoff_inputs = inputs
    for item in breaching:
        at_cutoff_inputs = at_cutoff_inputs.with_breached(item.kind)
    at_cutoff = score_area(at_cutoff_inputs, scheme)
    savings = []
    for item in breaching:
        # The other breaching items still breach; this one is answered now.
        answered = replace(
            at_cutoff_inputs, **{f"{item.kind}_due": getattr(at_cutoff_inputs, f"{item.kind}_due") - 1}
        ).with_answered(item.kind, item.waited_seconds)
        savings.append((item.key, _r(score_area(answered, scheme).score - at_cutoff.score)))
    savings.sort(key=lambda s: -s[1])
    return Forecast(
        now=now_result,
        at_cutoff=at_cutoff,
        breaching_soon=sum(1 for i in breaching if i.due_in_seconds <= soon_seconds),
        breaching_by_cutoff=len(breaching),
        rate_now=inputs.on_time_rate("messages"),
        rate_at_cutoff=at_cutoff_inputs.on_time_rate("messages"),
        soon_seconds=soon_seconds,
        savings=tuple(savings),
    )


# --- Super Seller (rules.md §4, 2023 criteria) -----------------------------------------------------


@dataclass(frozen=True)
class Criterion:
    code: str
    status: str  # "met", "not_met", "unknown"
    detail: str


def super_seller_checklist(
    *,
    official_grades: list[str],
    days: int = 30,
    company_account: bool | None,
    orders: int | None,
    min_super_days: int = 14,
    min_orders: int = 50,
) -> tuple[Criterion, ...]:
    """The four 2023 criteria from the official daily grades of the last `days` days (newest last)."""
    grades = [official_grade(g) for g in official_grades[-days:]]
    super_days = sum(1 for g in grades if g == "SUPER")
    below_good = sum(1 for g in grades if g not in ("SUPER", "GOOD"))
    complete = len(grades) >= days

    def status(ok: bool | None) -> str:
        return "unknown" if ok is None else ("met" if ok else "not_met")

    return (
        Criterion("company_account", status(company_account), ""),
        Criterion(
            "super_days",
            status(True if super_days >= min_super_days else (False if complete else None)),
            f"{super_days}/{len(grades)} (≥ {min_super_days})",
        ),
        Criterion(
            "at_least_good",
            status(False if below_good else (True if complete else None)),
            f"{len(grades) - below_good}/{len(grades)}",
        ),
        Criterion(
            "orders",
            status(None if orders is None else orders >= min_orders),
            f"{orders if orders is not None else '?'} (≥ {min_orders})",
        ),
    )


def official_compared(score: float, metrics: list[dict], area_codes: list[str]) -> tuple[float, str]:
    """What our area is compared with: the sum of the official customer-service metrics when the
    official figures name any of `area_codes` ("area"), else the official total ("total")."""
    codes = set(area_codes)
    matched = [m for m in metrics if m.get("code") in codes and m.get("score") is not None]
    if matched:
        return _r(sum(m["score"] for m in matched)), "area"
    return _r(score), "total"


# --- points at risk per open conversation (the inbox's "score at risk" sort) ------------------------


@dataclass(frozen=True)
class AnswerGain:
    """What answering one more item of `kind` now saves, as a function of its wait `w` (seconds):

        points(w) = constant + round(max_points × linear((seconds + w) / (replied + 1)), 1)

    `constant` holds the on-time metric's change and minus the average metric's points at the
    cut-off; the second term is the average metric's points once this reply (taking `w`) is in.
    Equal to `forecast`'s saving of an item due before the cut-off (same rounding of each metric),
    and simple enough to be evaluated by the database for a whole queue (`sla.quality_selectors`).
    """

    kind: str
    constant: float
    max_points: float = 0.0
    full_hours: float = 0.0
    zero_hours: float = 0.0
    seconds: float = 0.0  # sum of reply seconds at the cut-off
    replied: int = 0  # replies at the cut-off

    def points(self, waited_seconds: float) -> float:
        avg = (self.seconds + max(0.0, waited_seconds)) / (self.replied + 1)
        share = _linear(avg / 3600, self.full_hours, self.zero_hours)
        return _r(self.constant + _r(self.max_points * share))


def answer_gain(at_cutoff: AreaInputs, kind: str, scheme: dict | None = None) -> AnswerGain:
    """The saving of answering now one of the items of `kind` that would otherwise breach before the
    cut-off; `at_cutoff` are the window's figures at the cut-off (every such item counted late)."""
    scheme = scheme or DEFAULT_SCHEME
    before = score_area(at_cutoff, scheme)
    # The on-time metric with one late item turned on time (reply time does not matter for it).
    after = score_area(
        replace(at_cutoff, **{f"{kind}_on_time": getattr(at_cutoff, f"{kind}_on_time") + 1}), scheme
    )
    on_time_code, avg_code = f"{kind}_on_time", f"{kind}_avg_time"
    a, b = after.metric(on_time_code), before.metric(on_time_code)
    constant = (a.points if a else 0.0) - (b.points if b else 0.0)
    rule = next((m for m in scheme["metrics"] if m["code"] == avg_code), None)
    avg_before = before.metric(avg_code)
    # The discussion metrics give 0 while there are no discussions; an item of that kind being due
    # already makes it "has discussions", so the average rule applies whenever a rule exists.
    if rule is None or not rule.get("max_points"):
        return AnswerGain(kind=kind, constant=_r(constant))
    constant -= avg_before.points if avg_before else 0.0
    return AnswerGain(
        kind=kind,
        constant=_r(constant),
        max_points=float(rule["max_points"]),
        full_hours=float(rule["full_hours"]),
        zero_hours=float(rule["zero_hours"]),
        seconds=float(getattr(at_cutoff, f"{kind}_reply_seconds")),
        replied=int(getattr(at_cutoff, f"{kind}_replied")),
    )
