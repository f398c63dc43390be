"""Bad config: a non-zero exit, one line naming the key, no request, no token in the output."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import WORKSPACES, run_tap
from tests.emulator import Emulator

TOKEN = WORKSPACES["ws-alpha"]


def single(emulator: Emulator, **overrides: Any) -> dict[str, Any]:
    """A one-workspace config in the `pat` + `project_id` form."""
    config: dict[str, Any] = {"base_url": emulator.base_url, "project_id": "ws-alpha", "pat": TOKEN}
    config.update(overrides)
    return {k: v for k, v in config.items() if v is not None}


CASES: dict[str, tuple[dict[str, Any], str]] = {
    "no workspace": ({"pat": None, "project_id": None}, "no workspace configured"),
    "pat without project_id": ({"project_id": None}, "`workspaces`"),
    "both forms": (
        {"workspaces": [{"project_id": "ws-beta", "pat": WORKSPACES["ws-beta"]}]},
        "not both",
    ),
    "empty pat": ({"pat": "  "}, "`pat` is empty"),
    "pat with a space": ({"pat": f"pat-{TOKEN} x"}, "`pat` is empty or contains whitespace"),
    "project_id with a slash": ({"project_id": "ws/alpha"}, "`project_id` 'ws/alpha'"),
    "project_id with a query": ({"project_id": "ws?x=1"}, "`project_id`"),
    "bad start_date": ({"start_date": "2026-13-01"}, "start_date"),
    "bad end_date": ({"end_date": "27/11/2026"}, "end_date"),
    "end before start": ({"start_date": "2026-05-02", "end_date": "2026-05-01"}, "end_date"),
    "page_size zero": ({"page_size": 0}, "page_size"),
    "page_size over 365": ({"page_size": 366}, "page_size"),
    "negative lookback": ({"lookback_days": -1}, "lookback_days"),
    "zero budget": ({"requests_per_minute": 0}, "requests_per_minute"),
    "plain http to a remote host": ({"base_url": "http://platform.indigo.ai"}, "base_url"),
    "not a url": ({"base_url": "platform.indigo.ai"}, "base_url"),
    "zero timeout": ({"request_timeout": 0}, "request_timeout"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_config_fails_before_any_request(emulator: Emulator, case: str) -> None:
    overrides, key_text = CASES[case]
    run = run_tap(single(emulator, **overrides))
    assert run.returncode != 0
    errors = [line for line in run.error_lines() if "Config validation failed" not in line]
    assert len(errors) == 1, run.stderr
    assert key_text in errors[0]
    assert "Traceback" not in run.stderr
    assert emulator.requests() == []


@pytest.mark.parametrize(
    ("entries", "key_text"),
    [
        ([], "non-empty list"),
        ([{"project_id": "ws-alpha"}], "pat"),
        ([{"pat": TOKEN}], "project_id"),
        (
            [{"project_id": "ws-alpha", "pat": TOKEN}, {"project_id": "ws-alpha", "pat": TOKEN}],
            "listed twice",
        ),
        (["ws-alpha"], "workspaces"),
    ],
)
def test_bad_workspace_entries(emulator: Emulator, entries: list[Any], key_text: str) -> None:
    run = run_tap({"base_url": emulator.base_url, "workspaces": entries})
    assert run.returncode != 0
    assert any(key_text in line for line in run.error_lines()), run.stderr
    assert "Traceback" not in run.stderr
    assert emulator.requests() == []


def test_a_token_in_a_malformed_entry_is_not_echoed(emulator: Emulator) -> None:
    # jsonschema quotes the offending value; a list in place of an object would print the token.
    run = run_tap({"base_url": emulator.base_url, "workspaces": [["ws-alpha", TOKEN]]})
    assert run.returncode != 0
    assert TOKEN not in run.stderr  # run_tap checks too; explicit here because it is the point


@pytest.mark.parametrize("form", [TOKEN, f"pat-{TOKEN}", f"Bearer pat-{TOKEN}", f" {TOKEN}\n"])
def test_every_pasted_form_of_the_pat_sends_one_prefix(emulator: Emulator, form: str) -> None:
    # The emulator answers 401 to `pat-pat-…`, so a success proves the header is right.
    run = run_tap(single(emulator, pat=form, start_date="2026-01-01", end_date="2026-01-02"))
    assert run.returncode == 0, run.stderr[-2000:]
    assert len(run.records("daily_chats")) == 2
    assert all(r.authorized for r in emulator.requests())


def test_loopback_http_is_allowed_for_the_emulator(emulator: Emulator) -> None:
    localhost = emulator.base_url.replace("127.0.0.1", "localhost")
    run = run_tap(
        single(emulator, base_url=localhost, start_date="2026-01-01", end_date="2026-01-01")
    )
    assert run.returncode == 0, run.stderr[-2000:]
