"""Bad config: a non-zero exit, one line naming the key, no request, no token in the output."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.conftest import WORKSPACES, run_tap, today
from tests.emulator import Emulator

TOKEN = WORKSPACES["ws-alpha"]


def single(emulator: Emulator, **overrides: Any) -> dict[str, Any]:
    """A one-workspace config in the `pat` + `project_id` form."""
    config: dict[str, Any] = {"base_url": emulator.base_url, "project_id": "ws-alpha", "pat": TOKEN}
    config.update(overrides)
    return {k: v for k, v in config.items() if v is not None}


TOMORROW = (today() + dt.timedelta(days=1)).isoformat()

#: config overrides -> the whole message after "config ", which names the key the user gave.
CASES: dict[str, tuple[dict[str, Any], str]] = {
    "no workspace": ({"pat": None, "project_id": None}, "`pat` and `project_id` are not set"),
    "pat without project_id": ({"project_id": None}, "`project_id` is missing"),
    "project_id without pat": ({"pat": None}, "`pat` is missing"),
    "both forms": (
        {"workspaces": [{"project_id": "ws-beta", "pat": WORKSPACES["ws-beta"]}]},
        "`workspaces` is set together with `pat` and `project_id`",
    ),
    "empty pat": ({"pat": "  "}, "`pat` is empty or contains whitespace"),
    "pat with a space": ({"pat": f"pat-{TOKEN} x"}, "`pat` is empty or contains whitespace"),
    "numeric pat": ({"pat": 123456789012}, "`pat` must be a string (the token, in quotes)"),
    "non-latin-1 pat": ({"pat": "tökenSecret€€42"}, "`pat` contains characters a token cannot"),
    "project_id with a slash": ({"project_id": "ws/alpha"}, "`project_id` 'ws/alpha' must be"),
    "project_id with a query": ({"project_id": "ws?x=1"}, "`project_id` 'ws?x=1' must be"),
    "project_id dot": ({"project_id": "."}, "`project_id` '.' is not a workspace id"),
    "project_id dot dot": ({"project_id": ".."}, "`project_id` '..' is not a workspace id"),
    "project_id with a fragment": ({"project_id": "ws#1"}, "`project_id` 'ws#1' must be"),
    "numeric project_id": ({"project_id": 7}, "`project_id` must be a string: put it in quotes"),
    "bad start_date": ({"start_date": "2026-13-01"}, "`start_date` '2026-13-01' is not a date"),
    "start_date after today": (
        {"start_date": TOMORROW},
        f"`start_date` {TOMORROW} is after today ({today()}, UTC)",
    ),
    "bad end_date": ({"end_date": "27/11/2026"}, "`end_date` '27/11/2026' is not a date"),
    "end before start": (
        {"start_date": "2026-05-02", "end_date": "2026-05-01"},
        "`end_date` 2026-05-01 is before `start_date` 2026-05-02",
    ),
    "page_size zero": (
        {"page_size": 0},
        "`page_size` must be a whole number from 1 to 365 (got 0)",
    ),
    "page_size fraction": (
        {"page_size": 0.1},
        "`page_size` must be a whole number from 1 to 365 (got 0.1)",
    ),
    "page_size text": ({"page_size": "abc"}, "`page_size` must be a whole number from 1 to 365"),
    "page_size over 365": ({"page_size": 366}, "`page_size` must be a whole number from 1 to 365"),
    "negative lookback": ({"lookback_days": -1}, "`lookback_days` must be a whole number from 0"),
    "huge lookback": (
        {"lookback_days": 10**30},
        "`lookback_days` must be a whole number from 0 to 3650 (got a number of 31 characters)",
    ),
    "huge float lookback": ({"lookback_days": 1e300}, "`lookback_days` must be a whole number"),
    "boolean timeout": ({"request_timeout": True}, "`request_timeout` must be a whole number"),
    "zero budget": ({"requests_per_minute": 0}, "`requests_per_minute` must be a whole number"),
    "plain http to a remote host": ({"base_url": "http://platform.indigo.ai"}, "`base_url`"),
    "not a url": ({"base_url": "platform.indigo.ai"}, "`base_url` 'platform.indigo.ai' is not"),
    "zero timeout": (
        {"request_timeout": 0},
        "`request_timeout` must be a whole number of at least 1 (got 0)",
    ),
    "an SDK setting of the wrong type": (
        {"flattening_max_depth": "deep"},
        "`flattening_max_depth`: 'deep' is not of type",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_config_fails_before_any_request(emulator: Emulator, case: str) -> None:
    overrides, message = CASES[case]
    config = single(emulator, **overrides)
    run = run_tap(config)
    assert run.returncode == 1
    (error,) = run.error_lines()  # one line, and no "Config validation failed" after it
    assert error.endswith(f"| config {message}") or f"| config {message}" in error, error
    assert "Traceback" not in run.stderr
    assert emulator.requests() == []
    # run_tap checks string tokens; a number or a character of one must not show either.
    for token in (overrides.get("pat"),):
        if isinstance(token, int):
            assert str(token) not in run.stderr
        elif isinstance(token, str) and not token.isascii():
            assert not {c for c in token if not c.isascii()} & set(run.stderr)


def test_every_problem_gets_its_own_line(emulator: Emulator) -> None:
    run = run_tap(single(emulator, page_size=0, start_date="soon", base_url="ftp://x"))
    assert run.returncode == 1
    errors = run.error_lines()
    assert len(errors) == 3, run.stderr
    for key in ("page_size", "start_date", "base_url"):
        assert sum(f"config `{key}`" in line for line in errors) == 1


def test_an_unknown_key_is_named_with_the_closest_setting(emulator: Emulator) -> None:
    day = (today() - dt.timedelta(days=1)).isoformat()
    config = single(emulator, start_date=day, pagesize=30, colour="blue")
    run = run_tap(config)
    assert run.returncode == 0, run.stderr[-2000:]
    warnings = [line for line in run.stderr.splitlines() if "| WARNING" in line]
    assert sum("`pagesize`" in line for line in warnings) == 1
    assert any(
        "`pagesize` is not a setting" in w and "did you mean `page_size`?" in w for w in warnings
    )
    colour = [w for w in warnings if "`colour`" in w]
    assert len(colour) == 1
    assert "did you mean" not in colour[0]


def test_a_typo_in_project_id_says_what_is_missing_and_what_was_meant(emulator: Emulator) -> None:
    config = single(emulator, project_id=None, projectid="ws-alpha")
    run = run_tap(config)
    assert run.returncode == 1
    assert any("did you mean `project_id`?" in line for line in run.stderr.splitlines())
    (error,) = run.error_lines()
    assert "config `project_id` is missing" in error
    assert emulator.requests() == []


@pytest.mark.parametrize(
    ("entries", "key_text"),
    [
        ([], "config `workspaces` must be a non-empty list"),
        ([{"project_id": "ws-alpha"}], "config `workspaces[0].pat` is missing"),
        ([{"pat": TOKEN}], "config `workspaces[0].project_id` is missing"),
        (
            [{"project_id": "ws-alpha", "pat": TOKEN}, {"project_id": "ws-alpha", "pat": TOKEN}],
            "config `workspaces[1].project_id` 'ws-alpha' is listed twice",
        ),
        (["ws-alpha"], "config `workspaces[0]` must be an object"),
        ([{"project_id": "ws-alpha", "pat": 98765432109}], "`workspaces[0].pat` must be a string"),
    ],
)
def test_bad_workspace_entries(emulator: Emulator, entries: list[Any], key_text: str) -> None:
    run = run_tap({"base_url": emulator.base_url, "workspaces": entries})
    assert run.returncode == 1
    (error,) = run.error_lines()
    assert key_text in error, run.stderr
    assert "98765432109" not in run.stderr
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


@pytest.mark.parametrize(
    "host", ["localhost", "LocalHost", "127.1", "127.0.0.1", "[::ffff:127.0.0.1]"]
)
def test_loopback_http_is_allowed_for_the_emulator(emulator: Emulator, host: str) -> None:
    """Every spelling the resolver takes for loopback (the emulator listens on 127.0.0.1)."""
    base_url = emulator.base_url.replace("127.0.0.1", host)
    run = run_tap(
        single(emulator, base_url=base_url, start_date="2026-01-01", end_date="2026-01-01")
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert len(run.records("daily_chats")) == 1


def test_a_fully_qualified_localhost_is_loopback_too(emulator: Emulator) -> None:
    """``localhost.`` is accepted; whether it resolves is the system's business (this
    machine's /etc/hosts has no such name, so the run fails to connect, in one line)."""
    base_url = emulator.base_url.replace("127.0.0.1", "localhost.")
    run = run_tap(single(emulator, base_url=base_url, end_date=today().isoformat()), "--test")
    assert "plain http" not in run.stderr
    if run.returncode != 0:
        assert "could not connect to http://localhost.:" in run.error_lines()[-1]


