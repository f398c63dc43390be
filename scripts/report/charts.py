"""The charts, drawn by matplotlib's SVG backend into inline ``<svg>`` elements.

matplotlib, not hand-drawn SVG: its axes, date ticks, twin scales and hatch patterns are
maintained and tested, and its SVG backend writes text as ``<text>`` (``svg.fonttype``
'none'), so labels stay crisp, searchable and measurable in a browser.

Charts are drawn at the width a phone shows them (360 user units, text 11 units), so at
390 px their text is still about 10 px; a desktop shows them a little larger.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib
from matplotlib.dates import MonthLocator, date2num, num2date
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator
from matplotlib.typing import RcKeyType

from scripts.report.kpis import Grain, Kpi, Row, parse

#: One colour per workspace (colour-blind-safe, after Okabe and Ito), in page order.
PALETTE = ("#3557d4", "#d55e00", "#009e73", "#cc79a7", "#0072b2", "#e69f00", "#56b4e9")
PARTIAL_COLOUR = "#b7791f"
GRID = "#e4e7ec"
MUTED = "#667085"
FONT = 11  # user units = px at the chart's own width
WIDTH_IN, HEIGHT_IN = 5.0, 2.5  # 360 x 180 user units (matplotlib writes 72 per inch)
_RC: dict[RcKeyType, Any] = {
    "svg.fonttype": "none",
    "svg.hashsalt": "indigo-report",  # ids stable from run to run
    "font.family": "DejaVu Sans",
    "font.size": FONT,
    "axes.edgecolor": GRID,
    "axes.labelcolor": MUTED,
    "xtick.color": MUTED,
    "ytick.color": MUTED,
    "xtick.labelsize": FONT,
    "ytick.labelsize": FONT,
    "hatch.linewidth": 1.2,
}


def _x(grain: Grain, start: str) -> dt.datetime:
    """Where a period sits on the time axis: its middle."""
    first = parse(start)
    days = 7 if grain == "week" else _month_days(first)
    return dt.datetime.combine(first, dt.time()) + dt.timedelta(days=days / 2)


def _month_days(first: dt.date) -> int:
    following = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return (following - first).days


def _span(grain: Grain, start: str) -> tuple[float, float]:
    first = parse(start)
    days = 7 if grain == "week" else _month_days(first)
    return float(date2num(first)), float(date2num(first + dt.timedelta(days=days)))


def nice_limits(values: Sequence[float], kpi: Kpi) -> tuple[float, float]:
    """Round axis limits around ``values`` (the complete periods' values only)."""
    low, high = min(values), max(values)
    if kpi.zero_based:
        low = 0.0
    else:  # a score near 4: show its movement, with some room around it
        room = max((high - low) * 0.25, abs(high) * 0.02, 1e-6)
        low, high = low - room, high + room
        if kpi.kind == "share":
            low, high = max(0.0, low), min(1.0, high)
    if high <= low:
        high = low + (abs(low) or 1.0)
    ticks = MaxNLocator(nbins=4, steps=[1, 2, 2.5, 5, 10]).tick_values(low, high)
    below = [t for t in ticks if t <= low + 1e-12]
    above = [t for t in ticks if t >= high - 1e-12]
    return float(below[-1] if below else ticks[0]), float(above[0] if above else ticks[-1])


def _y_label(kpi: Kpi) -> FuncFormatter:
    def label(value: float, _position: int) -> str:
        if kpi.kind == "share":
            digits = 0 if abs(100 * value - round(100 * value)) < 1e-6 else 1
            return f"{100 * value:.{digits}f} %"
        if abs(value) >= 10_000:
            return f"{value / 1000:.0f}k"
        if abs(value) >= 1000:
            return f"{value / 1000:.1f}k".replace(".0k", "k")
        return f"{value:.{_decimals(value)}f}".replace("-", "\u2212")

    return FuncFormatter(label)


def _decimals(value: float) -> int:
    for digits in range(4):
        if abs(value - round(value, digits)) < 1e-9:
            return digits
    return 3


def _x_axis(axes: Any, first: dt.date, last: dt.date) -> None:
    """Month ticks; the first and every January say the year."""
    months = (last.year - first.year) * 12 + last.month - first.month + 1
    interval = next(n for n in (1, 2, 3, 4, 6, 12, 24) if months / n <= 5)
    axes.xaxis.set_major_locator(MonthLocator(bymonth=range(1, 13, min(interval, 12))))
    if interval > 12:
        axes.xaxis.set_major_locator(MonthLocator(bymonth=[1], interval=interval // 12))
    seen: list[int] = []

    def label(value: float, position: int | None) -> str:
        date = num2date(value)
        text = f"{date:%b}"
        if position == 0 or date.month == 1 or not seen:
            text += f" {date.year}"
        seen.append(date.year)
        return text

    axes.xaxis.set_major_formatter(FuncFormatter(label))


def trend(
    kpi: Kpi,
    grain: Grain,
    series: Mapping[str, Sequence[Row]],
    colours: Mapping[str, str],
    chart_id: str,
    extra: Mapping[str, tuple[str, str]] | None = None,
) -> str:
    """One KPI over time, one line per workspace: complete periods joined by a line, a
    period still partial hatched and drawn as a hollow point, never setting the axis (a
    value beyond it is pinned to its edge with an arrow and its number).

    ``extra`` adds dotted lines of other columns: column -> (legend text, colour).
    """
    with matplotlib.rc_context(_RC):
        figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN), layout="constrained")
        axes = figure.add_subplot()
        lines = [(p, kpi.column, colours[p], "-") for p in series]
        for column, (_label, colour) in (extra or {}).items():
            lines += [(p, column, colour, ":") for p in series]
        complete = [
            r[column]
            for project_id, column, *_ in lines
            for r in series[project_id]
            if r["is_complete_period"] and r[column] is not None
        ]
        everything = [r[c] for p, c, *_ in lines for r in series[p] if r[c] is not None]
        low, high = nice_limits(complete or everything or [0.0, 1.0], kpi)
        partial_starts = sorted(
            {
                r["period_start"]
                for rows in series.values()
                for r in rows
                if not r["is_complete_period"]
            }
        )
        for start in partial_starts:
            left, right = _span(grain, start)
            axes.axvspan(
                left, right, facecolor="none", edgecolor=PARTIAL_COLOUR, hatch="///",
                linewidth=0, gid=f"partial-{start}",
            )  # fmt: skip
        for project_id, column, colour, style in lines:
            _draw_line(axes, grain, series[project_id], column, colour, style, (low, high))
        axes.set_ylim(low, high)
        starts = [parse(r["period_start"]) for rows in series.values() for r in rows]
        first, last = min(starts), max(starts)
        # Half a day short of the end, so the next month's first tick stays off the axis.
        axes.set_xlim(_span(grain, first.isoformat())[0], _span(grain, last.isoformat())[1] - 0.5)
        _x_axis(axes, first, last)
        axes.yaxis.set_major_formatter(_y_label(kpi))
        axes.yaxis.set_major_locator(MaxNLocator(nbins=4, steps=[1, 2, 2.5, 5, 10]))
        axes.yaxis.set_gid("yaxis")
        axes.xaxis.set_gid("xaxis")
        axes.grid(axis="y", color=GRID, linewidth=0.8)
        axes.set_axisbelow(True)
        for side in ("top", "right"):
            axes.spines[side].set_visible(False)
        axes.tick_params(length=0, pad=4)
        return _svg(figure, chart_id)


def _draw_line(
    axes: Any,
    grain: Grain,
    rows: Sequence[Row],
    column: str,
    colour: str,
    style: str,
    limits: tuple[float, float],
) -> None:
    xs = [_x(grain, r["period_start"]) for r in rows]
    # A gap (NaN) wherever the period is partial or has no value: the line never runs
    # into a period that is still filling up.
    ys = [
        r[column] if r["is_complete_period"] and r[column] is not None else math.nan for r in rows
    ]
    marker = "o" if grain == "month" else None
    axes.plot(xs, ys, color=colour, linestyle=style, linewidth=1.8, marker=marker,
              markersize=3.5, gid=f"line-{column}")  # fmt: skip
    low, high = limits
    for x, row in zip(xs, rows, strict=True):
        value = row[column]
        if row["is_complete_period"] or value is None or style != "-":
            continue
        shown = min(max(value, low), high)
        beyond = "^" if value > high else "v" if value < low else "o"
        axes.plot([x], [shown], marker=beyond, markersize=6, markerfacecolor="white",
                  markeredgecolor=colour, markeredgewidth=1.6, clip_on=False,
                  gid=f"partial-point-{row['period_start']}")  # fmt: skip
        if beyond != "o":
            axes.annotate(
                _y_label_value(value), (x, shown), xytext=(-4, -14 if value > high else 6),
                textcoords="offset points", ha="right", fontsize=FONT, color=colour,
            )  # fmt: skip


def _y_label_value(value: float) -> str:
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def sparkline(values: Sequence[float | None], colour: str, chart_id: str) -> str:
    """The last periods of one KPI as a line without axes; the last point marked."""
    with matplotlib.rc_context(_RC):
        figure = Figure(figsize=(1.6, 0.42))
        axes = figure.add_axes((0.02, 0.12, 0.96, 0.76))
        axes.set_axis_off()
        ys = [math.nan if v is None else v for v in values]
        axes.plot(range(len(ys)), ys, color=MUTED, linewidth=1.3)
        if ys and not math.isnan(ys[-1]):
            axes.plot([len(ys) - 1], [ys[-1]], marker="o", markersize=3.5, color=colour)
        axes.margins(x=0.02, y=0.15)
        return _svg(figure, chart_id)


def _svg(figure: Figure, chart_id: str) -> str:
    """The figure as an inline ``<svg>``: no XML prolog, sized by CSS, ids made unique
    to this chart (several charts share one page)."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)
    # Its global `*{stroke-...}` rule would style the whole page: the page's CSS has it
    # for charts alone.
    text = re.sub(r"<style[^>]*>.*?</style>", "", text, flags=re.S)
    text = re.sub(r'\s(width|height)="[\d.]+pt"', "", text, count=2)
    text = re.sub(r'\bid="([^"]+)"', rf'id="{chart_id}-\1"', text)
    text = re.sub(r"url\(#([^)]+)\)", rf"url(#{chart_id}-\1)", text)
    text = re.sub(r'xlink:href="#([^"]+)"', rf'xlink:href="#{chart_id}-\1"', text)
    text = text.replace(
        "font-family: 'DejaVu Sans'", "font-family: 'DejaVu Sans', Verdana, sans-serif"
    )
    return text.replace("<svg ", '<svg class="chart" aria-hidden="true" ', 1)
