"""Running the tap's command line: in this process (fast) or as its own process (true).

``run_tap`` runs the real click command, ``TapIndigoAnalytics.cli``, inside the test's
process: the same option parsing, config and state files, one-line errors and exit codes,
with stdout and stderr caught in memory. It saves the ~0.5 s a fresh interpreter pays
to import the SDK, so most sync tests use it. What only a real process shows - signals,
broken pipes, what reaches the file descriptors, ``SINGER_SDK_LOG_CONFIG`` (it
reconfigures every logger of the interpreter) - runs with ``cli=True``, as a subprocess.

Both fail the test when a configured token appears in what the tap printed.
"""

from __future__ import annotations

import contextlib
import faulthandler
import io
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.workspaces import WORKSPACES

#: Environment variables that make the in-process run differ from the CLI's: the SDK
#: applies a logging config file to the whole interpreter.
PROCESS_ONLY_ENV = frozenset({"SINGER_SDK_LOG_CONFIG"})


@dataclass
class TapRun:
    """What one run of the tap's command line printed."""

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
    cli: bool = False,
) -> TapRun:
    """Run the tap's command line with ``config`` (and ``state``) and what it printed.

    In this process unless ``cli`` (or an ``env`` only a process can honour) asks for a
    subprocess. ``timeout`` ends a hung in-process run by ending the test worker, with
    every thread's traceback on stderr.
    """
    with tempfile.TemporaryDirectory() as tmp:
        argv = ["--config", _write(Path(tmp, "config.json"), config), *args]
        if state is not None:
            argv += ["--state", _write(Path(tmp, "state.json"), state)]
        if cli or PROCESS_ONLY_ENV & set(env or {}):
            proc = subprocess.run(
                [*tap_command(), *argv],
                capture_output=True,
                text=True,
                timeout=timeout,
                env={**os.environ, **(env or {})},
                check=False,
            )
            run = TapRun(proc.returncode, proc.stdout, proc.stderr)
        else:
            run = _in_process(argv, env or {}, timeout)
    if not {"--discover", "--about"} & set(args):  # those print one JSON document, not messages
        run.messages = [json.loads(line) for line in run.stdout.splitlines() if line]
    assert_no_secret(run.stdout + run.stderr, config)
    return run


def _write(path: Path, document: dict[str, Any]) -> str:
    path.write_text(json.dumps(document))
    return str(path)


def _in_process(argv: list[str], env: dict[str, str], timeout: float) -> TapRun:
    # Imported here: a test module that only runs subprocesses never pays for the SDK.
    from tap_indigo_analytics.tap import TapIndigoAnalytics

    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
    err = io.StringIO()
    with (
        _process_globals_restored(env),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        faulthandler.dump_traceback_later(timeout, exit=True, file=sys.__stderr__ or 2)
        try:
            # ``cli`` sets up the SDK's console logging on sys.stderr (caught here).
            TapIndigoAnalytics.cli.main(argv, prog_name=TapIndigoAnalytics.name)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:  # what the interpreter would hand to sys.excepthook
            sys.excepthook(*sys.exc_info())
            code = 1
        finally:
            faulthandler.cancel_dump_traceback_later()
    stdout = out.buffer.getvalue().decode()
    return TapRun(code, stdout, err.getvalue())


@contextlib.contextmanager
def _process_globals_restored(env: dict[str, str]) -> Iterator[None]:
    """``env`` set, and everything the command line changes for its process put back:
    the environment, root logging, warning filters, signal handlers, the excepthook."""
    saved_env = os.environ.copy()
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    saved_signals = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    saved_hook = sys.excepthook
    os.environ.update(env)
    try:
        with warnings.catch_warnings():
            yield
    finally:
        logging.captureWarnings(capture=False)
        for added in set(root.handlers) - set(saved_handlers):
            root.removeHandler(added)
        root.setLevel(saved_level)
        for signum, previous in saved_signals.items():
            signal.signal(signum, previous)
        sys.excepthook = saved_hook
        os.environ.clear()
        os.environ.update(saved_env)


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
