"""SIGTERM (as PyAirbyte and the platform send it) at any moment of ``check`` and ``read``.

Each process must be gone within 2 s, killed by the signal itself (-15: the one
exit besides 0 that Airbyte clients take as clean), or finished normally if the
signal came after its end. A read stopped mid-way ends every configured stream
INCOMPLETE (after a transient TRACE ERROR); every line it printed is still a
valid Airbyte message. The moments are random, from a seed the failure names.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.airbyte_support import (
    SourceRun,
    configured_catalog,
    finish_run,
    source_command,
    write_inputs,
)
from tests.conftest import STREAMS, days_back, workspace_config
from tests.emulator import Emulator

MOMENTS = 10  # per command: 20 in all
#: Generous: the watchdog ends a stuck process after 1 s.
GONE_WITHIN_S = 2.0
SEED = int(os.environ.get("TAP_INDIGO_SIGNAL_SEED", random.randrange(1 << 30)))


@dataclass
class Stopped:
    """One run, signalled ``after`` seconds from its start (or never)."""

    run: SourceRun
    signalled: bool
    gone_after_s: float


def run_and_signal(
    command: str,
    config: dict[str, Any],
    catalog: dict[str, Any] | None,
    after: float | None,
    signum: int = signal.SIGTERM,
    *,
    once_printed: str | None = None,
) -> Stopped:
    """Start ``command``, send ``signum`` ``after`` seconds in (unless it ended), wait for it.

    With ``once_printed``, the seconds count from when its stdout first shows that text.
    """
    with tempfile.TemporaryDirectory() as tmp:
        args = source_command(command) + write_inputs(tmp, config, catalog, None)
        out_path, err_path = Path(tmp, "stdout"), Path(tmp, "stderr")
        # Files, not pipes: a full pipe nobody reads would stall the process by itself.
        with out_path.open("w") as out, err_path.open("w") as err:
            proc = subprocess.Popen(args, stdout=out, stderr=err, env=os.environ)
            try:
                signalled = False
                if once_printed is not None:
                    wait_for_text(out_path, once_printed, proc)
                if after is not None:
                    time.sleep(after)
                    if proc.poll() is None:
                        proc.send_signal(signum)
                        signalled = True
                sent = time.monotonic()
                proc.wait(timeout=GONE_WITHIN_S if signalled else 120)
                gone_after = time.monotonic() - sent
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        run = finish_run(proc.returncode, out_path.read_text(), err_path.read_text(), config)
    return Stopped(run, signalled, gone_after)


def wait_for_text(path: Path, text: str, proc: subprocess.Popen[bytes]) -> None:
    """Return once ``path`` holds ``text`` (fails if the process ends or a minute passes)."""
    deadline = time.monotonic() + 60
    while text not in path.read_text():
        assert proc.poll() is None, f"ended before printing {text!r}"
        assert time.monotonic() < deadline, f"never printed {text!r}"
        time.sleep(0.01)


def protocol_messages(run: SourceRun) -> list[dict[str, Any]]:
    return [m for m in run.messages if m["type"] != "LOG"]


def assert_check_ended_cleanly(stopped: Stopped) -> None:
    run = stopped.run
    if run.returncode == 0:  # the signal came after the answer, or never
        assert run.one("CONNECTION_STATUS") == {"status": "SUCCEEDED"}
        return
    assert stopped.signalled
    assert run.returncode == -signal.SIGTERM, run.stderr[-2000:]
    # Stopped before or after its answer: never half an answer or another message.
    assert [m["type"] for m in protocol_messages(run)] in ([], ["CONNECTION_STATUS"])


def assert_read_ended_cleanly(stopped: Stopped, streams: tuple[str, ...], signum: int) -> None:
    run = stopped.run
    if run.returncode == 0:
        assert not run.errors()
        for stream in streams:
            assert run.statuses(stream)[-1] == "COMPLETE", stream
        return
    assert stopped.signalled
    assert run.returncode == -signum, run.stderr[-2000:]
    if not protocol_messages(run):
        return  # stopped before the read began: there is nothing to close
    last = {stream: run.statuses(stream)[-1:] for stream in streams}
    assert all(s in (["COMPLETE"], ["INCOMPLETE"]) for s in last.values()), last
    if not run.errors() and all(s == ["COMPLETE"] for s in last.values()):
        return  # stopped after its last message: the read is whole
    assert ["INCOMPLETE"] in last.values(), "a stopped read must not look finished"
    (error,) = run.errors()
    assert error["failure_type"] == "transient_error"
    assert signal.Signals(signum).name in error["message"]
    # A stream that ended is not reopened; nothing follows the closing statuses and error.
    for stream in streams:
        assert (
            run.statuses(stream).count("COMPLETE") + run.statuses(stream).count("INCOMPLETE") == 1
        ), stream


@pytest.fixture
def slow_read(emulator: Emulator) -> tuple[dict[str, Any], dict[str, Any]]:
    """A read of every stream that takes a few seconds: 48 requests of 50 ms, one at a time."""
    emulator.faults.latency_s = 0.05
    config = workspace_config(emulator, start_date=days_back(39), page_size=10, max_concurrency=1)
    return config, configured_catalog(dict.fromkeys(STREAMS, "incremental"))


def test_sigterm_at_random_moments_of_check(emulator: Emulator) -> None:
    emulator.faults.latency_s = 0.05
    config = workspace_config(emulator)
    baseline = run_and_signal("check", config, None, None)
    assert_check_ended_cleanly(baseline)
    duration = baseline.gone_after_s
    rng = random.Random(SEED)
    for moment in sorted(rng.uniform(0.0, duration * 1.1) for _ in range(MOMENTS)):
        stopped = run_and_signal("check", config, None, moment)
        context = f"seed {SEED}, SIGTERM {moment:.3f} s into a {duration:.2f} s check"
        assert stopped.gone_after_s < GONE_WITHIN_S, context
        try:
            assert_check_ended_cleanly(stopped)
        except AssertionError as exc:
            raise AssertionError(f"{context}: {exc}") from exc


def test_sigterm_at_random_moments_of_read(
    slow_read: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    config, catalog = slow_read
    baseline = run_and_signal("read", config, catalog, None)
    assert_read_ended_cleanly(baseline, STREAMS, signal.SIGTERM)
    duration = baseline.gone_after_s
    rng = random.Random(SEED + 1)
    for moment in sorted(rng.uniform(0.0, duration) for _ in range(MOMENTS)):
        stopped = run_and_signal("read", config, catalog, moment)
        context = f"seed {SEED}, SIGTERM {moment:.3f} s into a {duration:.2f} s read"
        assert stopped.gone_after_s < GONE_WITHIN_S, context
        try:
            assert_read_ended_cleanly(stopped, STREAMS, signal.SIGTERM)
        except AssertionError as exc:
            raise AssertionError(f"{context}: {exc}") from exc
    # Start-up takes a share of those moments that grows with the machine's load, so the
    # mid-read case is made sure of separately: within 1 s of the first RECORD of a read
    # whose requests alone take 2.4 s, the streams are still open.
    for moment in sorted(rng.uniform(0.0, 1.0) for _ in range(MOMENTS // 3)):
        stopped = run_and_signal("read", config, catalog, moment, once_printed='"RECORD"')
        context = f"seed {SEED}, SIGTERM {moment:.3f} s after the first RECORD"
        assert stopped.signalled, context
        assert stopped.gone_after_s < GONE_WITHIN_S, context
        try:
            assert_read_ended_cleanly(stopped, STREAMS, signal.SIGTERM)
        except AssertionError as exc:
            raise AssertionError(f"{context}: {exc}") from exc
        assert stopped.run.errors(), f"{context}: the read had ended"


def test_ctrl_c_mid_read_ends_it_by_sigint(
    slow_read: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    config, catalog = slow_read
    # Once the read is under way, and long before its end (several seconds).
    stopped = run_and_signal("read", config, catalog, 0.2, signal.SIGINT, once_printed='"RECORD"')
    assert stopped.signalled
    assert stopped.gone_after_s < GONE_WITHIN_S
    assert stopped.run.returncode == -signal.SIGINT
    assert_read_ended_cleanly(stopped, STREAMS, signal.SIGINT)
    assert stopped.run.errors()


#: A process whose main thread swallows the stop and carries on (as a library's broad
#: ``except BaseException`` would): only the watchdog can end it.
STUBBORN = """
import sys, time
from tap_indigo_analytics.airbyte import signals

signals.install()
signals.on_force(lambda: print("last words", flush=True))
print("ready", flush=True)

def carry_on():
    while True:
        try:
            time.sleep(0.05)
        except BaseException:
            pass

while True:  # the stop may also land between the inner loop's statements
    try:
        carry_on()
    except BaseException:
        pass
"""


def test_the_watchdog_ends_a_process_that_ignores_the_stop() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", STUBBORN], stdout=subprocess.PIPE, text=True, env=os.environ
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "ready\n"
        time.sleep(0.2)  # into its loop
        proc.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        proc.wait(timeout=GONE_WITHIN_S)
        gone_after = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGTERM
    assert proc.stdout.read() == "last words\n"
    assert gone_after >= 0.9  # the orderly path had its second first
