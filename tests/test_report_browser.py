"""The report in a real headless browser (Debian's Chromium, driven by Playwright).

Playwright, not a hand-written DevTools client: it is a maintained driver that reports
uncaught errors (``pageerror``), console errors (a Content-Security-Policy refusal shows
up there) and every request the page makes, and takes the screenshot, over one
connection it manages itself. It drives the system's /usr/bin/chromium; its own browser
download cannot work here. Without Chromium the tests skip, unless
TAP_INDIGO_REQUIRE_BROWSER=1 (CI, whose .ci/run installs it).

Expected numbers come from the emulator's raw rows through tests/dbt_expected.py and the
sums below, never from the report's own code.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import tempfile
from collections import defaultdict
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
        source="tests/test_report_browser.py",
    )


def emulator_marts() -> Marts:
    """A full workspace and one that starts on a Wednesday three weeks ago (its first
    week and month partial), today partial."""
    wednesday = ex.week_start(today()) - dt.timedelta(days=19)
    return marts_of(raw_rows({"ws-alpha": today() - dt.timedelta(days=120), "ws-beta": wednesday}))


def last_complete(rows: list[dict[str, Any]]) -> str:
    return str(max(r["period_start"] for r in rows if r["is_complete_period"]))


def before(grain: str, start: str) -> str:
    day = dt.date.fromisoformat(start)
    if grain == "week":
        return (day - dt.timedelta(days=7)).isoformat()
    return (day - dt.timedelta(days=1)).replace(day=1).isoformat()


def pct_text(after: float, previous: float) -> str:
    return f"{100 * (after - previous) / abs(previous):+.1f} %".replace("-", "\u2212")


# -- tests ----------------------------------------------------------------------------


def test_report_in_headless_chromium(tmp_path: Path) -> None:
    marts = emulator_marts()
    html = build(tmp_path / "report.html", marts)
    seen = load_page(html, tmp_path / "report.png")
    checked = check_figures(seen, marts)
    assert checked == (len(marts.weekly) + len(marts.monthly)) * len(SHOWN)
    assert_not_blank(tmp_path / "report.png")
    # ws-beta has no complete month yet: the month's total is ws-alpha's alone.
    month = last_complete([r for r in marts.monthly if r["project_id"] == "ws-alpha"])
    alpha = next(
        r for r in marts.monthly if r["project_id"] == "ws-alpha" and r["period_start"] == month
    )
    total = {f["kpi"]: f for f in seen["compare"] if f["grain"] == "month" and f["total"]}
    assert {k: float(total[k]["value"]) for k in HEADLINE} == {k: alpha[k] for k in HEADLINE}


_JS_OFF_CHECK = """() => ({
  charts: [...document.querySelectorAll("section.trends figure")].map((f) => {
    const svg = f.querySelector("svg"), box = svg.getBoundingClientRect();
    return {grain: f.dataset.grain, kpi: f.dataset.kpi, width: box.width, height: box.height,
            paths: svg.querySelectorAll("path").length,
            ticks: [...svg.querySelectorAll("[id$='-xaxis'] text")].map((t) => t.textContent)};
  }),
  headings: [...document.querySelectorAll("section.headline h2")].map((h) => h.textContent),
  compared: [...document.querySelectorAll("[data-role=compared]")].map((p) => p.textContent),
  scripts: document.querySelectorAll("script").length,
  source: document.getElementById("source").textContent,
})"""


def test_without_javascript_every_chart_and_headline_number_is_there(tmp_path: Path) -> None:
    marts = emulator_marts()
    html = build(tmp_path / "report.html", marts)
    seen = load_page(html, tmp_path / "r.png", javascript=False, script=_JS_OFF_CHECK)
    page = seen["script"]
    assert page["scripts"] == 0
    assert sorted((c["grain"], c["kpi"]) for c in page["charts"]) == sorted(
        (g, k) for g in ("week", "month") for k in HEADLINE
    )
    for chart in page["charts"]:
        assert chart["width"] > 300, chart
        assert chart["height"] > 120, chart
        assert chart["paths"] > 5, chart
        # A range of months: the year is on the axis.
        assert any(str(today().year) in t or str(today().year - 1) in t for t in chart["ticks"])
    assert {(c["grain"], c["kpi"]) for c in seen["cards"]} == {
        (g, k) for g in ("week", "month") for k in HEADLINE
    }
    for card in seen["cards"]:
        assert card["value"] != "null" or "\u2013" in card["text"], card
        if card["value"] != "null":
            check_shown(card["kpi"], float(card["value"]), card["text"].split(" ")[0])
    week = last_complete(marts.weekly)
    year = week[:4]
    assert year in page["headings"][0]
    # "Compared with 30 Nov - 6 Dec 2026": a range, with its year.
    assert " \u2013 " in page["compared"][0]
    assert before("week", week)[:4] in page["compared"][0]
    assert "tests/test_report_browser.py" in page["source"]
    assert_not_blank(tmp_path / "r.png")


_PHONE_CHECK = """() => {
  document.querySelectorAll("details").forEach((d) => { d.open = true; });
  const width = document.documentElement.clientWidth, wide = [], small = [], tiny = [];
  for (const el of document.body.querySelectorAll("*")) {
    const box = el.getBoundingClientRect();
    if (box.width && (box.right > width + 0.5 || box.left < -0.5)) {
      wide.push(el.tagName + " " + (el.textContent || "").slice(0, 40));
    }
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own) continue;
    if (el.closest("svg")) {
      if (!(el instanceof SVGTextContentElement)) continue;
      const px = parseFloat(getComputedStyle(el).fontSize) * el.getScreenCTM().a;
      if (px < 10) small.push([el.textContent, px]);
    } else if (parseFloat(getComputedStyle(el).fontSize) < 9) {
      tiny.push([el.textContent, getComputedStyle(el).fontSize]);
    }
  }
  return {scroll: document.scrollingElement.scrollWidth, width, wide: wide.slice(0, 10),
          small: small.slice(0, 10), tiny: tiny.slice(0, 10),
          svgText: document.querySelectorAll("svg text").length};
}"""


@pytest.mark.parametrize("projects", [1, 3])
def test_phone_width_has_no_sideways_scroll_and_readable_text(
    tmp_path: Path, projects: int
) -> None:
    starts = {f"ws-{n}": today() - dt.timedelta(days=400) for n in "abc"[:projects]}
    html = build(tmp_path / "report.html", marts_of(raw_rows(starts)))
    seen = load_page(html, tmp_path / "phone.png", width=390, height=844, script=_PHONE_CHECK)
    page = seen["script"]
    assert page["width"] == 390
    assert page["scroll"] <= 390, page
    assert page["wide"] == [], page["wide"]
    assert page["svgText"] > 100
    assert page["small"] == [], f"chart text under 10 px at 390 px: {page['small']}"
    assert page["tiny"] == [], f"text under 9 px: {page['tiny']}"


def test_three_workspaces_total_is_the_sum_of_the_marts(tmp_path: Path) -> None:
    starts = {
        "ws-north": today() - dt.timedelta(days=200),
        "ws-south": today() - dt.timedelta(days=150),
        "ws-west": today() - dt.timedelta(days=100),
    }
    raw = raw_rows(starts)
    marts = marts_of(raw)
    seen = load_page(build(tmp_path / "report.html", marts), tmp_path / "three.png")
    for grain, rows in (("week", marts.weekly), ("month", marts.monthly)):
        last = last_complete(rows)
        previous = before(grain, last)
        expected = {start: total_of(marts.daily, grain, start) for start in (last, previous)}
        shown = [f for f in seen["compare"] if f["grain"] == grain]
        total = {f["kpi"]: f for f in shown if f["total"]}
        assert set(total) == set(HEADLINE)
        for kpi in HEADLINE:
            after, was = expected[last][kpi], expected[previous][kpi]
            assert float(total[kpi]["value"]) == pytest.approx(after, rel=1e-12), (grain, kpi)
            if kpi not in SHARES:
                assert total[kpi]["pct"] == pct_text(after, was), (grain, kpi)
        cards = {c["kpi"]: c for c in seen["cards"] if c["grain"] == grain}
        assert {k: float(cards[k]["value"]) for k in HEADLINE} == pytest.approx(
            {k: float(total[k]["value"]) for k in HEADLINE}, rel=1e-12
        )
        for project_id in starts:  # each workspace's % change, from its own mart rows
            mine = {r["period_start"]: r for r in rows if r["project_id"] == project_id}
            row = {f["kpi"]: f for f in shown if f["project"] == project_id}
            for kpi in ("chats", "csat_avg", "errors_per_1k_messages"):
                assert row[kpi]["pct"] == pct_text(mine[last][kpi], mine[previous][kpi])


def total_of(daily: list[dict[str, Any]], grain: str, start: str) -> dict[str, float]:
    """One period of every workspace together, from the daily mart alone."""
    first = dt.date.fromisoformat(start)
    end = ex.period_end(grain, first).isoformat()
    days = [r for r in daily if start <= r["date"] <= end]
    total = {name: sum(r[name] for r in days) for name in ex.COUNTS}
    users: dict[str, int] = defaultdict(int)
    for r in days:
        users[r["date"]] += r["returning_users"]
    answered = [r for r in days if r["csat_responses"]]
    scored = [r for r in days if r["ai_quality_scored"]]
    messages = total["inbound_messages"] + total["outbound_messages"]
    return {
        **total,
        "returning_users_avg_daily": sum(users.values()) / len(users),
        "feedback_positive_share": total["positive_feedback"]
        / (total["positive_feedback"] + total["negative_feedback"]),
        "handover_request_rate": total["handover_requests"] / total["chats"],
        "handover_fulfilment_rate": total["handover_starts"] / total["handover_requests"],
        "csat_avg": sum(r["csat_responses"] * r["csat_avg"] for r in answered)
        / sum(r["csat_responses"] for r in answered),
        "ai_quality_avg": sum(r["ai_quality_scored"] * r["ai_quality_avg"] for r in scored)
        / sum(r["ai_quality_scored"] for r in scored),
        "errors_per_1k_messages": 1000 * total["technical_errors"] / messages,
    }


def one_workspace(days: int = 150) -> Marts:
    return marts_of(raw_rows({"ws-one": today() - dt.timedelta(days=days)}))


def test_direction_knows_rising_errors_are_worse_and_rising_csat_better(tmp_path: Path) -> None:
    marts = one_workspace()
    last = last_complete(marts.weekly)
    weeks = {r["period_start"]: r for r in marts.weekly}
    now, was = weeks[last], weeks[before("week", last)]
    now["errors_per_1k_messages"], was["errors_per_1k_messages"] = 1.5, 0.5
    now["csat_avg"], was["csat_avg"] = 4.4, 4.0
    now["handover_request_rate"], was["handover_request_rate"] = 0.025, 0.05
    now["chats"], was["chats"] = 1000, 1004  # -0.4 %: flat
    seen = load_page(build(tmp_path / "report.html", marts), tmp_path / "d.png")
    cards = {c["kpi"]: c for c in seen["cards"] if c["grain"] == "week"}
    assert cards["errors_per_1k_messages"]["direction"] == "worse"
    assert cards["errors_per_1k_messages"]["pct"] == "+200.0 %"
    assert cards["csat_avg"]["direction"] == "better"
    assert cards["csat_avg"]["pct"] == "+10.0 %"
    assert cards["handover_request_rate"]["direction"] == "better"  # fewer asked for a human
    assert cards["handover_request_rate"]["points"] == "\u22122.5 pt"
    assert cards["chats"]["direction"] == "flat"
    assert all(c["direction"] in {"better", "worse", "flat"} for c in seen["cards"])


_AXIS_CHECK = """() => {
  const figure = "figure[data-grain=week][data-kpi=errors_per_1k_messages]";
  const svg = document.querySelector(figure + " svg");
  const ticks = [...svg.querySelectorAll("[id$='-yaxis'] text")].map((t) => t.textContent);
  const fills = [...svg.querySelectorAll("[id*='-partial-'] path")].map((p) => p.style.fill);
  return {ticks, fills, patterns: [...svg.querySelectorAll("pattern")].map((p) => p.id),
          texts: [...svg.querySelectorAll("text")].map((t) => t.textContent)};
}"""


def test_partial_period_never_sets_an_axis_and_is_hatched(tmp_path: Path) -> None:
    marts = one_workspace()
    current = next(
        r
        for r in marts.weekly
        if not r["is_complete_period"] and r["period_start"] > last_complete(marts.weekly)
    )
    highest = max(r["errors_per_1k_messages"] for r in marts.weekly if r["is_complete_period"])
    current["errors_per_1k_messages"] = 49.2  # one bad partial day, as issue 19 saw
    seen = load_page(build(tmp_path / "report.html", marts), tmp_path / "a.png", script=_AXIS_CHECK)
    axis = seen["script"]
    top = max(number(t) for t in axis["ticks"])
    assert highest <= top < 49.2, axis["ticks"]
    assert top < 2 * highest + 1  # set by the complete weeks, with no more room than rounding
    assert "49.2" in axis["texts"]  # the clipped value is still written out
    assert axis["patterns"], "no SVG pattern: the partial period is not hatched"
    assert any(f.startswith("url(") for f in axis["fills"]), axis["fills"]
