"""One benchmark session: the emulator, the command-line options, and the helpers
every section uses (a config for N workspaces, one measured sync, medians of runs)."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Sequence
from typing import Any

from benchmarks.harness import (
    WORKSPACES,
    SyncRun,
    measure_startup,
    median,
    run_sync,
    tap_command,
    today,
)
from benchmarks.plan import Plan
from tests.emulator import Emulator, Faults


def progress(message: str) -> None:
    """A progress line on stderr; stdout carries only the tables."""
    print(message, file=sys.stderr, flush=True)


class Session:
    """The emulator, the options and the measured start-up, shared by the sections."""

    def __init__(self, emulator: Emulator, args: argparse.Namespace, plan: Plan) -> None:
        self.emulator = emulator
        self.args = args
        self.plan = plan
        self.latency_s = args.latency_ms / 1000
        self.repeats: int = args.repeats
        self.startup_s = 0.0
        #: Start-up is short and noisy: at least 3 runs, except in a quick run.
        self.startup_repeats = self.repeats if args.quick else max(self.repeats, 3)

    def config(self, days: int, workspaces: int, **extra: Any) -> dict[str, Any]:
        """A config reading the last ``days`` days (today included) of ``workspaces``."""
        if workspaces > len(WORKSPACES):
            raise ValueError(f"{workspaces} workspaces asked, the emulator has {len(WORKSPACES)}")
        end = today()
        chosen = list(WORKSPACES.items())[:workspaces]
        return {
            "base_url": self.emulator.base_url,
            "workspaces": [{"project_id": pid, "pat": f"pat-{pat}"} for pid, pat in chosen],
            "start_date": (end - dt.timedelta(days=days - 1)).isoformat(),
            "end_date": end.isoformat(),
            **extra,
        }

    def sync(self, label: str, config: dict[str, Any], faults: Faults, **kw: Any) -> SyncRun:
        """One sync of the tap under ``faults``, with a progress line."""
        self.emulator.faults = faults
        run = run_sync(self.emulator, config, **kw)
        progress(
            f"  {label}: {run.requests} requests, {run.wall_s:.2f} s, "
            f"{run.max_rss_kib / 1024:.1f} MiB, {run.records} records, "
            f"{run.peak_threads} threads, {run.state_bytes:,} STATE bytes, "
            f"CPU {run.cpu_s:.2f} s tap + {run.emulator_cpu_s:.2f} s emulator"
        )
        return run

    def repeated(self, label: str, config: dict[str, Any], faults: Faults) -> list[SyncRun]:
        """``repeats`` syncs of the same config."""
        return [self.sync(label, config, faults) for _ in range(self.repeats)]

    def paired(
        self, label: str, config: dict[str, Any], faults: Faults, repeats: int
    ) -> tuple[list[SyncRun], list[float]]:
        """``repeats`` syncs, each just after an ``--about`` run: the syncs and start-ups.

        This machine's start-up drifts by tenths of a second over minutes, so a bound
        taken at another moment would judge the tap on the drift, not on its own time.
        """
        runs, startups = [], []
        for _ in range(repeats):
            startups.append(measure_startup(tap_command(), 1)[0])
            runs.append(self.sync(label, config, faults))
        return runs, startups

    def measure_startup(self) -> dict[str, Any]:
        """The median start-up of ``--about``, kept for the rows that are not paired."""
        times = measure_startup(tap_command(), self.startup_repeats)
        self.startup_s = median(times)
        progress(f"start-up (--about): median {self.startup_s:.3f} s of {times}")
        return {"command": [*tap_command(), "--about"], "runs_s": times, "median_s": self.startup_s}


def summarize(runs: Sequence[SyncRun]) -> dict[str, Any]:
    """Medians of the runs of one row, plus every run."""
    statuses: dict[int, int] = {}
    for run in runs:
        for status, count in run.statuses.items():
            statuses[status] = max(statuses.get(status, 0), count)
    return {
        "requests": median([r.requests for r in runs]),
        "requests_each": [r.requests for r in runs],
        "records": median([r.records for r in runs]),
        "records_each": [r.records for r in runs],
        "wall_s": median([r.wall_s for r in runs]),
        "wall_each_s": [round(r.wall_s, 4) for r in runs],
        "max_rss_mib": median([r.max_rss_kib / 1024 for r in runs]),
        "max_rss_each_mib": [round(r.max_rss_kib / 1024, 1) for r in runs],
        "peak_threads": max(r.peak_threads for r in runs),
        "state_messages": median([r.state_messages for r in runs]),
        "state_bytes": median([r.state_bytes for r in runs]),
        "state_bytes_each": [r.state_bytes for r in runs],
        "cpu_s": median([r.cpu_s for r in runs]),
        "emulator_cpu_s": median([r.emulator_cpu_s for r in runs]),
        "status_max": {str(k): v for k, v in sorted(statuses.items())},
        "rate_limited_429": max(r.statuses.get(429, 0) for r in runs),
    }
