"""The report in a real headless browser (Debian's Chromium, driven by Playwright).

Without Chromium the tests skip, unless TAP_INDIGO_REQUIRE_BROWSER=1 (CI, whose .ci/run
installs it). Reading the page and the expected numbers: tests/report_browser_support.py;
the sums of several workspaces are computed below, never taken from the report's own code.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from scripts.report import build
from tests import dbt_expected as ex
from tests.conftest import today
from tests.report_browser_support import (
    HEADLINE,
    SHARES,
    SHOWN,
    assert_not_blank,
    before,
    check_figures,
    check_shown,
    emulator_marts,
    last_complete,
    load_page,
    marts_of,
    number,
    one_workspace,
    pct_text,
    raw_rows,
)

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
    assert "tests/report_browser_support.py" in page["source"]
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
