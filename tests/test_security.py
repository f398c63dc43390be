"""Secret hygiene and transport security.

The personal access token (PAT) must never show up in stdout (records, STATE), stderr (at
every log level, DEBUG included), exception text or ``--about``; it is only ever sent to
the configured origin over https (or loopback http), and TLS verification stays on.

``run_tap`` (conftest) already fails any run whose output contains a token; these tests
push the tap through the paths most likely to leak one. The SDK reads its log level from
``TAP_INDIGO_ANALYTICS_LOGLEVEL`` (or ``LOGLEVEL``) — not ``..._LOG_LEVEL`` — and
``SINGER_SDK_LOG_CONFIG`` (a YAML ``logging.dictConfig``); urllib3 logs every request at DEBUG.
"""

from __future__ import annotations

import datetime as dt
import re
import traceback
from pathlib import Path
from typing import Any

import pytest

from tap_indigo_analytics.auth import PATAuth
from tap_indigo_analytics.client import IndigoStream
from tap_indigo_analytics.errors import IndigoError
from tap_indigo_analytics.settings import Settings, SettingsError
from tap_indigo_analytics.tap import TapIndigoAnalytics
from tests.conftest import (
    STREAMS,
    WORKSPACES,
    assert_no_secret,
    by_day,
    run_tap,
    today,
    workspace_config,
)
from tests.emulator import Emulator, Faults

PACKAGE = Path(__file__).resolve().parent.parent / "tap_indigo_analytics"
DEBUG = {"TAP_INDIGO_ANALYTICS_LOGLEVEL": "DEBUG"}
IDS = tuple(WORKSPACES)


def config_for(emulator: Emulator, *ids: str, **overrides: Any) -> dict[str, Any]:
    start = (today() - dt.timedelta(days=39)).isoformat()
    return workspace_config(emulator, *ids, start_date=start, page_size=30, **overrides)


def assert_no_header_in(text: str) -> None:
    assert "Bearer" not in text
    assert "Authorization" not in text


def test_a_debug_run_through_every_fault_never_shows_the_token(emulator: Emulator) -> None:
    emulator.faults = Faults(
        status_every_n=9,
        html_502_on=frozenset({3}),
        garbage_json_on=frozenset({5}),
        drop_connection_on=frozenset({11}),
        invalid_cursor_on_nth_cursored=2,
        rate_limit=(12, 1.0),
        retry_after_s=1,
        extra_fields={"daily_chats": {"secret_field": 1}},
    )
    run = run_tap(config_for(emulator, requests_per_minute=10_000), env=DEBUG)
    assert run.returncode == 0, run.stderr[-3000:]
    # DEBUG really was on: urllib3 logged each request line.
    assert re.search(r"\| DEBUG +\| urllib3\.connectionpool +\| .*\"GET /rest/", run.stderr)
    faults = {r.fault for r in emulator.requests()}
    assert {"html_502", "garbage_json", "drop_connection", "status_every_n"} <= faults
    assert {"invalid_cursor", "rate_limit"} <= faults
    for stream in STREAMS:
        for project_id in IDS:
            assert len(by_day(run.records(stream), project_id)) == 40
    assert_no_header_in(run.stdout + run.stderr)
    assert all("pat" not in str(state).lower() for state in run.states)


@pytest.mark.parametrize(
    ("faults", "change", "expected"),
    [
        pytest.param(Faults(), "wrong_token", "401", id="401"),
        pytest.param(Faults(), "other_workspace_token", "403", id="403"),
        pytest.param(Faults(status_every_n=1), None, "gave up after 2 tries", id="5xx"),
        pytest.param(
            Faults(status_every_n=1, status_code=400, status_message="Bad"),
            None,
            "HTTP 400",
            id="400",
        ),
        pytest.param(Faults(drop_envelope_key="data"), None, "no `data` key", id="shape"),
        pytest.param(Faults(rate_limit=(1, 60.0), retry_after_s=999), None, "999 s", id="429"),
    ],
)
def test_failures_at_debug_never_show_the_token(
    emulator: Emulator, faults: Faults, change: str | None, expected: str
) -> None:
    emulator.faults = faults
    config = config_for(emulator, "ws-alpha", max_tries=2)
    if change == "wrong_token":
        config["workspaces"][0]["pat"] = "pat-unknownButSecret42"
    elif change == "other_workspace_token":
        config["workspaces"][0]["pat"] = f"pat-{WORKSPACES['ws-beta']}"
    run = run_tap(config, env={"LOGLEVEL": "DEBUG"})  # the generic switch works too
    assert run.returncode != 0
    assert "| DEBUG" in run.stderr
    assert expected in run.error_lines()[-1]
    assert "Traceback" not in run.stderr
    assert_no_header_in(run.stdout + run.stderr)


def test_a_logging_config_file_at_debug_shows_no_token(emulator: Emulator, tmp_path: Path) -> None:
    log_config = tmp_path / "logging.yml"
    log_config.write_text(
        "version: 1\n"
        "disable_existing_loggers: false\n"
        "handlers:\n"
        "  console: {class: logging.StreamHandler, stream: ext://sys.stderr}\n"
        "root: {level: DEBUG, handlers: [console]}\n"
    )
    emulator.faults = Faults(status_every_n=3)
    run = run_tap(config_for(emulator, "ws-alpha"), env={"SINGER_SDK_LOG_CONFIG": str(log_config)})
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Starting new HTTP connection" in run.stderr  # urllib3 logs this at DEBUG only
    assert_no_header_in(run.stderr)


