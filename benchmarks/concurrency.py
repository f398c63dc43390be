"""The concurrency section: daily runs of many workspaces and backfills, side by side
at ``max_concurrency`` 1, the default and 64, against the API's real 100/60 s limit.

Each cell pairs an ``--about`` start-up with each sync, and judges that sync on the
bound built on its own start-up: start-up + ⌈requests / concurrency⌉ x latency, or
the busiest token's budget where that is longer. Cells whose bound exceeds
``LONG_S`` run once (the 500-workspace daily run at concurrency 1 alone is ~10 min);
the others ``--concurrency-repeats`` times, and then the first run's requests are
replayed by bare clients as many at a time (the floor). A cell named in ``--skip`` is not run; a
skipped daily cell is extrapolated from the largest daily row measured at the same
concurrency, and marked so.
"""

from __future__ import annotations

from typing import Any

from benchmarks.harness import concurrent_bound_s, median, min_requests, replay_s
from benchmarks.plan import API_LIMIT, API_WINDOW_S, ConcurrencyRow
from benchmarks.session import Session, progress, summarize
from tests.emulator import Faults

#: Cells whose bound is longer than this many seconds run once.
LONG_S = 30.0
#: An extrapolation's source must have this many requests per worker, or more.
EXTRAPOLATE_FROM = 10


def cell_key(row: ConcurrencyRow, level: int) -> str:
    """The name ``--skip`` takes for one cell."""
    return f"{row.key}@{level}"


def skipped(row: ConcurrencyRow, level: int, skip: set[str]) -> bool:
    """Whether ``--skip`` names this cell or its whole row."""
    return row.key in skip or cell_key(row, level) in skip


def concurrency(bench: Session) -> list[dict[str, Any]]:
    """Every row of the plan, each with one cell per concurrency level."""
    skip: set[str] = bench.args.skip
    rows = []
    for row in bench.plan.concurrency:
        cells = [
            measure_cell(bench, row, level)
            for level in bench.plan.levels
            if not skipped(row, level, skip)
        ]
        rows.append({"key": row.key, "label": row.label, "cells": cells})
    extrapolate(bench, rows, skip)
    return rows


def _base(row: ConcurrencyRow, level: int) -> dict[str, Any]:
    minimum = min_requests(row.days, 365, row.workspaces)
    return {
        "cell": cell_key(row, level),
        "max_concurrency": level,
        "days": row.days,
        "workspaces": row.workspaces,
        "latency_ms": row.latency_ms,
        "minimum_requests": minimum,
        "expected_records": row.days * 6 * row.workspaces,
    }


def _bound_s(row: ConcurrencyRow, level: int, minimum: int) -> float:
    """The bound of a cell without its start-up."""
    return concurrent_bound_s(
        minimum,
        level,
        row.latency_ms / 1000,
        per_token=minimum // row.workspaces,  # each workspace has its own token
        limit=API_LIMIT,
        window_s=API_WINDOW_S,
    )


def measure_cell(bench: Session, row: ConcurrencyRow, level: int) -> dict[str, Any]:
    """One row at one ``max_concurrency``: paired syncs, each against its own bound."""
    base = _base(row, level)
    work_s = _bound_s(row, level, base["minimum_requests"])
    repeats = 1 if work_s + bench.startup_s > LONG_S else bench.args.concurrency_repeats
    config = bench.config(row.days, row.workspaces, max_concurrency=level)
    faults = Faults(latency_s=row.latency_ms / 1000, rate_limit=(API_LIMIT, API_WINDOW_S))
    runs, startups = bench.paired(f"{row.label} @ {level}", config, faults, repeats)
    bounds = [work_s + s for s in startups]
    floor: dict[str, Any] = {}
    if work_s + bench.startup_s <= LONG_S:
        # The floor: the same requests from bare clients, as many at a time, plus
        # start-up; what the emulator and HTTP cost on this machine right now.
        replay = replay_s(bench.emulator, runs[0].log, workers=level)
        floor = {
            "floor_s": replay + median(startups),
            "wall_over_floor": median(
                [r.wall_s / (replay + s) for r, s in zip(runs, startups, strict=True)]
            ),
        }
    return {
        **base,
        "startup_each_s": [round(s, 4) for s in startups],
        "bound_s": median(bounds),
        "bound_each_s": [round(b, 4) for b in bounds],
        **summarize(runs),
        "wall_over_bound": median([r.wall_s / b for r, b in zip(runs, bounds, strict=True)]),
        "wall_over_bound_each": [round(r.wall_s / b, 3) for r, b in zip(runs, bounds, strict=True)],
        **floor,
    }


def extrapolate(bench: Session, rows: list[dict[str, Any]], skip: set[str]) -> None:
    """Add an extrapolated cell for each skipped daily cell (wall time only).

    A daily run's time past start-up grows linearly with its requests once they far
    outnumber the workers, so the largest measured daily row at the same level with at
    least ``EXTRAPOLATE_FROM`` x level requests is scaled by the ratio of requests;
    requests, memory, threads and STATE are not guessed. A row skipped whole is left out.
    """
    plan_rows = {row.key: row for row in bench.plan.concurrency}
    for entry in rows:
        row = plan_rows[entry["key"]]
        if row.days != 1:
            continue
        for level in bench.plan.levels:
            if row.key in skip or cell_key(row, level) not in skip:
                continue
            source = _largest_daily(rows, plan_rows, level, below=row.workspaces)
            if source is None or source["minimum_requests"] < EXTRAPOLATE_FROM * level:
                continue
            base = _base(row, level)
            startup = median(source["startup_each_s"])
            scale = base["minimum_requests"] / source["minimum_requests"]
            wall = startup + (source["wall_s"] - startup) * scale
            bound = _bound_s(row, level, base["minimum_requests"]) + startup
            progress(f"  {row.label} @ {level}: extrapolated from {source['cell']}")
            entry["cells"].append(
                {
                    **base,
                    "extrapolated_from": source["cell"],
                    "wall_s": wall,
                    "bound_s": bound,
                    "wall_over_bound": wall / bound,
                }
            )
        entry["cells"].sort(key=lambda cell: cell["max_concurrency"])


def _largest_daily(
    rows: list[dict[str, Any]],
    plan_rows: dict[str, ConcurrencyRow],
    level: int,
    below: int,
) -> dict[str, Any] | None:
    """The measured daily cell at ``level`` with the most workspaces under ``below``."""
    best: dict[str, Any] | None = None
    for entry in rows:
        row = plan_rows[entry["key"]]
        if row.days != 1 or row.workspaces >= below:
            continue
        for cell in entry["cells"]:
            if (
                "extrapolated_from" not in cell
                and cell["max_concurrency"] == level
                and (best is None or cell["workspaces"] > best["workspaces"])
            ):
                best = cell
    return best
