"""Small inline SVG charts rendered on the server (no JavaScript, no CDN).

Every label that may come from a device is escaped; the result is ``Markup`` for templates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from markupsafe import Markup, escape

PALETTE = (
    "#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed",
    "#0891b2", "#db2777", "#65a30d", "#ea580c", "#475569",
)  # fmt: skip
STATE_COLORS = {"pending": "#94a3b8", "confirmed": "#16a34a", "rejected": "#dc2626"}


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def bar_chart(
    data: Sequence[tuple[str, float]],
    title: str,
    *,
    width: int = 520,
    colors: Sequence[str] | None = None,
    mark: float | None = None,
    mark_label: str = "",
) -> Markup:
    """Horizontal bars, one per (label, value), values written at the bar ends.

    ``mark`` draws a dashed vertical line (e.g. the target per class).
    """
    if not data:
        return _empty(title, width)
    row, right = 26, 60
    left = _label_room(len(label) for label, _ in data)
    width += left - LABEL_ROOM
    height = row * len(data) + 36
    top = max([v for _, v in data] + [mark or 0, 1])
    scale = (width - left - right) / top
    parts = [_open(title, width, height)]
    for i, (label, value) in enumerate(data):
        y = 28 + i * row
        color = (colors or PALETTE)[i % len(colors or PALETTE)]
        w = max(value * scale, 1 if value else 0)
        parts.append(
            f'<text x="{left - 8}" y="{y + 13}" text-anchor="end" class="lbl">'
            f"{escape(_short(label, LABEL_CHARS))}<title>{escape(label)}</title></text>"
            f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{row - 8}" rx="3" fill="{color}">'
            f"<title>{escape(label)}: {_fmt(value)}</title></rect>"
            f'<text x="{left + w + 6:.1f}" y="{y + 13}" class="val">{_fmt(value)}</text>'
        )
    if mark:
        x = left + mark * scale
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="22" y2="{height - 4}" class="mark"/>'
            f'<text x="{x - 4:.1f}" y="{height - 6}" text-anchor="end" class="note">'
            f"{escape(mark_label)}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def column_chart(
    data: Sequence[tuple[str, float]],
    title: str,
    *,
    width: int = 520,
    height: int = 200,
    color: str = "#2563eb",
    x_label: str = "",
    y_label: str = "",
    every: int = 1,
) -> Markup:
    """Vertical columns (histograms, counts per day); every ``every``-th x label is written."""
    if not data:
        return _empty(title, width)
    left, bottom, top_pad = 46, 40, 28
    plot_h = height - bottom - top_pad
    top = max(max(v for _, v in data), 1)
    # Columns stay narrow when there are few of them (one day of data is not a wall of blue).
    step = min((width - left - 10) / len(data), 48.0)
    parts = [_open(title, width, height)]
    parts += _grid(left, width - 10, top_pad, plot_h, lambda f: _fmt(round(top * f)))
    for i, (label, value) in enumerate(data):
        h = plot_h * value / top
        x = left + i * step
        parts.append(
            f'<rect x="{x + 1:.1f}" y="{top_pad + plot_h - h:.1f}" width="{max(step - 2, 1):.1f}" '
            f'height="{h:.1f}" fill="{color}"><title>{escape(label)}: {_fmt(value)}</title></rect>'
        )
        if i % every == 0:
            parts.append(
                f'<text x="{x + step / 2:.1f}" y="{height - bottom + 14}" text-anchor="middle" '
                f'class="tick">{escape(label)}</text>'
            )
    if x_label:
        parts.append(
            f'<text x="{(width + left) / 2:.0f}" y="{height - 6}" text-anchor="middle" '
            f'class="axis">{escape(x_label)}</text>'
        )
    if y_label:
        parts.append(
            f'<text x="12" y="{top_pad + plot_h / 2:.0f}" text-anchor="middle" class="axis" '
            f'transform="rotate(-90 12 {top_pad + plot_h / 2:.0f})">{escape(y_label)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def stacked_bar_chart(
    rows: Sequence[tuple[str, dict[str, int]]],
    keys: Sequence[str],
    title: str,
    *,
    width: int = 520,
    colors: dict[str, str] | None = None,
) -> Markup:
    """Horizontal stacked bars (e.g. samples per device split by state) with a legend."""
    if not rows:
        return _empty(title, width)
    colors = colors or STATE_COLORS
    shown = LABEL_CHARS
    row, right = 26, 60
    left = _label_room(len(label) for label, _ in rows)
    width += left - LABEL_ROOM
    height = row * len(rows) + 58
    top = max(max(sum(parts.values()) for _, parts in rows), 1)
    scale = (width - left - right) / top
    out = [_open(title, width, height)]
    for i, (label, counts) in enumerate(rows):
        y, x = 28 + i * row, float(left)
        text = escape(_short(label, shown))
        out.append(
            f'<text x="{left - 8}" y="{y + 13}" text-anchor="end" class="lbl">{text}'
            f"<title>{escape(label)}</title></text>"
        )
        for key in keys:
            w = counts.get(key, 0) * scale
            if w:
                out.append(
                    f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row - 8}" '
                    f'fill="{colors.get(key, "#64748b")}"><title>{escape(label)} {escape(key)}: '
                    f"{counts.get(key, 0):,}</title></rect>"
                )
            x += w
        out.append(
            f'<text x="{x + 6:.1f}" y="{y + 13}" class="val">{sum(counts.values()):,}</text>'
        )
    lx = left
    for key in keys:
        out.append(
            f'<rect x="{lx}" y="{height - 20}" width="10" height="10" '
            f'fill="{colors.get(key, "#64748b")}"/>'
            f'<text x="{lx + 14}" y="{height - 11}" class="tick">{escape(key)}</text>'
        )
        lx += 24 + 7 * len(key)
    out.append("</svg>")
    return Markup("".join(out))


LABEL_ROOM = 110  # px left of the bars, enough for class names
LABEL_CHARS = 32  # longer labels are shortened with an ellipsis (full text on hover)


SERIES_COLORS = ("#2563eb", "#dc2626", "#16a34a", "#7c3aed", "#ea580c", "#0891b2", "#be185d")


def line_chart(
    series: dict[str, list[tuple[str, float, int]]],
    title: str,
    *,
    width: int = 720,
    height: int = 240,
) -> Markup:
    """Lines of a fraction (0-1) over ordered x labels, one per series, with a legend; each
    point is ``(x label, value, count)`` and its tooltip gives the count."""
    if not series:
        return _empty(title, width)
    xs = sorted({x for points in series.values() for x, _, _ in points})
    left, right, bottom, top_pad = 46, 170, 40, 28
    plot_w, plot_h = width - left - right, height - bottom - top_pad
    step = plot_w / max(len(xs) - 1, 1)
    where = {x: left + (i * step if len(xs) > 1 else plot_w / 2) for i, x in enumerate(xs)}
    parts = [_open(title, width, height)]
    parts += _grid(left, left + plot_w, top_pad, plot_h, lambda f: f"{f * 100:.0f}%")
    every = max(1, len(xs) // 8)
    for i, x in enumerate(xs):
        if i % every == 0:
            parts.append(
                f'<text x="{where[x]:.1f}" y="{height - bottom + 14}" text-anchor="middle" '
                f'class="tick">{escape(x[5:] if len(x) == 10 else x)}</text>'
            )
    for k, (name, points) in enumerate(sorted(series.items())):
        color = SERIES_COLORS[k % len(SERIES_COLORS)]
        coords = [(where[x], top_pad + plot_h * (1 - v), x, v, n) for x, v, n in sorted(points)]
        if len(coords) > 1:
            path = " ".join(f"{cx:.1f},{cy:.1f}" for cx, cy, *_ in coords)
            parts.append(
                f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>'
            )
        for cx, cy, x, v, n in coords:
            parts.append(
                f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="3.5" fill="{color}"><title>'
                f"{escape(name)} {escape(x)}: {v * 100:.0f}% of {n:,}</title></circle>"
            )
        ly = top_pad + 8 + k * 18
        parts.append(
            f'<rect x="{left + plot_w + 14}" y="{ly - 8}" width="10" height="10" fill="{color}"/>'
            f'<text x="{left + plot_w + 30}" y="{ly + 1}" class="tick">'
            f"{escape(_short(name, 20))}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def _grid(
    left: float, right: float, top_pad: float, plot_h: float, tick: Callable[[float], str]
) -> list[str]:
    """Horizontal grid lines at 0, half and full height with their tick labels."""
    out = []
    for frac in (0.0, 0.5, 1.0):
        y = top_pad + plot_h * (1 - frac)
        out.append(
            f'<line x1="{left}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">'
            f"{escape(tick(frac))}</text>"
        )
    return out


def _label_room(lengths: Iterable[int]) -> int:
    """Pixels for the longest label (about 7 px a character at the label size)."""
    return max(LABEL_ROOM, 16 + 7 * min(max(lengths, default=0), LABEL_CHARS))


def _short(label: str, most: int) -> str:
    return label if len(label) <= most else label[: most - 1] + "…"


def _open(title: str, width: int, height: int) -> str:
    return (
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">'
        f'<text x="0" y="14" class="title">{escape(title)}</text>'
    )


def _empty(title: str, width: int) -> Markup:
    return Markup(
        _open(title, width, 60) + '<text x="0" y="44" class="note">no data yet</text></svg>'
    )