def test_exceptions_and_reprs_carry_no_token(emulator: Emulator) -> None:
    token = "pat-inProcessSecret777"
    config = {**config_for(emulator, "ws-alpha")}
    config["workspaces"] = [{"project_id": "ws-alpha", "pat": token}]
    # fail_fast: the failure goes up from sync_all itself (otherwise it is collected and
    # raised at the end by the caller of sync_all: tap.run.raise_failures()).
    tap = TapIndigoAnalytics(config={**config, "fail_fast": True}, parse_env_config=False)
    with pytest.raises(IndigoError) as caught:
        tap.sync_all()
    text = "".join(traceback.format_exception(caught.value))
    assert "401" in str(caught.value)
    for shown in (text, repr(caught.value), repr(tap.settings), str(tap.settings.workspaces)):
        assert "inProcessSecret777" not in shown
        assert_no_header_in(shown)
    auth = PATAuth(token)
    assert "inProcessSecret777" not in repr(auth) + str(auth)


def test_about_shows_no_token(emulator: Emulator) -> None:
    config = config_for(emulator)
    for args in (("--about",), ("--about", "--format", "json"), ("--discover",)):
        run = run_tap(config, *args)  # run_tap fails on any token in the output
        assert run.returncode == 0, run.stderr[-3000:]


@pytest.mark.parametrize(
    "workspaces",
    [
        pytest.param([{"pat": "pat-alphaSecretToken0001"}], id="missing-project-id"),
        pytest.param([{"project_id": "ws-alpha", "pat": ["pat-alphaSecretToken0001"]}], id="list"),
        pytest.param(
            [{"project_id": "ws alpha", "pat": "pat-alphaSecretToken0001"}], id="bad-project-id"
        ),
        pytest.param([{"project_id": "ws-alpha", "pat": "pat-alpha SecretToken0001"}], id="space"),
    ],
)
def test_config_errors_do_not_echo_the_token(emulator: Emulator, workspaces: list[Any]) -> None:
    config = {"base_url": emulator.base_url, "workspaces": workspaces}
    run = run_tap(config)
    assert run.returncode != 0
    assert "alpha SecretToken0001" not in run.stderr
    assert not emulator.requests()


# --- transport ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://platform.indigo.ai",
        "https://platform.indigo.ai:8443/",
        "http://127.0.0.1:8787",
        "http://127.8.9.10",
        "http://localhost:1234",
        "http://LOCALHOST",
        "http://[::1]:8080",
    ],
)
def test_https_or_loopback_base_urls_are_accepted(url: str) -> None:
    settings = Settings.parse({"pat": "x" * 12, "project_id": "p", "base_url": url}, today=today())
    assert settings.base_url == url.rstrip("/")


@pytest.mark.parametrize(
    "url",
    [
        "http://platform.indigo.ai",
        "http://10.0.0.8:8787",
        "http://0.0.0.0:8787",
        "http://localhost.example.com",
        "http://127.0.0.1.nip.io",
        "ftp://platform.indigo.ai",
        "https://user:secret@platform.indigo.ai",
        "platform.indigo.ai",
    ],
)
def test_plain_http_to_a_real_host_is_refused(url: str) -> None:
    with pytest.raises(SettingsError, match="base_url"):
        Settings.parse({"pat": "x" * 12, "project_id": "p", "base_url": url}, today=today())


def test_the_cli_refuses_an_http_base_url_before_any_request() -> None:
    config = {"pat": "pat-alphaSecretToken0001", "project_id": "ws-alpha"}
    run = run_tap({**config, "base_url": "http://platform.indigo.ai"})
    assert run.returncode != 0
    assert "base_url" in run.stderr
    assert "only https is allowed" in run.stderr
    assert "GET /rest" not in run.stderr


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_no_token_follows_a_redirect_to_another_origin(emulator: Emulator, host: str) -> None:
    with Emulator(WORKSPACES) as elsewhere:
        port = elsewhere.base_url.rsplit(":", 1)[1]
        emulator.faults = Faults(redirect_to=f"http://{host}:{port}")
        run = run_tap(config_for(emulator, "ws-alpha", max_tries=3), env=DEBUG)
        (asked,) = emulator.requests()
        assert (asked.fault, asked.status, asked.auth_header) == ("redirect", 302, True)
        # A redirect off the configured origin is not followed at all: nothing, and so no
        # token, ever reaches the other server.
        assert elsewhere.requests() == []
    assert run.returncode != 0
    message = run.error_lines()[-1]
    assert "redirected" in message
    assert f"http://{host}:{port}" in message
    assert "check `base_url`" in message
    assert "Traceback" not in run.stderr


def test_tls_verification_is_never_turned_off(emulator: Emulator) -> None:
    forbidden = re.compile(
        r"verify\s*=\s*False|\.verify\s*=|disable_warnings|InsecureRequestWarning"
        r"|ssl\._create_unverified_context|CERT_NONE"
    )
    for source in PACKAGE.glob("**/*.py"):
        hits = [line for line in source.read_text().splitlines() if forbidden.search(line)]
        assert not hits, f"{source.name}: {hits}"
    tap = TapIndigoAnalytics(config=config_for(emulator), parse_env_config=False)
    for stream in tap.streams.values():
        assert isinstance(stream, IndigoStream)
        assert stream.requests_session.verify is True


def test_the_secret_check_itself_catches_a_leak() -> None:
    """Guard for the guard: run_tap's leak check fails on both token forms."""
    config = {"pat": "pat-abcdefgh12345678", "project_id": "p"}
    for leaked in ("abcdefgh12345678", "Bearer pat-abcdefgh12345678"):
        with pytest.raises(AssertionError, match="leaked"):
            assert_no_secret(f"... {leaked} ...", config)
