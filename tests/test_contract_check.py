"""The live contract check (``tap-indigo-analytics-check``) against the emulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import STREAMS, assert_no_secret, workspace_config
from tests.emulator import Emulator


def run_check(config: dict[str, Any], tmp_path: Path, *args: str) -> tuple[int, list[str]]:
    """Run the check as its users do; return the exit code and the per-endpoint lines."""
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    proc = subprocess.run(
        [sys.executable, "-m", "tap_indigo_analytics.contract_check", "--config", str(path), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert_no_secret(proc.stdout + proc.stderr, config)
    lines = [line for line in proc.stdout.splitlines() if line.startswith(("OK ", "FAIL "))]
    return proc.returncode, lines


def line_of(lines: list[str], stream: str) -> str:
    """The single output line of ``stream``."""
    (line,) = [line for line in lines if line.split()[1] == stream]
    return line


def test_all_endpoints_match(emulator: Emulator, tmp_path: Path) -> None:
    code, lines = run_check(workspace_config(emulator), tmp_path)
    assert code == 0, lines
    assert len(lines) == len(STREAMS)  # the first workspace only, by default
    for stream in STREAMS:
        line = line_of(lines, stream)
        assert line.startswith("OK ")
        assert "reachable; auth ok; envelope ok; fields ok" in line
    # One request per endpoint, for yesterday and today, all authorised.
    log = emulator.requests()
    assert sorted(str(r.stream) for r in log) == sorted(STREAMS)
    assert {r.status for r in log} == {200}
    assert {r.params["limit"] for r in log} == {"2"}


def test_all_workspaces(emulator: Emulator, tmp_path: Path) -> None:
    code, lines = run_check(workspace_config(emulator), tmp_path, "--all-workspaces")
    assert code == 0, lines
    assert len(lines) == len(STREAMS) * 2
    assert {r.project_id for r in emulator.requests()} == {"ws-alpha", "ws-beta"}


def test_renamed_field_is_reported(emulator: Emulator, tmp_path: Path) -> None:
    emulator.faults.renamed_fields = {"daily_chats": {"count": "chats"}}
    code, lines = run_check(workspace_config(emulator), tmp_path)
    assert code == 1
    chats = line_of(lines, "daily_chats")
    assert chats.startswith("FAIL")
    assert "missing: count" in chats
    assert "unknown: chats" in chats
    others = [line for line in lines if line.split()[1] != "daily_chats"]
    assert len(others) == 5
    assert all(line.startswith("OK ") for line in others)


def test_bad_token_fails_auth_everywhere(emulator: Emulator, tmp_path: Path) -> None:
    config = workspace_config(emulator, "ws-alpha")
    config["workspaces"][0]["pat"] = "pat-notTheRightToken99"
    code, lines = run_check(config, tmp_path)
    assert code == 1
    assert len(lines) == len(STREAMS)
    for line in lines:
        assert line.startswith("FAIL")
        assert "auth failed (401" in line


def test_unreachable_and_bad_config(tmp_path: Path) -> None:
    config = {"base_url": "http://127.0.0.1:9", "project_id": "ws-x", "pat": "someToken123"}
    code, lines = run_check(config, tmp_path)
    assert code == 1
    assert all("unreachable" in line for line in lines)

    code, lines = run_check({"project_id": "ws-x"}, tmp_path)
    assert code == 2
    assert lines == []


def test_config_from_environment(emulator: Emulator) -> None:
    """`--config ENV`, as `meltano invoke tap-indigo-analytics:check` runs it."""
    config = workspace_config(emulator, "ws-beta")
    env = {
        **os.environ,
        "TAP_INDIGO_ANALYTICS_BASE_URL": emulator.base_url,
        "TAP_INDIGO_ANALYTICS_WORKSPACES": json.dumps(config["workspaces"]),
        "TAP_INDIGO_ANALYTICS_REQUEST_TIMEOUT": "30",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "tap_indigo_analytics.contract_check", "--config", "ENV"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert_no_secret(proc.stdout + proc.stderr, config)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert {r.project_id for r in emulator.requests()} == {"ws-beta"}


def test_a_server_that_echoes_the_token_does_not_get_it_printed(
    emulator: Emulator, tmp_path: Path
) -> None:
    config = workspace_config(emulator, "ws-alpha")
    token = config["workspaces"][0]["pat"].removeprefix("pat-")
    emulator.faults.status_every_n = 1
    emulator.faults.status_code = 401
    emulator.faults.status_message = f"token Bearer pat-{token} ({token}) is not valid"
    code, lines = run_check(config, tmp_path)  # run_check fails on any form of the token
    assert code == 1
    assert len(lines) == len(STREAMS)
    for line in lines:
        assert "auth failed (401 token *** (***) is not valid" in line
