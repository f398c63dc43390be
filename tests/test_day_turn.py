"""A test that fails while the UTC day turns runs once more (tests/conftest.py's hook);
any other failure is reported at once."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

CONFTEST = Path(__file__).with_name("conftest.py")

INNER = """
import datetime as dt
import sys

RUNS = {"turning": 0, "failing": 0}


def test_fails_as_the_day_turns_then_passes() -> None:
    conftest = sys.modules["conftest"]
    RUNS["turning"] += 1
    if RUNS["turning"] == 1:
        today = conftest.today
        conftest.today = lambda: today() + dt.timedelta(days=1)  # midnight, mid-test
        raise AssertionError("the expected days were worked out yesterday")


def test_a_real_failure_is_reported_after_one_try() -> None:
    RUNS["failing"] += 1
    assert RUNS["failing"] == 1, "ran twice"
    raise AssertionError("a real failure")
"""


def test_only_a_failure_across_midnight_runs_again(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST.read_text())
    pytester.makepyfile(test_inner=INNER)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:xdist")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["*FAILED test_inner.py::test_a_real_failure_is_reported_after_one_try*"]
    )
