"""What each section measures: the full plan of ``make bench`` and the ``--quick`` one."""

from __future__ import annotations

from dataclasses import dataclass

# The tap's default ``max_concurrency`` for up to 32 workspaces (settings.default_concurrency).
from tap_indigo_analytics.schema import DEFAULT_CONCURRENCY

#: The API's documented limit per token, and the page size a naive tap sends.
API_LIMIT, API_WINDOW_S, NAIVE_PAGE = 100, 60.0, 30


@dataclass(frozen=True)
class ConcurrencyRow:
    """One row of the concurrency section, measured at every ``Plan.levels``."""

    key: str  # for --skip: "daily-500", or one cell: "daily-500@1"
    label: str
    days: int  # 1: a daily run (start_date = today), one request per stream and workspace
    workspaces: int
    latency_ms: float


@dataclass(frozen=True)
class Scale:
    """The scale section: daily runs of thousands of workspaces, input state one day old."""

    workspaces: tuple[int, ...]
    levels: tuple[int, ...]  # max_concurrency values
    latency_ms: float
    meltano: tuple[int, int]  # workspaces, max_concurrency: under Meltano's environment
    shards: tuple[int, int, int]  # workspaces, max_concurrency, shards run at once


@dataclass(frozen=True)
class Plan:
    """What to measure: full by default, tiny with ``--quick``."""

    ranges: tuple[tuple[str, int], ...]
    workspaces: tuple[int, ...]
    page_size: tuple[tuple[str, int, int], ...]  # label, days, workspaces
    budget: tuple[str, int, int, int]  # label, days, requests per window, page size
    throughput: tuple[str, int, int]  # label, days, workspaces
    concurrency: tuple[ConcurrencyRow, ...]
    levels: tuple[int, ...]  # max_concurrency values, side by side
    scale: Scale


def _daily(workspaces: int, latency_ms: float) -> ConcurrencyRow:
    return ConcurrencyRow(
        f"daily-{workspaces}", f"daily x {workspaces} ws", 1, workspaces, latency_ms
    )


LEVELS = (1, DEFAULT_CONCURRENCY, 64)

FULL = Plan(
    ranges=(("30 d", 30), ("1 y", 365), ("3 y", 3 * 365), ("10 y", 10 * 365)),
    workspaces=(1, 5),
    page_size=(("1 y", 365, 1), ("3 y", 3 * 365, 1)),
    budget=("5 y", 5 * 365, API_LIMIT, NAIVE_PAGE),
    throughput=("10 y", 10 * 365, 5),
    concurrency=(
        _daily(10, 200),
        _daily(50, 200),
        _daily(200, 200),
        _daily(500, 200),
        ConcurrencyRow("1y-50", "1 y x 50 ws", 365, 50, 200),
        ConcurrencyRow("3y-1", "3 y x 1 ws", 3 * 365, 1, 50),
        ConcurrencyRow("3y-5", "3 y x 5 ws", 3 * 365, 5, 50),
        # The memory pair: peak RSS of 10 years within 10 % of 1 year, at each level.
        ConcurrencyRow("1y-1", "1 y x 1 ws", 365, 1, 50),
        ConcurrencyRow("10y-1", "10 y x 1 ws", 10 * 365, 1, 50),
    ),
    levels=LEVELS,
    scale=Scale((1000, 2000, 5000), (64, 256), 200, meltano=(1000, 64), shards=(5000, 256, 2)),
)
QUICK = Plan(
    ranges=(("30 d", 30), ("1 y", 365)),
    workspaces=(1,),
    page_size=(("90 d", 90, 1),),
    budget=("90 d", 90, 6, NAIVE_PAGE),
    throughput=("1 y", 365, 1),
    concurrency=(_daily(10, 10),),
    levels=LEVELS,
    scale=Scale((20,), (4, 16), 10, meltano=(20, 4), shards=(20, 16, 2)),
)
