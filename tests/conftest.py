"""Shared fixtures: a live emulator on loopback and a runner for the real tap CLI.

Every tap run goes through ``run_tap``, which starts the installed CLI as a
subprocess and fails the test if any configured token shows up in its stdout,
stderr or state — so secret hygiene is checked across the whole suite.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.emulator import Emulator

#: Test workspaces and their tokens (stored without the ``pat-`` prefix, as Indigo shows them).
WORKSPACES = {"ws-alpha": "alphaSecretToken0001", "ws-beta": "betaSecretToken00002"}
STREAMS = (
    "daily_messages",
    "daily_chats",
    "daily_returning_users",
    "daily_csat",
    "daily_ai_quality",
    "daily_technical_errors",
)


def today() -> dt.date:
    """UTC today, as the tap and the emulator see it."""
    return dt.datetime.now(dt.timezone.utc).date()


def days_back(n: int) -> str:
    """The ISO day ``n`` days before UTC today."""
    return (today() - dt.timedelta(days=n)).isoformat()


@dataclass
class TapRun:
    """What one run of the tap CLI printed."""

    returncode: int
    stdout: str
    stderr: str
    messages: list[dict[str, Any]] = field(default_factory=list)

    def records(self, stream: str | None = None) -> list[dict[str, Any]]:
        """RECORD payloads, optionally of one stream."""
        return [
            m["record"]
            for m in self.messages
            if m["type"] == "RECORD" and (stream is None or m["stream"] == stream)
        ]

    @property
    def states(self) -> list[dict[str, Any]]:
        """Every STATE value, in order."""
        return [m["value"] for m in self.messages if m["type"] == "STATE"]

    @property
    def state(self) -> dict[str, Any]:
        """The last STATE value."""
        assert self.states, f"no STATE emitted; stderr:\n{self.stderr[-3000:]}"
        return self.states[-1]

    def bookmark(self, stream: str, project_id: str) -> str | None:
        """The ``date`` bookmark of one stream and workspace in the last STATE."""
        for part in self.state["bookmarks"][stream].get("partitions", []):
            if part["context"] == {"project_id": project_id}:
                return part.get("replication_key_value")  # type: ignore[no-any-return]
        return None

    def error_lines(self) -> list[str]:
        """Log lines at ERROR level."""
        return [line for line in self.stderr.splitlines() if "| ERROR" in line]


def tap_command() -> list[str]:
    """The installed CLI, run with this interpreter."""
    return [sys.executable, "-m", "tap_indigo_analytics.tap"]


def run_tap(
    config: dict[str, Any],
    *args: str,
    state: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 300,
) -> TapRun:
    """Run the tap CLI with ``config`` (and ``state``); parse stdout as Singer messages."""
    with tempfile.TemporaryDirectory() as tmp:
        config_path = Path(tmp, "config.json")
        config_path.write_text(json.dumps(config))
        command = [*tap_command(), "--config", str(config_path), *args]
        if state is not None:
            state_path = Path(tmp, "state.json")
            state_path.write_text(json.dumps(state))
            command += ["--state", str(state_path)]
        proc = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **(env or {})},
            check=False,
        )
    run = TapRun(proc.returncode, proc.stdout, proc.stderr)
    if not {"--discover", "--about"} & set(args):  # those print one JSON document, not messages
        run.messages = [json.loads(line) for line in proc.stdout.splitlines() if line]
    assert_no_secret(run.stdout + run.stderr, config)
    return run


def secrets_of(config: dict[str, Any]) -> list[str]:
    """Every token value in a config, with and without its ``pat-`` prefix."""
    entries = config.get("workspaces") or []
    tokens = [config.get("pat")] + [w.get("pat") for w in entries if isinstance(w, dict)]
    found = {t.removeprefix("pat-") for t in tokens if isinstance(t, str) and t}
    return sorted(found | {f"pat-{t}" for t in found})


def assert_no_secret(text: str, config: dict[str, Any]) -> None:
    """Fail if any token of ``config`` (or of the test workspaces) occurs in ``text``."""
    for secret in {*secrets_of(config), *WORKSPACES.values()}:
        if len(secret) >= 8:
            assert secret not in text, "a personal access token leaked into the output"


def workspace_config(emulator: Emulator, *ids: str, **overrides: Any) -> dict[str, Any]:
    """A config reading ``ids`` (default: all test workspaces) from ``emulator``."""
    chosen = ids or tuple(WORKSPACES)
    config: dict[str, Any] = {
        "base_url": emulator.base_url,
        "workspaces": [{"project_id": pid, "pat": f"pat-{WORKSPACES[pid]}"} for pid in chosen],
        "backoff_seconds": 0,  # retry at once; the backoff schedule itself is tested apart
    }
    config.update(overrides)
    return config


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """A fresh emulator serving the test workspaces on a free loopback port."""
    with Emulator(WORKSPACES) as emu:
        yield emu


def by_day(records: list[dict[str, Any]], project_id: str) -> dict[str, dict[str, Any]]:
    """Records of one workspace keyed by day, failing on a duplicate day."""
    result: dict[str, dict[str, Any]] = {}
    for record in records:
        if record["project_id"] == project_id:
            assert record["date"] not in result, f"day {record['date']} emitted twice"
            result[record["date"]] = record
    return result


#: Test modules that need Meltano, dbt, PyAirbyte, PostgreSQL, a browser or a client in a
#: virtualenv of its own: `make test` runs them, `make check` (the fast loop) does not.
#: A test elsewhere that needs one of those is marked `@pytest.mark.e2e` itself.
E2E_MODULES = frozenset(
    {
        "test_airbyte_cdk",
        "test_airbyte_pyairbyte",
        "test_clients",
        "test_dbt_inputs",
        "test_benchmark_smoke",
        "test_dbt_marts",
        "test_meltano_postgres",
        "test_metricflow",
        "test_report_browser",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the end-to-end modules `e2e` (and every `postgres` test with them)."""
    for item in items:
        if item.path.stem in E2E_MODULES or item.get_closest_marker("postgres") is not None:
            item.add_marker(pytest.mark.e2e)
