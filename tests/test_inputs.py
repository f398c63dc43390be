"""Unusable files and variables: one ERROR line naming the file or variable, exit 1, no request.

`--config`, `--state` and `--catalog` of the Singer tap, `--config ENV`, and the contract
check's `--config`, all through the one loader in ``tap_indigo_analytics/inputs.py``.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tap_indigo_analytics.inputs import InputError, load_json_file
from tests.conftest import WORKSPACES, assert_no_secret, tap_command, today, workspace_config
from tests.emulator import Emulator

TOKEN = WORKSPACES["ws-alpha"]
#: Variables a developer may have exported must not leak into these runs.
CLEAN_ENV = {k: v for k, v in os.environ.items() if not k.startswith("TAP_INDIGO_ANALYTICS_")}


def run_cli(
    args: list[str], *, env: dict[str, str] | None = None, check_module: bool = False
) -> subprocess.CompletedProcess[str]:
    """The tap CLI (or the contract check) as users run it; fails on any token in the output."""
    command = (
        [sys.executable, "-m", "tap_indigo_analytics.contract_check"]
        if check_module
        else tap_command()
    )
    proc = subprocess.run(
        [*command, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**CLEAN_ENV, **(env or {})},
        check=False,
    )
    assert_no_secret(proc.stdout + proc.stderr, {"pat": TOKEN})
    return proc


def the_error(proc: subprocess.CompletedProcess[str]) -> str:
    """The run's one ERROR line (failing if there are more, or a traceback)."""
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "| ERROR" in line]
    assert len(errors) == 1, proc.stderr
    return errors[0]


@pytest.fixture
def config_file(emulator: Emulator, tmp_path: Path) -> Path:
    """A valid config for one workspace of the emulator, reading today only."""
    path = tmp_path / "config.json"
    config = workspace_config(emulator, "ws-alpha", start_date=today().isoformat())
    path.write_text(json.dumps(config))
    return path


BAD_FILES: dict[str, tuple[bytes | None, str]] = {
    "missing": (None, "does not exist"),
    "not JSON": (
        b'{"pat": "x",\n "project_id": }',
        "is not valid JSON: Expecting value at line 2, column 16",
    ),
    "empty": (b"  \n", "is empty; it must hold a JSON document"),
    "not UTF-8": (b'{"a": "\xff"}', "is not UTF-8 text (byte 7)"),
    "nested too deeply": (
        b"[" * 100_000 + b"]" * 100_000,
        "is not usable: its JSON is nested too deeply",
    ),
    "NaN": (b'{"a": NaN}', "is not valid JSON: NaN is not a JSON number"),
}


def write_input(tmp_path: Path, content: bytes | None, name: str = "input.json") -> Path:
    """A file holding ``content`` (None: a path that does not exist)."""
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    return path


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_loader_names_the_file_and_the_problem(tmp_path: Path, case: str) -> None:
    content, problem = BAD_FILES[case]
    path = write_input(tmp_path, content)
    with pytest.raises(InputError) as raised:
        load_json_file(path, "state")
    message = str(raised.value)
    assert message.startswith(f"state file {str(path)!r} {problem}")
    assert "\n" not in message


def test_loader_names_a_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"config file '.*' is a directory, not a file"):
        load_json_file(tmp_path, "config")


def test_loader_names_an_unreadable_file() -> None:
    """As root (CI runs as root, and root reads any file) the loader runs as `nobody`."""
    folder = Path(tempfile.mkdtemp(prefix="indigo-unreadable-"))
    try:
        folder.chmod(0o755)
        path = write_input(folder, b"{}")
        path.chmod(0)
        if os.geteuid() != 0:
            with pytest.raises(InputError, match="cannot be read: permission denied"):
                load_json_file(path, "config")
            return
        # A forked child drops to `nobody` and asks; the interpreter it needs is already
        # loaded (it lives under /root, which `nobody` could not start it from).
        reader, writer = os.pipe()
        child = os.fork()
        if child == 0:  # pragma: no cover - the child process
            try:
                nobody = pwd.getpwnam("nobody")
                os.setgid(nobody.pw_gid)
                os.setuid(nobody.pw_uid)
                load_json_file(path, "config")
                os.write(writer, b"read it")
            except InputError as exc:
                os.write(writer, str(exc).encode())
            finally:
                os._exit(0)
        os.close(writer)
        os.waitpid(child, 0)
        with os.fdopen(reader) as answer:
            message = answer.read()
        assert message == f"config file {str(path)!r} cannot be read: permission denied"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize("option", ["--config", "--state", "--catalog"])
