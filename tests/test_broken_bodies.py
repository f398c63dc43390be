"""Answers that break on the way in say so in one human line (issue: field-ready
fetching, case 7): a corrupt gzip body is named as such, never a Python tuple, and is
retried like any broken answer. (A try cut while its headers arrive is a timeout:
tests/test_networks.py.)
"""

from __future__ import annotations

from tests.conftest import days_back, run_tap, workspace_config
from tests.emulator import Emulator, Faults

ALPHA = "ws-alpha"


def test_a_corrupt_gzip_body_is_one_line_after_its_retries(emulator: Emulator) -> None:
    emulator.faults = Faults(corrupt_gzip=True)
    config = workspace_config(
        emulator, ALPHA, start_date=days_back(9), max_tries=2, backoff_seconds=0, fail_fast=True
    )
    run = run_tap(config)
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    error = run.error_lines()[-1]
    assert "gave up after 2 tries: the gzip compressed body is corrupt" in error, error
    assert "('" not in error  # no repr of urllib3's tuple
    assert "Error(" not in error
    assert [r.fault for r in emulator.requests()][:2] == ["corrupt_gzip", "corrupt_gzip"]
    assert not run.records()
