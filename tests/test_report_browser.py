"""The report in a real headless browser (Debian's Chromium, driven by Playwright).

Playwright, not a hand-written DevTools client: it is a maintained driver that reports
uncaught errors (``pageerror``), console errors (a Content-Security-Policy refusal shows
up there) and every request the page makes, and takes the screenshot, over one
connection it manages itself. It drives the system's /usr/bin/chromium; its own browser
download cannot work here. Without Chromium the tests skip, unless
TAP_INDIGO_REQUIRE_BROWSER=1 (CI, whose .ci/run installs it).
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

from scripts.report import CHROMIUM, CHROMIUM_ARGS, Marts, build
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
    "returning_users_avg_daily": (1, 1),
}

#: Every figure on the page, with where it sits, read from the rendered DOM.
_READ_FIGURES = """() => [...document.querySelectorAll("td[data-col]")].map((td) => {
  const row = td.closest("tr"), table = td.closest("table");
  return {project: td.closest("section").dataset.project, grain: table.dataset.grain,
          kind: table.className, start: row.dataset.start || null,
          last: table.dataset.lastStart || null, previous: table.dataset.previousStart || null,
          col: td.dataset.col, role: td.dataset.role || null,
          value: td.dataset.value, text: td.textContent};
})"""


def require_chromium() -> None:
    if Path(CHROMIUM).exists():
        return
    if os.environ.get("TAP_INDIGO_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{CHROMIUM} is missing (TAP_INDIGO_REQUIRE_BROWSER=1)")
    pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium")


def load_page(html: Path, screenshot: Path) -> dict[str, Any]:
    """Open ``html`` in headless Chromium; what it requested, threw and shows."""
    require_chromium()
    seen: dict[str, Any] = {"requests": [], "errors": [], "console": []}
    with sync_playwright() as pw, tempfile.TemporaryDirectory() as profile:
        context = pw.chromium.launch_persistent_context(
            profile,  # a fresh profile every time
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
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
            page.wait_for_selector("body[data-ready='1']", timeout=15_000)
            seen["figures"] = page.evaluate(_READ_FIGURES)
            seen["sections"] = page.eval_on_selector_all(
                "section.workspace", "els => els.map(e => e.dataset.project)"
            )
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            context.close()
    return seen


def as_shown(value: Any) -> Any:
    """A mart value as the page's ``data-value`` holds it."""
    if value is None:
        return "null"
    return value.isoformat() if isinstance(value, dt.date) else value


def same(data_value: str, expected: float | None) -> bool:
    """A ``data-value`` equals the mart's value exactly (JSON numbers round-trip)."""
    return data_value == "null" if expected is None else float(data_value) == expected


def check_shown(col: str, value: float | None, text: str) -> None:
    """The displayed text is ``value`` at the page's precision."""
    if value is None:
        assert text == "\u2013", (col, text)  # an en dash
        return
    decimals, scale = SHOWN[col]
    number = float(text.replace(",", "").replace("%", "").replace("pt", "").strip())
    assert abs(number - value * scale) <= 0.5 * 10**-decimals + 1e-9, (col, value, text)


def check_figures(seen: dict[str, Any], marts: Marts) -> int:
    """Every period row's figures and both comparisons equal the marts; figures checked."""
    assert not seen["errors"], f"uncaught JavaScript errors: {seen['errors']}"
    assert not seen["console"], f"console errors: {seen['console']}"
    others = [url for url in seen["requests"] if not url.startswith("file://")]
    assert others == [], f"the page made network requests: {others}"
    assert len([url for url in seen["requests"] if url.startswith("file://")]) == 1

    projects = sorted({row["project_id"] for row in marts.daily})
    assert sorted(seen["sections"]) == projects
    checked = 0
    for grain, rows in (("week", marts.weekly), ("month", marts.monthly)):
        for row in rows:
            start = as_shown(row["period_start"])
            shown = {
                f["col"]: f
                for f in seen["figures"]
                if f["kind"] == "periods"
                and f["grain"] == grain
                and f["project"] == row["project_id"]
                and f["start"] == start
            }
            assert set(shown) == {"period_start", *SHOWN}, (grain, start, sorted(shown))
            partial = "partial" in shown["period_start"]["text"]
            assert partial is not row["is_complete_period"], (grain, start)
            for col in SHOWN:
                assert same(shown[col]["value"], row[col]), (grain, start, col, row[col])
                check_shown(col, row[col], shown[col]["text"])
                checked += 1
        for project_id in projects:
            checked += check_comparison(
                seen, grain, [r for r in rows if r["project_id"] == project_id]
            )
    return checked


