"""Bar charts as inline SVG (no script, no network: they print and project as they are)."""

from __future__ import annotations

from markupsafe import Markup, escape

WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 720, 230, 48, 28, 24


def _nice(top: float) -> float:
    """A round axis maximum at or above `top`."""
    if top <= 0:
        return 1.0
    step = 10 ** len(str(int(top))) / 10
    for m in (1, 2, 2.5, 5, 10):
        if m * step >= top:
            return m * step
    return top


def bars(
    points: list[tuple[str, float]],
    unit: str,
    title: str,
    second: list[float] | None = None,
    second_label: str = "",
    every: int = 1,
) -> Markup:
    """One bar per point (a second, narrower bar beside it if given); every `every`-th label shown."""
    if not points:
        return Markup("")
    top = _nice(max([v for _, v in points] + (second or [0.0])))
    plot_w, plot_h = WIDTH - LEFT - 8, HEIGHT - BOTTOM - TOP
    slot = plot_w / len(points)
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    for i in range(5):
        y = TOP + plot_h * i / 4
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - 8}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" class="axis" text-anchor="end">'
            f"{top * (4 - i) / 4:,.0f}</text>"
        )
    parts.append(f'<text x="4" y="12" class="axis">{escape(unit)}</text>')
    for i, (label, value) in enumerate(points):
        x = LEFT + i * slot
        w = slot * (0.55 if second else 0.8)
        h = plot_h * value / top
        parts.append(
            f'<rect x="{x + slot * 0.1:.1f}" y="{TOP + plot_h - h:.1f}" width="{w:.1f}" height="{h:.1f}" '
            f'class="bar"><title>{escape(label)}: {value:,.1f} {escape(unit)}</title></rect>'
        )
        if second:
            h2 = plot_h * second[i] / top
            parts.append(
                f'<rect x="{x + slot * 0.1 + w:.1f}" y="{TOP + plot_h - h2:.1f}" width="{slot * 0.3:.1f}" '
                f'height="{h2:.1f}" class="bar second"><title>{escape(label)}: {second[i]:,.1f} '
                f"{escape(unit)} {escape(second_label)}</title></rect>"
            )
        if i % every == 0:
            parts.append(
                f'<text x="{x + slot / 2:.1f}" y="{HEIGHT - 8}" class="axis" text-anchor="middle">'
                f"{escape(label)}</text>"
            )
    parts.append("</svg>")
    return Markup("".join(parts))