@pytest.mark.parametrize("case", ["missing", "not JSON", "empty"])
def test_the_tap_cli_fails_in_one_line_naming_the_file(
    emulator: Emulator, config_file: Path, tmp_path: Path, option: str, case: str
) -> None:
    content, problem = BAD_FILES[case]
    path = write_input(tmp_path, content, name=f"bad-{option[2:]}.json")
    args = ["--config", str(path)] if option == "--config" else ["--config", str(config_file)]
    if option != "--config":
        args += [option, str(path)]
    proc = run_cli(args)
    assert proc.returncode == 1
    error = the_error(proc)
    assert f"{option[2:]} file {str(path)!r} {problem}" in error
    assert emulator.requests() == []
    assert proc.stdout == ""


@pytest.mark.parametrize(
    ("option", "content", "problem"),
    [
        ("--config", b'["pat", "x"]', "must hold a JSON object {...}, not an array"),
        ("--state", b"[]", "must hold a JSON object {...}, not an array"),
        ("--catalog", b'"streams"', "must hold a JSON object {...}, not a string"),
        ("--catalog", b'{"streams": 3}', 'must hold {"streams": [...]}, a Singer catalog'),
        ("--catalog", b'{"streams": [{"stream": "x"}]}', "is not a Singer catalog (KeyError"),
    ],
)
def test_a_file_of_the_wrong_shape_is_named(
    emulator: Emulator,
    config_file: Path,
    tmp_path: Path,
    option: str,
    content: bytes,
    problem: str,
) -> None:
    path = write_input(tmp_path, content, name="wrong.json")
    args = ["--config", str(path)] if option == "--config" else ["--config", str(config_file)]
    if option != "--config":
        args += [option, str(path)]
    proc = run_cli(args)
    assert proc.returncode == 1
    assert f"{option[2:]} file {str(path)!r} {problem}" in the_error(proc)
    assert emulator.requests() == []


def test_a_good_catalog_file_still_selects_streams(
    emulator: Emulator, config_file: Path, tmp_path: Path
) -> None:
    discovered = json.loads(run_cli(["--config", str(config_file), "--discover"]).stdout)
    for entry in discovered["streams"]:
        for metadata in entry["metadata"]:
            if metadata["breadcrumb"] == []:
                metadata["metadata"]["selected"] = entry["tap_stream_id"] == "daily_chats"
    catalog = write_input(tmp_path, json.dumps(discovered).encode(), name="catalog.json")
    proc = run_cli(["--config", str(config_file), "--catalog", str(catalog)])
    assert proc.returncode == 0, proc.stderr[-2000:]
    streams = {
        json.loads(line)["stream"] for line in proc.stdout.splitlines() if '"RECORD"' in line
    }
    assert streams == {"daily_chats"}
    assert {r.stream for r in emulator.requests()} == {"daily_chats"}