def check_comparison(seen: dict[str, Any], grain: str, rows: list[dict[str, Any]]) -> int:
    """The last complete period against the calendar period before it, with deltas."""
    complete = [r for r in rows if r["is_complete_period"]]
    project_id = rows[0]["project_id"]
    shown = [
        f
        for f in seen["figures"]
        if f["kind"] == "compare" and f["grain"] == grain and f["project"] == project_id
    ]
    if not complete:  # a workspace added this month: nothing to compare yet
        assert shown == [], f"{project_id}: a {grain} comparison without a complete {grain}"
        return 0
    last = max(complete, key=lambda r: r["period_start"])
    start = dt.date.fromisoformat(as_shown(last["period_start"]))
    before = (
        start - dt.timedelta(days=7)
        if grain == "week"
        else (start - dt.timedelta(1)).replace(day=1)
    )
    previous = next((r for r in rows if as_shown(r["period_start"]) == before.isoformat()), None)
    assert shown, f"no {grain} comparison for {project_id}"
    assert {f["last"] for f in shown} == {start.isoformat()}
    assert {f["previous"] for f in shown} == {before.isoformat() if previous else None}
    for f in shown:
        b = last[f["col"]]
        a = previous[f["col"]] if previous else None
        want = {"last": b, "previous": a, "delta": None if a is None or b is None else b - a}
        expected = want[f["role"]]
        assert same(f["value"], expected), f
        check_shown(f["col"], expected, f["text"])
    return len(shown)


def assert_not_blank(png: Path) -> None:
    """Enough pixels away from the background, in enough colours, to be a drawn page."""
    image = Image.open(io.BytesIO(png.read_bytes())).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 24) or []
    background = max(count for count, _ in colours)
    share = 1 - background / (image.width * image.height)
    assert share > 0.2, f"screenshot nearly blank ({share:.1%} drawn)"
    assert len(colours) > 100, "screenshot has too few colours to hold charts"


def emulator_marts() -> Marts:
    """Marts computed from the emulator's rows: a full workspace and one that starts on a
    Wednesday three weeks ago (its first week and month partial), today partial."""
    workspaces = {"ws-alpha": "alphaSecretToken0001", "ws-beta": "betaSecretToken00002"}
    emulator = Emulator(workspaces)  # never started: only its numbers are used
    wednesday = ex.week_start(today()) - dt.timedelta(days=19)
    starts = {"ws-alpha": today() - dt.timedelta(days=120), "ws-beta": wednesday}
    raw: dict[str, dict[ex.Key, dict[str, Any]]] = {stream: {} for stream in STREAMS}
    loaded = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)  # all read just now
    for project_id, first in starts.items():
        for stream in STREAMS:
            for row in emulator.expected_rows(project_id, stream, first, today()):
                key = (project_id, dt.date.fromisoformat(row["date"]))
                raw[stream][key] = {**row, ex.EXTRACTED_AT: loaded}
    daily = ex.daily_kpis(raw)

    def rows(mart: dict[ex.Key, dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {k: as_shown(v) if isinstance(v, dt.date) else v for k, v in mart[key].items()}
            for key in sorted(mart)
        ]

    return Marts(
        daily=rows(daily),
        weekly=rows(ex.period_kpis(daily, raw, "week")),
        monthly=rows(ex.period_kpis(daily, raw, "month")),
        source="tests/test_report_browser.py",
    )


def test_report_in_headless_chromium(tmp_path: Path) -> None:
    marts = emulator_marts()
    html = build(tmp_path / "report.html", marts)
    seen = load_page(html, tmp_path / "report.png")
    checked = check_figures(seen, marts)
    # Every column of every period row, plus 4 comparisons of 8 KPIs x 3 figures but
    # ws-beta's month (it has no complete month yet).
    assert checked == (len(marts.weekly) + len(marts.monthly)) * len(SHOWN) + 3 * 8 * 3
    assert_not_blank(tmp_path / "report.png")
