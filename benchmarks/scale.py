"""The scale section (issue 20): an agency's nightly run of thousands of workspaces.

Every row is a daily run as it happens in production: the input state one day old
(each partition's bookmark is yesterday, so with the default lookback the tap reads
the last ``lookback_days + 2`` days in one request per stream and workspace), 200 ms
per request, each workspace its own token, no proxy variable in the tap's environment
(``benchmarks/environment.py``). Rows: N workspaces at each ``max_concurrency`` of the
plan; the smallest at 64 again under Meltano's environment (~150 unrelated variables);
and one run split into ``shard: "k/n"`` processes started at once (each with the state
of its own workspaces, as a Meltano job per shard keeps it), judged on the slower.

Each sync is judged on the bound built on an ``--about`` start-up just before it:
start-up + ⌈requests / concurrency⌉ x latency (the busiest shard's, in the shard row).
Every run's records are checked one by one: each (stream, workspace, day) of the range
exactly once, in the shard row across both processes, and no workspace read by two.
"""

from __future__ import annotations

import datetime as dt
import json
import resource
import tempfile
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.concurrency import LONG_S
from benchmarks.environment import meltano_environment, tap_environment
from benchmarks.harness import (
    HEAD,
    RECORD_MARKERS,
    STATE_MARKERS,
    STREAMS,
    WORKSPACES,
    ProcessRun,
    SyncRun,
    TapFailedError,
    concurrent_bound_s,
    measure_startup,
    median,
    run_process,
    tap_command,
    today,
)
from benchmarks.plan import API_LIMIT, API_WINDOW_S, Plan
from benchmarks.session import Session, progress, summarize
from tap_indigo_analytics.schema import DEFAULT_LOOKBACK_DAYS
from tap_indigo_analytics.settings import in_shard
from tap_indigo_analytics.state import REPLICATION_KEY
from tap_indigo_analytics.streams import STREAM_TYPES
from tests.emulator import Faults

STREAM_NAMES: tuple[str, ...] = tuple(str(s.name) for s in STREAM_TYPES)  # type: ignore[misc]
#: Days before today the config's start_date lies; the bookmarks, not it, set the range.
START_DAYS_AGO = 30


@dataclass(frozen=True)
class Job:
    """One tap process of a sync: its config, input state and workspaces."""

    config: dict[str, Any]
    state: dict[str, Any]
    project_ids: tuple[str, ...]


@dataclass(frozen=True)
class Records:
    """What one process's output holds: its records by key, and its STATE lines."""

    keys: frozenset[tuple[str, str, str]]
    records: int
    state_messages: int
    state_bytes: int


def cell_keys(plan: Plan) -> list[str]:
    """The names ``--skip`` takes for the cells of this section."""
    s = plan.scale
    meltano_ws, meltano_level = s.meltano
    shard_ws, shard_level, shards = s.shards
    return [
        *(f"scale-{w}@{level}" for w in s.workspaces for level in s.levels),
        f"meltano-{meltano_ws}@{meltano_level}",
        f"shards{shards}-{shard_ws}@{shard_level}",
    ]


def scale(bench: Session) -> list[dict[str, Any]]:
    """Every cell of the plan not named in ``--skip``."""
    s = bench.plan.scale
    skip: set[str] = bench.args.skip
    keys = iter(cell_keys(bench.plan))
    cells = [(next(keys), w, level, 1, False) for w in s.workspaces for level in s.levels]
    cells.append((next(keys), *s.meltano, 1, True))
    cells.append((next(keys), s.shards[0], s.shards[1], s.shards[2], False))
    return [
        measure(bench, key, workspaces, level, shards=shards, meltano=meltano)
        for key, workspaces, level, shards, meltano in cells
        if key not in skip
    ]


def input_state(project_ids: Sequence[str], bookmark: dt.date) -> dict[str, Any]:
    """A state as the last run left it: every partition's bookmark at ``bookmark``."""
    day = bookmark.isoformat()
    partitions = [
        {"context": {"project_id": pid}, "replication_key": REPLICATION_KEY,
         "replication_key_value": day}
        for pid in project_ids
    ]  # fmt: skip
    return {"bookmarks": {name: {"partitions": partitions} for name in STREAM_NAMES}}


