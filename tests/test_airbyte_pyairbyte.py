"""PyAirbyte (Airbyte's Python client, 0.71.3) runs our ``source-indigo-analytics``.

PyAirbyte lives in its own virtualenv (``make`` builds ``.venv-pyairbyte``; ``make
test`` depends on it) and runs our entry point as a local executable against the
emulator: ``check()`` ten times, each well under 5 s (it used to stall 10 s on its
SIGTERM and die -9), and the README's own snippet twice into a DuckDB cache - the
second read incremental, the tables deduplicated on ``(project_id, date)``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tap_indigo_analytics.settings import CONFIG_SCHEMA
from tests.airbyte_support import PYAIRBYTE_PYTHON
from tests.conftest import STREAMS, WORKSPACES, assert_no_secret, days_back, today, workspace_config
from tests.emulator import ENDPOINTS, Emulator

ROOT = Path(__file__).resolve().parent.parent
PROBE = Path(__file__).resolve().parent / "pyairbyte_probe.py"
#: Where ``source-indigo-analytics`` is installed: this test's own virtualenv.
SOURCE_BIN = Path(sys.executable).parent
LOOKBACK_DAYS: int = CONFIG_SCHEMA["properties"]["lookback_days"]["default"]
CHECKS = 10
CHECK_WITHIN_S = 5.0


@pytest.fixture(scope="module")
def pyairbyte_python() -> Path:
    if not PYAIRBYTE_PYTHON.exists():
        pytest.fail("PyAirbyte's virtualenv is missing: run `make .venv-pyairbyte/.installed`")
    return PYAIRBYTE_PYTHON


def readme_snippet() -> str:
    """The PyAirbyte example of the README, exactly as users read it."""
    text = (ROOT / "README.md").read_text()
    match = re.search(
        r"<!-- pyairbyte:start -->\s*```python\n(.*?)```\s*<!-- pyairbyte:end -->", text, re.S
    )
    assert match, "README has no PyAirbyte snippet between the pyairbyte markers"
    return match.group(1)


def airbyte_config(emulator: Emulator, **settings: Any) -> dict[str, Any]:
    """A config as Airbyte's setup form makes it: several workspaces, on the emulator."""
    flat = workspace_config(emulator, **settings)
    workspaces = flat.pop("workspaces")
    return {"credentials": {"setup": "several_workspaces", "workspaces": workspaces}, **flat}


def run_pyairbyte(
    python: Path, args: list[str], cwd: Path, config: dict[str, Any]
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        # `source-indigo-analytics` resolves to this checkout's entry point.
        "PATH": f"{SOURCE_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "AIRBYTE_OFFLINE_MODE": "1",  # no registry, no telemetry: loopback only
        "DO_NOT_TRACK": "1",
        "AIRBYTE_PROJECT_DIR": str(cwd),
        "AIRBYTE_CACHE_ROOT": str(cwd / ".cache"),
    }
    proc = subprocess.run(
        [str(python), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert_no_secret(proc.stdout + proc.stderr, config)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc


def test_check_ten_times_each_well_within_5_s(
    emulator: Emulator, pyairbyte_python: Path, tmp_path: Path
) -> None:
    config = airbyte_config(emulator)
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config))
    proc = run_pyairbyte(
        pyairbyte_python, [str(PROBE), "check", str(config_path), str(CHECKS)], tmp_path, config
    )
    seconds = json.loads(proc.stdout.splitlines()[-1])["seconds"]
    assert len(seconds) == CHECKS
    assert max(seconds) < CHECK_WITHIN_S, seconds
    # Each check is one real request per workspace.
    assert Counter(r.project_id for r in emulator.requests()) == dict.fromkeys(WORKSPACES, CHECKS)


def test_readme_snippet_reads_twice_into_duckdb_the_second_time_incrementally(
    emulator: Emulator, pyairbyte_python: Path, tmp_path: Path
) -> None:
    config = airbyte_config(emulator, start_date=days_back(30))
    (tmp_path / "config.json").write_text(json.dumps(config))
    snippet = tmp_path / "snippet.py"
    snippet.write_text(readme_snippet())
    cache = tmp_path / ".cache" / "indigo" / "db_indigo.duckdb"  # new_local_cache("indigo")

    first = run_pyairbyte(pyairbyte_python, [str(snippet)], tmp_path, config)
    printed = dict(line.rsplit(" ", 1) for line in first.stdout.splitlines() if " " in line)
    expected_rows = 31 * len(WORKSPACES)
    assert {s: int(printed[s]) for s in STREAMS} == dict.fromkeys(STREAMS, expected_rows)
    tables = probe_tables(pyairbyte_python, cache, tmp_path, config)
    for stream in STREAMS:
        assert tables[stream]["rows"] == tables[stream]["keys"] == expected_rows, stream
        assert len(tables[stream]["days"]) == 31
        assert min(tables[stream]["days"]) == days_back(30)

    emulator.today_revision += 1  # today's figures move on; the second read must bring them
    emulator.clear_log()
    run_pyairbyte(pyairbyte_python, [str(snippet)], tmp_path, config)
    # Incremental: one request per stream and workspace, from the bookmark less the lookback;
    # the snippet's check() adds one request for today per workspace.
    requests = emulator.requests()
    expected = Counter({(s, p): 1 for s in STREAMS for p in WORKSPACES})
    expected.update({("daily_chats", p): 1 for p in WORKSPACES})
    assert Counter((r.stream, r.project_id) for r in requests) == expected
    reads = [r for r in requests if r.params["from"] != today().isoformat()]
    assert {r.params["from"] for r in reads} == {days_back(LOOKBACK_DAYS)}
    assert len(reads) == len(STREAMS) * len(WORKSPACES)
    # Deduplicated on (project_id, date): the days read again replaced their rows.
    tables = probe_tables(pyairbyte_python, cache, tmp_path, config)
    for stream in STREAMS:
        assert tables[stream]["rows"] == tables[stream]["keys"] == expected_rows, stream
        latest = {row["project_id"]: row for row in tables[stream]["latest"]}
        for project_id in WORKSPACES:
            fresh = emulator.expected_row(project_id, stream, today())
            fields = set(ENDPOINTS[stream].fields)
            got = {k: v for k, v in latest[project_id].items() if k in fields}
            assert got == {k: v for k, v in fresh.items() if k in fields}, (stream, project_id)


def probe_tables(
    python: Path, cache: Path, cwd: Path, config: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    proc = run_pyairbyte(python, [str(PROBE), "tables", str(cache)], cwd, config)
    return json.loads(proc.stdout.splitlines()[-1])  # type: ignore[no-any-return]
