"""The README is a contract with new users: its settings table and commands must be true."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.sync_readme import README, about_settings_table, readme_settings_table

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.pinned_sdk
def test_settings_table_is_what_about_prints_today() -> None:
    assert readme_settings_table(README.read_text()) == about_settings_table(), (
        "README settings table is stale: run `make docs`"
    )


def test_first_screen_gives_the_two_commands_and_ci_runs_the_test_one() -> None:
    first_screen = "\n".join(README.read_text().splitlines()[:40])
    assert "make demo" in first_screen
    assert "make test" in first_screen
    assert "make test" in (ROOT / ".ci" / "run").read_text()
