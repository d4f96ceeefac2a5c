"""Bar charts as inline SVG (no script, no network: they print and project as they are).

The value axis has round ticks (steps of 1, 2 or 5 times a power of ten) and reaches below zero
when a value does (a month billed as a credit); a chart of two series has a legend."""

from __future__ import annotations

import math

from markupsafe import Markup, escape

WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 720, 250, 56, 30, 40
MAX_TICKS = 6


def scale(low: float, high: float) -> tuple[float, float, float]:
    """(bottom, top, step) of an axis holding low..high (and 0): round steps, at most MAX_TICKS gaps."""
    low, high = min(low, 0.0), max(high, 0.0)
    if high - low <= 0:
        return 0.0, 1.0, 0.2
    raw = (high - low) / MAX_TICKS
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    return math.floor(low / step) * step, math.ceil(high / step) * step, step


def _tick(value: float, step: float) -> str:
    places = 0 if step >= 1 else min(6, -math.floor(math.log10(step)))
    return f"{value:,.{places}f}".replace("-", "−")


def bars(
    points: list[tuple[str, float]],
    unit: str,
    title: str,
    second: list[float] | None = None,
    second_label: str = "",
    every: int = 1,
    first_label: str = "",
) -> Markup:
    """One bar per point (a second, narrower bar beside it if given, with a legend naming both);
    every `every`-th label shown."""
    if not points:
        return Markup("")
    values = [v for _, v in points] + (second or [])
    bottom, top, step = scale(min(values), max(values))
    plot_w, plot_h = WIDTH - LEFT - 8, HEIGHT - BOTTOM - TOP
    y_of = lambda v: TOP + plot_h * (top - v) / (top - bottom)  # noqa: E731
    slot = plot_w / len(points)
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<text x="4" y="16" class="axis unit">{escape(unit)}</text>',
    ]
    ticks = round((top - bottom) / step)
    for i in range(ticks + 1):
        v = bottom + i * step
        y = y_of(v)
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - 8}" y1="{y:.1f}" y2="{y:.1f}" class="grid{" zero" if v == 0 else ""}"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" class="axis" text-anchor="end">{_tick(v, step)}</text>'
        )
    if second:
        parts.append(_legend([(first_label or title, "bar"), (second_label, "bar second")]))
    zero = y_of(0)
    for i, (label, value) in enumerate(points):
        x = LEFT + i * slot
        w = slot * (0.55 if second else 0.8)
        parts.append(_bar(x + slot * 0.1, w, zero, y_of(value), "bar", f"{label}: {value:,.1f} {unit}"))
        if second:
            tip = f"{label}: {second[i]:,.1f} {unit} {second_label}"
            parts.append(_bar(x + slot * 0.1 + w, slot * 0.3, zero, y_of(second[i]), "bar second", tip))
        if i % every == 0:
            parts.append(
                f'<text x="{x + slot / 2:.1f}" y="{HEIGHT - 8}" class="axis" text-anchor="middle">'
                f"{escape(label)}</text>"
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def _bar(x: float, width: float, zero: float, y: float, css: str, tip: str) -> str:
    top, height = min(zero, y), abs(zero - y)
    return (
        f'<rect x="{x:.1f}" y="{top:.1f}" width="{width:.1f}" height="{height:.1f}" class="{css}">'
        f"<title>{escape(tip)}</title></rect>"
    )


def _legend(entries: list[tuple[str, str]]) -> str:
    out, x = ['<g class="legend">'], LEFT
    for label, css in entries:
        out.append(
            f'<rect x="{x}" y="8" width="14" height="14" class="{css}"/>'
            f'<text x="{x + 20}" y="20" class="axis legend-label">{escape(label)}</text>'
        )
        x += 34 + 8 * len(label)
    out.append("</g>")
    return "".join(out)