@pytest.mark.parametrize("host", ["127.0.0.1.example.com", "localhost.example", "10.0.0.1"])
def test_plain_http_elsewhere_is_refused(emulator: Emulator, host: str) -> None:
    base_url = emulator.base_url.replace("127.0.0.1", host)
    run = run_tap(single(emulator, base_url=base_url))
    assert run.returncode != 0
    assert "uses plain http; only https is allowed" in run.error_lines()[-1]
    assert not emulator.requests()


@pytest.mark.parametrize(
    ("start", "first_day"),
    [
        ("2026-11-01T00:00:00Z", "2026-11-01"),
        ("2026-11-01T23:30:00-05:00", "2026-11-02"),  # its UTC date
        ("2026-11-01T12:00:00", "2026-11-01"),
    ],
)
def test_a_date_time_start_date_reads_from_its_utc_date(
    emulator: Emulator, start: str, first_day: str
) -> None:
    run = run_tap(single(emulator, start_date=start, end_date="2026-11-05T00:00:00Z"), "--test")
    assert run.returncode == 0, run.stderr[-2000:]
    assert {r.params["from"] for r in emulator.requests()} == {first_day}


@pytest.mark.parametrize("name", ["token", "api_key", "access_token"])
def test_other_taps_names_for_the_token_suggest_pat(emulator: Emulator, name: str) -> None:
    run = run_tap(single(emulator, pat=None, **{name: "pat-x"}))
    assert run.returncode == 1
    assert any(f"`{name}`" in w and "did you mean `pat`?" in w for w in run.stderr.splitlines())
    entry = {"project_id": "ws-alpha", name: "pat-x"}
    run = run_tap({"base_url": emulator.base_url, "workspaces": [entry]})
    assert run.returncode == 1
    assert any(
        f"`workspaces[0].pat` is missing (`{name}` is given" in line for line in run.error_lines()
    )