def jobs(bench: Session, workspaces: int, level: int, shards: int) -> list[Job]:
    """The processes of one sync: one, or one per shard, each with its own state."""
    config = bench.config(START_DAYS_AGO, workspaces, max_concurrency=level)
    ids = tuple(list(WORKSPACES)[:workspaces])
    yesterday = today() - dt.timedelta(days=1)
    if shards == 1:
        return [Job(config, input_state(ids, yesterday), ids)]
    out = []
    for k in range(1, shards + 1):
        mine = tuple(pid for pid in ids if in_shard(pid, (k, shards)))
        out.append(Job({**config, "shard": f"{k}/{shards}"}, input_state(mine, yesterday), mine))
    return out


def measure(
    bench: Session, key: str, workspaces: int, level: int, *, shards: int, meltano: bool
) -> dict[str, Any]:
    """One cell: paired syncs, each checked record by record and judged on its bound."""
    s = bench.plan.scale
    latency_s = s.latency_ms / 1000
    planned = jobs(bench, workspaces, level, shards)
    extra = meltano_environment(planned[0].config) if meltano else {}
    env = tap_environment(extra)
    minimum = STREAMS * workspaces  # one request per stream and workspace
    work_s = max(
        concurrent_bound_s(
            STREAMS * len(job.project_ids),
            level,
            latency_s,
            per_token=STREAMS,
            limit=API_LIMIT,
            window_s=API_WINDOW_S,
        )
        for job in planned
    )
    repeats = 1 if work_s + bench.startup_s > LONG_S else bench.args.concurrency_repeats
    end = today()
    first = end - dt.timedelta(days=1 + DEFAULT_LOOKBACK_DAYS)
    days = [(first + dt.timedelta(days=n)).isoformat() for n in range((end - first).days + 1)]
    label = f"{key}: daily x {workspaces:,} ws @ {level}" + (
        f", {shards} shards at once" if shards > 1 else ""
    )
    runs, startups, problems, per_process = [], [], [], []
    for _ in range(repeats):
        startups.append(measure_startup(tap_command(), 1)[0])
        bench.emulator.faults = Faults(latency_s=latency_s, rate_limit=(API_LIMIT, API_WINDOW_S))
        run, outputs, processes = sync(bench, planned, env)
        found = verify(outputs, planned, days, run)
        progress(
            f"  {label}: {run.requests} requests, {run.wall_s:.2f} s, "
            f"{run.max_rss_kib / 1024:.1f} MiB, {run.records} records, CPU {run.cpu_s:.2f} s "
            f"({run.cpu_s / max(run.requests, 1) * 1000:.3f} ms/request), "
            f"{run.state_bytes / 1e6:.2f} MB STATE, data {'ok' if not found else found[:3]}"
        )
        runs.append(run)
        problems.append(found)
        per_process.append([{"wall_s": round(p.wall_s, 3), "cpu_s": p.cpu_s} for p in processes])
    bounds = [work_s + startup for startup in startups]
    return {
        "cell": key,
        "workspaces": workspaces,
        "max_concurrency": level,
        "shards": shards,
        "extra_environment_variables": len(extra),
        "environment_variables": len(env),
        "latency_ms": s.latency_ms,
        "days_per_partition": len(days),
        "minimum_requests": minimum,
        "expected_records": minimum * len(days),
        "startup_each_s": [round(x, 4) for x in startups],
        "round_trips_s": work_s,
        "bound_s": median(bounds),
        "bound_each_s": [round(b, 4) for b in bounds],
        **summarize(runs),
        "wall_over_bound": median([r.wall_s / b for r, b in zip(runs, bounds, strict=True)]),
        "cpu_ms_per_request": median([r.cpu_s / r.requests * 1000 for r in runs]),
        "state_mb": median([r.state_bytes / 1e6 for r in runs]),
        "processes_each": per_process,
        "data_problems_each": problems,
    }