BAD_VARIABLES: dict[str, tuple[str, str, str]] = {
    "page size not a number": (
        "PAGE_SIZE",
        "abc",
        "environment variable TAP_INDIGO_ANALYTICS_PAGE_SIZE must be a whole number (got 'abc')",
    ),
    "page size a fraction": (
        "PAGE_SIZE",
        "0.5",
        "environment variable TAP_INDIGO_ANALYTICS_PAGE_SIZE must be a whole number (got '0.5')",
    ),
    "workspaces not JSON": (
        "WORKSPACES",
        f"[{{project_id: ws-alpha, pat: {TOKEN}}}]",
        "environment variable TAP_INDIGO_ANALYTICS_WORKSPACES is not valid JSON: "
        "Expecting property name enclosed in double quotes at line 1, column 3",
    ),
    "workspaces an object": (
        "WORKSPACES",
        json.dumps({"project_id": "ws-alpha", "pat": TOKEN}),
        "environment variable TAP_INDIGO_ANALYTICS_WORKSPACES must be a JSON array, not an object",
    ),
    "flattening not a boolean": (
        "FLATTENING_ENABLED",
        "maybe",
        "environment variable TAP_INDIGO_ANALYTICS_FLATTENING_ENABLED must be true or false "
        "(got 'maybe')",
    ),
}


def bad_variable_env(emulator: Emulator, case: str) -> dict[str, str]:
    """One workspace of the emulator from the environment, plus the case's bad variable."""
    name, value, _ = BAD_VARIABLES[case]
    env = {"TAP_INDIGO_ANALYTICS_BASE_URL": emulator.base_url}
    if name != "WORKSPACES":
        env.update(TAP_INDIGO_ANALYTICS_PROJECT_ID="ws-alpha", TAP_INDIGO_ANALYTICS_PAT=TOKEN)
    env[f"TAP_INDIGO_ANALYTICS_{name}"] = value
    return env


@pytest.mark.parametrize("case", sorted(BAD_VARIABLES))
def test_the_tap_names_a_bad_variable(emulator: Emulator, case: str) -> None:
    proc = run_cli(["--config", "ENV"], env=bad_variable_env(emulator, case))
    assert proc.returncode == 1
    assert the_error(proc).endswith(BAD_VARIABLES[case][2])
    assert emulator.requests() == []


# The contract check reads only the tap's own settings (no flattening).
@pytest.mark.parametrize("case", sorted(set(BAD_VARIABLES) - {"flattening not a boolean"}))
def test_the_contract_check_names_a_bad_variable(emulator: Emulator, case: str) -> None:
    proc = run_cli(["--config", "ENV"], env=bad_variable_env(emulator, case), check_module=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == BAD_VARIABLES[case][2]
    assert emulator.requests() == []


def test_config_env_runs_the_tap(emulator: Emulator) -> None:
    env = {
        "TAP_INDIGO_ANALYTICS_BASE_URL": emulator.base_url,
        "TAP_INDIGO_ANALYTICS_PROJECT_ID": "ws-alpha",
        "TAP_INDIGO_ANALYTICS_PAT": f"pat-{TOKEN}",
        "TAP_INDIGO_ANALYTICS_START_DATE": today().isoformat(),
        "TAP_INDIGO_ANALYTICS_PAGE_SIZE": "30",
    }
    proc = run_cli(["--config", "ENV"], env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert {r.params["limit"] for r in emulator.requests()} == {"30"}
    assert len(emulator.requests()) == 6


def test_the_contract_check_names_a_bad_config_file(tmp_path: Path) -> None:
    path = write_input(tmp_path, b'{"pat": "' + TOKEN.encode() + b'",}')
    proc = run_cli(["--config", str(path)], check_module=True)
    assert proc.returncode == 2
    (line,) = proc.stderr.splitlines()
    assert line.startswith(f"config file {str(path)!r} is not valid JSON: ")
    assert line.endswith(("at line 1, column 31", "at line 1, column 32"))  # by Python version
    assert "Traceback" not in proc.stderr


def test_the_contract_check_names_the_key(tmp_path: Path) -> None:
    path = write_input(tmp_path, json.dumps({"pat": 12345678901, "project_id": "p"}).encode())
    proc = run_cli(["--config", str(path)], check_module=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "config `pat` must be a string (the token, in quotes)"
    assert "12345678901" not in proc.stdout + proc.stderr
