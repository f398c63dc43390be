"""The sequential and budget sections: backfill ranges, page size, rate budget and raw
throughput (see ``benchmarks/run.py`` for what each one measures)."""

from __future__ import annotations

import math
from typing import Any

from benchmarks.harness import (
    SyncRun,
    budget_bound_s,
    measure_startup,
    median,
    min_requests,
    replay_s,
    tap_command,
)
from benchmarks.plan import API_LIMIT, API_WINDOW_S, NAIVE_PAGE
from benchmarks.session import Session, summarize
from tap_indigo_analytics.schema import CONFIG_SCHEMA, DEFAULT_CONCURRENCY
from tests.emulator import Faults

#: A token budget no row can reach: lifts the tap's limiter in the page-size rows.
UNLIMITED = 1_000_000
WINDOW_SETTING = "rate_limit_window_seconds"
#: The ranges and page-size rows judge round trips one after another, against a
#: sequential replay; the concurrency section measures the other levels.
SEQUENTIAL = {"max_concurrency": 1}


def ranges(bench: Session) -> list[dict[str, Any]]:
    """Backfills of every range x workspaces, one request at a time, against the bound."""
    rows = []
    faults = Faults(latency_s=bench.latency_s)
    for workspaces in bench.plan.workspaces:
        for label, days in bench.plan.ranges:
            config = bench.config(days, workspaces, **SEQUENTIAL)
            minimum = min_requests(days, 365, workspaces)
            runs, startups = bench.paired(
                f"{label} x {workspaces} ws", config, faults, bench.repeats
            )
            bounds = [minimum * bench.latency_s + s for s in startups]
            startup = median(startups)
            # The floor: the same requests from a bare client, plus start-up.
            replay = replay_s(bench.emulator, runs[0].log)
            rows.append(
                {
                    "range": label,
                    "days": days,
                    "workspaces": workspaces,
                    "minimum_requests": minimum,
                    "expected_records": days * 6 * workspaces,
                    "startup_each_s": [round(s, 4) for s in startups],
                    "bound_s": median(bounds),
                    "bound_each_s": [round(b, 4) for b in bounds],
                    **summarize(runs),
                    "wall_over_bound": median(
                        [r.wall_s / b for r, b in zip(runs, bounds, strict=True)]
                    ),
                    "floor_s": replay + startup,
                    "wall_over_floor": median(
                        [r.wall_s / (replay + s) for r, s in zip(runs, startups, strict=True)]
                    ),
                }
            )
    return rows


def page_size(bench: Session) -> list[dict[str, Any]]:
    """The naive page size against 365, one request at a time, token budget lifted."""
    rows = []
    faults = Faults(latency_s=bench.latency_s)
    for label, days, workspaces in bench.plan.page_size:
        by_page: dict[int, list[SyncRun]] = {NAIVE_PAGE: [], 365: []}
        for _ in range(bench.repeats):  # alternate, so load drifts hit both alike
            for page in by_page:
                config = bench.config(
                    days, workspaces, page_size=page, requests_per_minute=UNLIMITED, **SEQUENTIAL
                )
                run = bench.sync(f"{label} x {workspaces} ws, page_size={page}", config, faults)
                by_page[page].append(run)
        naive, tuned = summarize(by_page[NAIVE_PAGE]), summarize(by_page[365])
        naive_min = min_requests(days, NAIVE_PAGE, workspaces)
        # The same naive requests under the real budget of one token (one workspace;
        # several tokens each have their own budget, so no single bound applies).
        real_budget = (
            budget_bound_s(naive_min, API_LIMIT, API_WINDOW_S, bench.latency_s) + bench.startup_s
            if workspaces == 1
            else None
        )
        rows.append(
            {
                "range": label,
                "days": days,
                "workspaces": workspaces,
                "naive": {**naive, "page_size": NAIVE_PAGE, "minimum_requests": naive_min},
                "tuned": {
                    **tuned,
                    "page_size": 365,
                    "minimum_requests": min_requests(days, 365, workspaces),
                },
                "request_ratio": naive["requests"] / tuned["requests"],
                "wall_ratio": naive["wall_s"] / tuned["wall_s"],
                "naive_real_budget_bound_s": real_budget,
            }
        )
    return rows


def budget(bench: Session) -> dict[str, Any]:
    """One token's naive backfill against a scaled-down limit, at the default concurrency."""
    label, days, limit, page = bench.plan.budget
    window = bench.args.budget_window
    if WINDOW_SETTING not in CONFIG_SCHEMA["properties"]:
        if window != API_WINDOW_S:
            return {
                "skipped": f"the tap has no `{WINDOW_SETTING}` setting, so its budget "
                f"cannot follow a {window:g} s window; rerun with --budget-window 60"
            }
        extra: dict[str, Any] = {}
    else:
        # The setting may be an integer in the schema; send 10, not 10.0.
        extra = {WINDOW_SETTING: int(window) if float(window).is_integer() else window}
    config = bench.config(days, 1, page_size=page, requests_per_minute=limit, **extra)
    faults = Faults(
        latency_s=bench.latency_s,
        rate_limit=(limit, window),
        retry_after_s=max(1, math.ceil(window)),
    )
    minimum = min_requests(days, page, 1)
    concurrency = DEFAULT_CONCURRENCY
    bound = budget_bound_s(minimum, limit, window, bench.latency_s, concurrency) + bench.startup_s
    runs = bench.repeated(f"budget {label}, {limit}/{window:g} s", config, faults)
    summary = summarize(runs)
    return {
        "range": label,
        "days": days,
        "workspaces": 1,
        "page_size": page,
        "limit": limit,
        "window_s": window,
        "max_concurrency": concurrency,
        "minimum_requests": minimum,
        "expected_records": days * 6,
        "bound_s": bound,
        **summary,
        "wall_over_bound": summary["wall_s"] / bound,
    }


def throughput(bench: Session) -> dict[str, Any]:
    """Records per second with no latency, the tap's writer against the SDK's."""
    label, days, workspaces = bench.plan.throughput
    writers = ["sdk", "msgspec"]
    startup = {w: median(measure_startup(tap_command(w), bench.startup_repeats)) for w in writers}
    by_writer: dict[str, list[SyncRun]] = {w: [] for w in writers}
    config = bench.config(days, workspaces)
    for _ in range(bench.repeats):
        for writer in writers:
            run = bench.sync(
                f"throughput {label} x {workspaces} ws, {writer} writer",
                config,
                Faults(),
                writer=writer,
            )
            by_writer[writer].append(run)
    rows = []
    for writer, runs in by_writer.items():
        summary = summarize(runs)
        sync_s = [r.wall_s - startup[writer] for r in runs]
        rows.append(
            {
                "writer": writer,
                "range": label,
                "workspaces": workspaces,
                "minimum_requests": min_requests(days, 365, workspaces),
                "expected_records": days * 6 * workspaces,
                "startup_s": startup[writer],
                **summary,
                "sync_s": median(sync_s),
                "records_per_s": median([r.records / s for r, s in zip(runs, sync_s, strict=True)]),
                "records_per_s_wall": median([r.records / r.wall_s for r in runs]),
            }
        )
    return {"rows": rows}
