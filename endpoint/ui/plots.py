"""Line charts as inline SVG, drawn on the server: curves readable without JavaScript and
without a chart library.

>>> svg = line_chart("loss", {"run a": [(0, 1.0), (1, 0.5)], "run b": [(0, 0.8), (1, 0.7)]})
>>> svg.startswith("<svg") and svg.count("<polyline") == 2
True
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping, Sequence
from html import escape

from markupsafe import Markup

__all__ = ["PALETTE", "line_chart"]

#: one colour per series (colour-blind-safe Okabe–Ito order)
PALETTE = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#f0e442", "#000000")


#: the largest double: MLflow keeps an infinity as it, so it is drawn as one (not at all)
_HUGE = sys.float_info.max


def line_chart(
    title: str,
    series: Mapping[str, Sequence[tuple[float, float]]],
    *,
    width: int = 520,
    height: int = 260,
    x_label: str = "epoch",
    colours: Mapping[str, str] | None = None,
) -> Markup:
    """An SVG line chart of ``series`` (name → ``(x, y)`` points), with axes, ticks and a legend.

    :param title: the chart's title (also its accessible name).
    :param series: the curves; a one-point series is drawn as a dot. Points that are NaN or
        infinite (a diverged loss) are not drawn; the title says how many.
    :param width: width in pixels; ``height`` likewise.
    :param x_label: the x axis title.
    :param colours: a colour per series name (so that a run keeps its colour across charts);
        else :data:`PALETTE` in order.
    """
    left, right, top, bottom = 56, 12, 28, 40
    given = series
    series = {name: [(x, y) for x, y in pts if abs(x) < _HUGE and abs(y) < _HUGE]  # (not NaN)
              for name, pts in given.items()}
    hidden = sum(len(pts) for pts in given.values()) - sum(len(pts) for pts in series.values())
    if hidden:  # (a NaN or infinity made the chart's scale raise: a 500 for the whole page)
        title = f"{title} ({hidden} NaN or infinite {'value' if hidden == 1 else 'values'} not drawn)"
    legend = _legend_rows(list(series), width - left - right)
    height += 16 * len(legend)
    points = [p for pts in series.values() for p in pts]
    if not points:
        return Markup(f'<svg class="chart" role="img" aria-label="{escape(title)}" width="{width}" '
                      f'height="40"><text x="0" y="20">{escape(title)}: no values</text></svg>')
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, x1 = _span(min(xs), max(xs))
    y0, y1 = _span(min(ys), max(ys))
    pw, ph = width - left - right, height - top - bottom - 16 * len(legend)

    def sx(x: float) -> float:  # (halves: a span of ±1e308 is past the largest double)
        return left + (x / 2 - x0 / 2) / (x1 / 2 - x0 / 2) * pw

    def sy(y: float) -> float:
        return top + ph - (y / 2 - y0 / 2) / (y1 / 2 - y0 / 2) * ph

    out = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" role="img" '
           f'aria-label="{escape(title)}" viewBox="0 0 {width} {height}" width="{width}" height="{height}">',
           f'<title>{escape(title)}</title>',
           f'<text class="chart-title" x="{left}" y="18" font-weight="600">{escape(title)}</text>',
           f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="#fafbfc" stroke="#d8dee4"/>']
    for t in _ticks(y0, y1):
        y = sy(t)
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eef1f4"/>'
                   f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{_fmt(t)}</text>')
    for t in _ticks(x0, x1):
        x = sx(t)
        out.append(f'<text x="{x:.1f}" y="{top + ph + 16}" text-anchor="middle" font-size="11">{_fmt(t)}</text>')
    out.append(f'<text x="{left + pw / 2:.1f}" y="{top + ph + 32}" text-anchor="middle" font-size="11" '
               f'fill="#5b6773">{escape(x_label)}</text>')
    colour_of = {name: (colours or {}).get(name) or PALETTE[i % len(PALETTE)]
                 for i, name in enumerate(series)}
    for name, pts in series.items():
        colour = colour_of[name]
        coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
        out.append(f'<g class="series" data-series="{escape(name)}">')
        if len(pts) > 1:
            out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{coords}"/>')
        for x, y in pts:
            out.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{colour}">'
                       f'<title>{escape(name)}: {_fmt(x)} → {y:g}</title></circle>')
        out.append("</g>")
    for row, names in enumerate(legend):
        ly, lx = top + ph + 50 + 16 * row, left
        for name in names:
            out.append(f'<rect x="{lx}" y="{ly - 9}" width="10" height="10" fill="{colour_of[name]}"/>'
                       f'<text x="{lx + 14}" y="{ly}" font-size="11">{escape(name)}</text>')
            lx += _text_width(name) + 28
    out.append("</svg>")
    return Markup("".join(out))


def _text_width(text: str) -> int:
    return int(6.2 * len(text))


def _legend_rows(names: list[str], width: int) -> list[list[str]]:
    """The legend's entries, in rows that fit ``width``."""
    rows: list[list[str]] = [[]]
    used = 0
    for name in names:
        need = _text_width(name) + 28
        if rows[-1] and used + need > width:
            rows.append([])
            used = 0
        rows[-1].append(name)
        used += need
    return rows


def _span(low: float, high: float) -> tuple[float, float]:
    """The axis's ends: ``low`` to ``high`` with a margin, never past the largest double
    (values near it, as MLflow keeps an infinity, overflowed the margin), and never of no width
    at the half scale the chart draws in (``0`` and ``5e-324``: the margin underflowed to 0 and
    drawing divided by zero, a 500)."""
    pad = (high / 2 - low / 2) * 0.1  # (halves: no overflow)
    if not pad > 0:  # one value, or values a double cannot tell apart at half scale
        pad = max(abs(low), abs(high)) * 0.1
        if not (high + pad) / 2 - (low - pad) / 2 > 0:
            pad = 1.0
    pad = min(pad, _HUGE - max(abs(low), abs(high)))  # > 0: drawn values are below _HUGE
    return low - pad, high + pad


#: the most ticks an axis gets (a step is at least a fifth of the span: 7 at most, by construction)
_MOST_TICKS = 12


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round values on the axis from ``low`` to ``high``: the multiples of a step of 1, 2 or 5
    times a power of ten, at least ``(high - low) / count``. Counted by index, not by adding
    the step until past ``high``: a loop bounded by ``high + 1e-12`` ran ``1e-12 / step`` times
    for values far below 1e-12 (a loss of 1e-19 took the server past 3 GB on one request: a
    hostile probe, thirty-first session)."""
    raw = (high - low) / count
    if not math.isfinite(raw) or raw <= 0:  # a span past the largest double: its ends only
        return [low, high]
    step = 10 ** math.floor(math.log10(raw))
    for mult in (1, 2, 5, 10):
        if raw <= step * mult:
            step *= mult
            break
    if not step > 0:  # (a span of a few subnormals: 10 ** -324 is 0)
        return [low, high]
    first, last = math.ceil(low / step), math.floor(high / step)
    return [float(i * step) for i in range(first, min(last, first + _MOST_TICKS - 1) + 1)]


def _fmt(value: float) -> str:
    return f"{value:.4g}"
