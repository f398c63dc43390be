"""The goals of the issues, each with the figure it is judged on: printed, never asserted."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

#: Concurrency goals (issue 14).
RATIO_AT_64 = 1.3
DAILY_500_AT_64_S = 15.0
STATE_200_BYTES = 2_000_000
RSS_500_MIB = 120.0
#: Memory flat with the range: 10 years within this share of 1 year.
RSS_FLAT = 0.10
#: Scale goals (issue 20): CPU per request at 1,000 workspaces and 64 in flight (plain,
#: and under Meltano's environment), and at 5,000 workspaces the ratio at 256, peak RSS
#: and all the STATE a run writes.
CPU_MS_1000 = 0.65
CPU_MS_MELTANO = 0.70
RATIO_5000_AT_256 = 1.35
RSS_5000_MIB = 250.0
STATE_5000_BYTES = 20_000_000


def _goal(goal: str, figure: str, met: bool) -> dict[str, Any]:
    return {"goal": goal, "figure": figure, "met": met}


def measured_cells(results: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every measured (not extrapolated) cell of the concurrency section."""
    for row in results.get("concurrency") or []:
        for cell in row["cells"]:
            if "extrapolated_from" not in cell:
                yield cell


def goals(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each goal, the figure it is judged on, and whether it is met."""
    return [*_sequential_goals(results), *_concurrency_goals(results), *_scale_goals(results)]


def _sequential_goals(results: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    ranges = results.get("ranges") or []
    budget = results.get("budget") or {}
    exact = [(f"{r['range']} x {r['workspaces']} ws", r, r["minimum_requests"]) for r in ranges]
    for row in results.get("page_size") or []:
        for key in ("naive", "tuned"):
            part = row[key]
            name = f"{row['range']} page_size={part['page_size']}"
            exact.append((name, part, part["minimum_requests"]))
    if "requests_each" in budget:
        exact.append(("budget", budget, budget["minimum_requests"]))
    for row in (results.get("throughput") or {}).get("rows", []):
        exact.append((f"throughput {row['writer']}", row, row["minimum_requests"]))
    for cell in measured_cells(results):
        exact.append((cell["cell"], cell, cell["minimum_requests"]))
    if exact:
        off = [
            f"{name}: {each['requests_each']} vs {minimum}"
            for name, each, minimum in exact
            if any(n != minimum for n in each["requests_each"])
        ]
        out.append(
            _goal(
                "requests = minimum, every row and run",
                "; ".join(off) or f"all {len(exact)} rows exact",
                not off,
            )
        )
    counted = [
        (f"{r['range']} x {r['workspaces']} ws", r)
        for r in [*ranges, *((results.get("throughput") or {}).get("rows", []))]
    ] + [(cell["cell"], cell) for cell in measured_cells(results)]
    if counted:
        wrong = [
            name
            for name, row in counted
            if any(n != row["expected_records"] for n in row["records_each"])
        ]
        out.append(
            _goal(
                "every day exactly once (records = days x 6 x workspaces)",
                ", ".join(wrong) or f"all {len(counted)} rows",
                not wrong,
            )
        )
    for row in ranges:
        if row["range"] == "3 y":
            out.append(
                _goal(
                    f"wall <= 1.15 x bound, 3 y x {row['workspaces']} ws (concurrency 1)",
                    f"{row['wall_over_bound']:.3f} (median of per-run ratios; "
                    f"wall {row['wall_s']:.2f} s, bound {row['bound_s']:.2f} s)",
                    row["wall_over_bound"] <= 1.15,
                )
            )
    for workspaces in sorted({row["workspaces"] for row in ranges}):
        by_range = {row["range"]: row for row in ranges if row["workspaces"] == workspaces}
        if "1 y" in by_range and "10 y" in by_range:
            out.append(
                _rss_flat(
                    f"{workspaces} ws, concurrency 1 (ranges)",
                    by_range["1 y"]["max_rss_mib"],
                    by_range["10 y"]["max_rss_mib"],
                )
            )
    if "requests_each" in budget:
        out.append(
            _goal(
                "budget row: zero 429s",
                f"{budget['rate_limited_429']} (max over runs)",
                budget["rate_limited_429"] == 0,
            )
        )
        out.append(
            _goal(
                "budget row: wall within 10 % of the budget's bound",
                f"{budget['wall_s']:.2f} s / {budget['bound_s']:.2f} s = "
                f"{budget['wall_over_bound']:.2f}",
                budget["wall_over_bound"] <= 1.10,
            )
        )
    return out


def _rss_flat(where: str, one: float, ten: float) -> dict[str, Any]:
    return _goal(
        f"peak RSS 10 y within 10 % of 1 y, {where}",
        f"{ten:.1f} MiB vs {one:.1f} MiB ({(ten / one - 1) * 100:+.1f} %)",
        ten <= one * (1 + RSS_FLAT),
    )


def _concurrency_goals(results: dict[str, Any]) -> list[dict[str, Any]]:
    cells = list(measured_cells(results))
    if not cells:
        return []
    out: list[dict[str, Any]] = []
    limited = [f"{c['cell']}: {c['rate_limited_429']}" for c in cells if c["rate_limited_429"]]
    out.append(
        _goal(
            "concurrency rows: zero 429s (API limit 100/60 s per token)",
            "; ".join(limited) or f"0 in all {len(cells)} cells",
            not limited,
        )
    )
    by_cell = {c["cell"]: c for c in cells}
    for cell in cells:
        if cell["max_concurrency"] == 64:
            out.append(
                _goal(
                    f"wall <= {RATIO_AT_64} x bound at 64, {cell['cell'].removesuffix('@64')}",
                    f"{cell['wall_over_bound']:.3f} (wall {cell['wall_s']:.2f} s, "
                    f"bound {cell['bound_s']:.2f} s)",
                    cell["wall_over_bound"] <= RATIO_AT_64,
                )
            )
    if "daily-500@64" in by_cell:
        wall = by_cell["daily-500@64"]["wall_s"]
        out.append(
            _goal(
                f"500 workspaces daily in <= {DAILY_500_AT_64_S:g} s at 64",
                f"{wall:.2f} s",
                wall <= DAILY_500_AT_64_S,
            )
        )
    for cell in cells:
        if cell["cell"].startswith("daily-200@"):
            size = cell["state_bytes"]
            out.append(
                _goal(
                    f"STATE of the 200-workspace daily run <= 2 MB, at {cell['max_concurrency']}",
                    f"{size / 1e6:.3f} MB in {cell['state_messages']:g} STATE messages",
                    size <= STATE_200_BYTES,
                )
            )
        if cell["cell"].startswith("daily-500@"):
            rss = cell["max_rss_mib"]
            out.append(
                _goal(
                    f"peak RSS <= {RSS_500_MIB:g} MiB at 500 workspaces, "
                    f"at {cell['max_concurrency']}",
                    f"{rss:.1f} MiB",
                    rss <= RSS_500_MIB,
                )
            )
    for level in sorted({c["max_concurrency"] for c in cells}):
        one, ten = by_cell.get(f"1y-1@{level}"), by_cell.get(f"10y-1@{level}")
        if one and ten:
            out.append(
                _rss_flat(f"1 ws, concurrency {level}", one["max_rss_mib"], ten["max_rss_mib"])
            )
    return out


def _scale_goals(results: dict[str, Any]) -> list[dict[str, Any]]:
    cells = results.get("scale") or []
    if not cells:
        return []
    bad = [
        f"{c['cell']}: {problems[:2]}"
        for c in cells
        for problems in c["data_problems_each"]
        if problems
    ]
    out = [
        _goal(
            "scale rows: one request per stream and workspace, every (stream, workspace, "
            "day) exactly once, no workspace in two shards",
            "; ".join(bad) or f"all {sum(len(c['wall_each_s']) for c in cells)} runs",
            not bad,
        )
    ]
    by_cell = {c["cell"]: c for c in cells}
    for key, limit in (("scale-1000@64", CPU_MS_1000), ("meltano-1000@64", CPU_MS_MELTANO)):
        if key in by_cell:
            cell = by_cell[key]
            out.append(
                _goal(
                    f"CPU <= {limit} ms per request, {key}",
                    f"{cell['cpu_ms_per_request']:.3f} ms ({cell['cpu_s']:.2f} s / "
                    f"{cell['requests']:g} requests)",
                    cell["cpu_ms_per_request"] <= limit,
                )
            )
    if "scale-5000@256" in by_cell:
        cell = by_cell["scale-5000@256"]
        out.append(
            _goal(
                f"wall <= {RATIO_5000_AT_256} x bound, 5,000 workspaces at 256",
                f"{cell['wall_over_bound']:.3f} (wall {cell['wall_s']:.2f} s, "
                f"bound {cell['bound_s']:.2f} s)",
                cell["wall_over_bound"] <= RATIO_5000_AT_256,
            )
        )
    for cell in cells:
        if cell["workspaces"] >= 5000 and cell["shards"] == 1:
            out.append(
                _goal(
                    f"peak RSS <= {RSS_5000_MIB:g} MiB, {cell['cell']}",
                    f"{cell['max_rss_mib']:.1f} MiB",
                    cell["max_rss_mib"] <= RSS_5000_MIB,
                )
            )
            out.append(
                _goal(
                    f"STATE <= {STATE_5000_BYTES / 1e6:g} MB in all, {cell['cell']}",
                    f"{cell['state_mb']:.2f} MB in {cell['state_messages']:g} messages",
                    cell["state_bytes"] <= STATE_5000_BYTES,
                )
            )
    return out
