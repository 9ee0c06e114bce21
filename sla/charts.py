"""Server-rendered SVG charts (no JS library, no CDN): coordinates only; templates draw and label.

Coordinates are strings ("12.5"): a template would localise floats ("12,5" in Polish), which SVG rejects.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Series:
    key: str
    label: str
    points: str  # "x,y x,y …" for <polyline points=…>
    dots: tuple[tuple[str, str, str], ...]  # (x, y, title) for each value


@dataclass(frozen=True)
class LineChart:
    width: int
    height: int
    pad: int
    series: tuple[Series, ...]
    y_ticks: tuple[tuple[str, str], ...]  # (y, label)
    x_ticks: tuple[tuple[str, str], ...]

    @property
    def x_end(self) -> int:
        return self.width - self.pad


def line_chart(
    labels: list[str],
    series: list[tuple[str, str, list[float | None]]],
    *,
    width: int = 720,
    height: int = 200,
    pad: int = 36,
    y_min: float | None = None,
    y_max: float | None = None,
) -> LineChart:
    """`series`: (key, label, one value per label, None = gap). Y scale covers every value."""
    values = [v for _, _, vs in series for v in vs if v is not None]
    low = min(values + ([y_min] if y_min is not None else []), default=0.0)
    high = max(values + ([y_max] if y_max is not None else []), default=1.0)
    if high == low:  # a flat series: centre it instead of squeezing it onto the bottom edge
        low, high = (low - 1, high + 1) if low else (0.0, 1.0)
    n = max(len(labels), 2)

    def x(i: int) -> str:
        return f"{pad + i * (width - 2 * pad) / (n - 1):.1f}"

    def y(v: float) -> str:
        return f"{height - pad - (v - low) * (height - 2 * pad) / (high - low):.1f}"

    out = []
    for key, label, vs in series:
        coords = [(x(i), y(v), f"{labels[i]}: {v:g}") for i, v in enumerate(vs) if v is not None]
        out.append(Series(key, label, " ".join(f"{a},{b}" for a, b, _ in coords), tuple(coords)))
    y_ticks = tuple((y(low + (high - low) * k / 4), f"{low + (high - low) * k / 4:.4g}") for k in range(5))
    step = max(1, len(labels) // 6)
    x_ticks = tuple((x(i), labels[i]) for i in range(0, len(labels), step))
    return LineChart(width, height, pad, tuple(out), y_ticks, x_ticks)