def sync(
    bench: Session, planned: Sequence[Job], env: dict[str, str]
) -> tuple[SyncRun, list[Records], list[ProcessRun]]:
    """Start every job's tap at once and wait for all: one SyncRun of the slowest."""
    emulator = bench.emulator
    emulator.clear_log()
    with tempfile.TemporaryDirectory(prefix="tap-indigo-scale-") as tmp:
        dirs = [Path(tmp, str(n)) for n in range(len(planned))]
        for folder, job in zip(dirs, planned, strict=True):
            folder.mkdir()
            (folder / "config.json").write_text(json.dumps(job.config))
            (folder / "state.json").write_text(json.dumps(job.state))
        results: list[ProcessRun | BaseException | None] = [None] * len(planned)

        def launch(n: int) -> None:
            folder = dirs[n]
            try:
                results[n] = run_process(
                    [*tap_command(), "--config", str(folder / "config.json"),
                     "--state", str(folder / "state.json")],
                    stdout=folder / "stdout.jsonl",
                    stderr=folder / "stderr.log",
                    timeout_s=1800,
                    env=env,
                )  # fmt: skip
            except BaseException as exc:
                results[n] = exc

        before = resource.getrusage(resource.RUSAGE_SELF)
        threads = [threading.Thread(target=launch, args=(n,)) for n in range(len(planned))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        after = resource.getrusage(resource.RUSAGE_SELF)
        processes: list[ProcessRun] = []
        for folder, result in zip(dirs, results, strict=True):
            if isinstance(result, BaseException) or result is None:
                raise RuntimeError(f"could not run the tap: {result!r}")
            if result.returncode != 0:
                tail = (folder / "stderr.log").read_text(errors="replace")[-3000:]
                raise TapFailedError(f"tap exited {result.returncode}; stderr ends with:\n{tail}")
            processes.append(result)
        outputs = [scan_records(folder / "stdout.jsonl") for folder in dirs]
    log = emulator.requests()
    run = SyncRun(
        wall_s=max(p.wall_s for p in processes),
        max_rss_kib=max(p.max_rss_kib for p in processes),
        records=sum(o.records for o in outputs),
        requests=len(log),
        statuses=dict(Counter(entry.status for entry in log)),
        log=log,
        peak_threads=max(p.peak_threads for p in processes),
        state_messages=sum(o.state_messages for o in outputs),
        state_bytes=sum(o.state_bytes for o in outputs),
        cpu_s=sum(p.cpu_s for p in processes),
        emulator_cpu_s=(after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
    )
    return run, outputs, processes


def scan_records(path: Path) -> Records:
    """Every record's (stream, project_id, day), and the STATE lines, of one output."""
    keys: set[tuple[str, str, str]] = set()
    records = states = state_bytes = 0
    with path.open("rb") as handle:
        for line in handle:
            head = line[:HEAD]
            if any(marker in head for marker in RECORD_MARKERS):
                message = json.loads(line)
                record = message["record"]
                keys.add((message["stream"], record["project_id"], str(record["date"])[:10]))
                records += 1
            elif any(marker in head for marker in STATE_MARKERS):
                states += 1
                state_bytes += len(line)
    return Records(frozenset(keys), records, states, state_bytes)


def verify(
    outputs: Sequence[Records], planned: Sequence[Job], days: Sequence[str], run: SyncRun
) -> list[str]:
    """What is wrong with one sync's data and requests (empty: nothing)."""
    problems = []
    union: set[tuple[str, str, str]] = set()
    owner: dict[str, int] = {}
    for n, (out, job) in enumerate(zip(outputs, planned, strict=True), start=1):
        if out.records != len(out.keys):
            problems.append(f"process {n}: {out.records - len(out.keys)} records twice")
        if union & out.keys:
            problems.append(f"process {n}: {len(union & out.keys)} records also in another")
        union |= out.keys
        seen = {pid for _, pid, _ in out.keys}
        for pid in seen:
            if pid in owner:
                problems.append(f"workspace {pid} read by processes {owner[pid]} and {n}")
            owner[pid] = n
        if seen - set(job.project_ids):
            problems.append(f"process {n}: {len(seen - set(job.project_ids))} foreign workspaces")
    ids = [pid for job in planned for pid in job.project_ids]
    expected = {(s, pid, day) for s in STREAM_NAMES for pid in ids for day in days}
    if union != expected:
        problems.append(f"{len(expected - union)} days missing, {len(union - expected)} unasked")
    partitions = {(e.stream, e.project_id) for e in run.log}
    if len(partitions) != STREAMS * len(ids):
        problems.append(f"{len(partitions)} partitions requested, not {STREAMS * len(ids)}")
    if run.requests != STREAMS * len(ids):
        problems.append(f"{run.requests} requests, not {STREAMS * len(ids)}")
    if set(run.statuses) != {200}:
        problems.append(f"statuses {run.statuses}")
    return problems
