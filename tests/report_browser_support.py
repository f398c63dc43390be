"""Reading the report in headless Chromium, and the numbers it must show.

Playwright, not a hand-written DevTools client: it is a maintained driver that reports
uncaught errors (``pageerror``), console errors (a Content-Security-Policy refusal shows
up there) and every request the page makes, and takes the screenshot, over one
connection it manages itself. It drives the system's /usr/bin/chromium; its own browser
download cannot work here.

Expected numbers come from the emulator's raw rows through tests/dbt_expected.py, never
from the report's own code.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import sync_playwright

from scripts.report import CHROMIUM, CHROMIUM_ARGS, Marts
from tests import dbt_expected as ex
from tests.conftest import STREAMS, today
from tests.emulator import Emulator

#: Per column: decimals shown, and the scale the page shows it at (percentages x 100).
SHOWN: dict[str, tuple[int, int]] = {
    **{name: (0, 1) for name in (*ex.COUNTS, "days_in_period", "returning_users_max_daily")},
    **{name: (1, 100) for name in ("feedback_positive_share", "handover_request_rate")},
    "handover_fulfilment_rate": (1, 100),
    "csat_avg": (2, 1),
    "ai_quality_avg": (3, 1),
    "errors_per_1k_messages": (2, 1),
    "returning_users_avg_daily": (0, 1),
}
HEADLINE = (
    "chats",
    "inbound_messages",
    "returning_users_avg_daily",
    "feedback_positive_share",
    "handover_request_rate",
    "handover_fulfilment_rate",
    "csat_avg",
    "ai_quality_avg",
    "errors_per_1k_messages",
)
SHARES = {"feedback_positive_share", "handover_request_rate", "handover_fulfilment_rate"}

#: Every figure of the detail tables, with where it sits, read from the rendered DOM.
_READ_FIGURES = """() => [...document.querySelectorAll("table.periods [data-col]")].map((el) => {
  const table = el.closest("table");
  return {project: table.dataset.project, grain: table.dataset.grain,
          start: el.closest("tr").dataset.start, col: el.dataset.col,
          value: el.dataset.value, text: el.closest("td").textContent.trim()};
})"""
#: The headline: per grain and KPI, the value, its change and the change's direction.
_READ_CARDS = """() => [...document.querySelectorAll("section.headline .card")].map((card) => {
  const chg = card.querySelector(".chg");
  return {grain: card.closest("section").dataset.grain, kpi: card.dataset.kpi,
          value: card.querySelector(".now .v").dataset.value,
          text: card.querySelector(".now").textContent.trim(),
          direction: chg.dataset.direction,
          pct: chg.querySelector(".pct") ? chg.querySelector(".pct").textContent : null,
          points: chg.querySelector(".pt") ? chg.querySelector(".pt").textContent : null};
})"""
#: The comparison tables: per grain, workspace (or "" for the total) and KPI.
_READ_COMPARE = """() => [...document.querySelectorAll("table.compare tbody tr")].flatMap((tr) =>
  [...tr.querySelectorAll(".v")].map((v) => {
    const chg = v.closest("td").querySelector(".chg");
    return {grain: tr.closest("table").dataset.grain, last: tr.closest("table").dataset.lastStart,
            project: tr.dataset.project, total: tr.classList.contains("total"),
            kpi: v.dataset.col, value: v.dataset.value, direction: chg.dataset.direction,
            pct: chg.querySelector(".pct") ? chg.querySelector(".pct").textContent : null};
  }))"""


def require_chromium() -> None:
    if Path(CHROMIUM).exists():
        return
    if os.environ.get("TAP_INDIGO_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{CHROMIUM} is missing (TAP_INDIGO_REQUIRE_BROWSER=1)")
    pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium")


def load_page(
    html: Path,
    screenshot: Path,
    *,
    width: int = 1280,
    height: int = 900,
    javascript: bool = True,
    script: str | None = None,
) -> dict[str, Any]:
    """Open ``html`` in headless Chromium; what it requested, threw and shows (and what
    ``script``, evaluated in the page, returned)."""
    require_chromium()
    seen: dict[str, Any] = {"requests": [], "errors": [], "console": []}
    with sync_playwright() as pw, tempfile.TemporaryDirectory() as profile:
        context = pw.chromium.launch_persistent_context(
            profile,  # a fresh profile every time
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": width, "height": height},
            java_script_enabled=javascript,
        )
        try:
            page = context.new_page()
            page.on("request", lambda request: seen["requests"].append(request.url))
            page.on("pageerror", lambda error: seen["errors"].append(str(error)))
            page.on(
                "console",
                lambda msg: seen["console"].append(msg.text) if msg.type == "error" else None,
            )
            page.goto(html.as_uri(), wait_until="load")
            seen["figures"] = page.evaluate(_READ_FIGURES)
            seen["cards"] = page.evaluate(_READ_CARDS)
            seen["compare"] = page.evaluate(_READ_COMPARE)
            if script:
                seen["script"] = page.evaluate(script)
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            context.close()
    return seen


def number(text: str) -> float:
    """A figure as the page writes it: thousands commas, a real minus, % or pt."""
    cleaned = text.replace(",", "").replace("\u2212", "-").replace("(", "").replace(")", "")
    return float(cleaned.replace("%", "").replace("pt", "").strip())


def same(data_value: str, expected: float | None) -> bool:
    """A ``data-value`` equals the mart's value (Python's repr of a float round-trips)."""
    return data_value == "null" if expected is None else float(data_value) == expected


def check_shown(col: str, value: float | None, text: str) -> None:
    """The displayed text is ``value`` at the page's precision."""
    if value is None:
        assert text.startswith("\u2013"), (col, text)  # an en dash, and why
        return
    decimals, scale = SHOWN[col]
    shown = number(text.split(" partial")[0])
    assert abs(shown - value * scale) <= 0.5 * 10**-decimals + 1e-9, (col, value, text)


def iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


def check_figures(seen: dict[str, Any], marts: Marts) -> int:
    """Every period row's figures equal the marts, the page asked for nothing and threw
    nothing; the number of figures checked."""
    assert not seen["errors"], f"uncaught JavaScript errors: {seen['errors']}"
    assert not seen["console"], f"console errors: {seen['console']}"
    others = [url for url in seen["requests"] if not url.startswith("file://")]
    assert others == [], f"the page made network requests: {others}"
    assert len([url for url in seen["requests"] if url.startswith("file://")]) == 1
    checked = 0
    for grain, rows in (("week", marts.weekly), ("month", marts.monthly)):
        for row in rows:
            start = iso(row["period_start"])
            shown = {
                f["col"]: f
                for f in seen["figures"]
                if f["grain"] == grain and f["project"] == row["project_id"] and f["start"] == start
            }
            assert set(shown) == {"period_start", *SHOWN}, (grain, start, sorted(shown))
            partial = "partial" in shown["period_start"]["text"]
            assert partial is not row["is_complete_period"], (grain, start)
            for col in SHOWN:
                assert same(shown[col]["value"], row[col]), (grain, start, col, row[col])
                check_shown(col, row[col], shown[col]["text"])
                checked += 1
    return checked


def assert_not_blank(png: Path) -> None:
    """Enough pixels away from the background, in enough colours, to be a drawn page."""
    image = Image.open(io.BytesIO(png.read_bytes())).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 24) or []
    background = max(count for count, _ in colours)
    share = 1 - background / (image.width * image.height)
    assert share > 0.2, f"screenshot nearly blank ({share:.1%} drawn)"
    assert len(colours) > 100, "screenshot has too few colours to hold charts"


# -- the data -------------------------------------------------------------------------


def raw_rows(starts: dict[str, dt.date]) -> dict[str, dict[ex.Key, dict[str, Any]]]:
    """The emulator's rows of every stream, each workspace from its first day to today."""
    emulator = Emulator({p: f"token{p}Secret000{i}" for i, p in enumerate(starts)})
    raw: dict[str, dict[ex.Key, dict[str, Any]]] = {stream: {} for stream in STREAMS}
    loaded = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)  # all read just now
    for project_id, first in starts.items():
        for stream in STREAMS:
            for row in emulator.expected_rows(project_id, stream, first, today()):
                key = (project_id, dt.date.fromisoformat(row["date"]))
                raw[stream][key] = {**row, ex.EXTRACTED_AT: loaded}
    return raw


def marts_of(raw: dict[str, dict[ex.Key, dict[str, Any]]]) -> Marts:
    """The three marts computed in plain Python (tests/dbt_expected.py), as the report
    reads them from a database."""
    daily = ex.daily_kpis(raw)

    def rows(mart: dict[ex.Key, dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: iso(v) for k, v in mart[key].items()} for key in sorted(mart)]

    return Marts(
        daily=rows(daily),
        weekly=rows(ex.period_kpis(daily, raw, "week")),
        monthly=rows(ex.period_kpis(daily, raw, "month")),
        source="tests/report_browser_support.py",
    )


def emulator_marts() -> Marts:
    """A full workspace and one that starts on a Wednesday three weeks ago (its first
    week and month partial), today partial."""
    wednesday = ex.week_start(today()) - dt.timedelta(days=19)
    return marts_of(raw_rows({"ws-alpha": today() - dt.timedelta(days=120), "ws-beta": wednesday}))


def one_workspace(days: int = 150) -> Marts:
    """One workspace read from ``days`` days ago to today."""
    return marts_of(raw_rows({"ws-one": today() - dt.timedelta(days=days)}))


def last_complete(rows: list[dict[str, Any]]) -> str:
    return str(max(r["period_start"] for r in rows if r["is_complete_period"]))


def before(grain: str, start: str) -> str:
    day = dt.date.fromisoformat(start)
    if grain == "week":
        return (day - dt.timedelta(days=7)).isoformat()
    return (day - dt.timedelta(days=1)).replace(day=1).isoformat()


def pct_text(after: float, previous: float) -> str:
    return f"{100 * (after - previous) / abs(previous):+.1f} %".replace("-", "\u2212")
