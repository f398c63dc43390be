"""Self-check of the API emulator over real HTTP (no tap involved)."""

from __future__ import annotations

import http.client
import json
import math
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.emulator import ENDPOINTS, Emulator, Faults

TODAY = date(2026, 3, 15)
TOMORROW = TODAY + timedelta(days=1)
WORKSPACES = {"ws1": "tok1", "ws2": "tok2"}


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator(WORKSPACES, today=TODAY) as emulator:
        yield emulator


@pytest.fixture(autouse=True)
def _fresh(emu: Emulator) -> None:
    emu.faults = Faults()
    emu.today_revision = 0
    emu.fixed_today = TODAY
    emu.clear_log()


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        yield s


def url(emu: Emulator, stream: str, project: str = "ws1") -> str:
    return emu.base_url + ENDPOINTS[stream].path.format(project_id=project)


def span(start: date | str, end: date | str | None = None) -> dict[str, Any]:
    """The ``from``/``to`` params (``from`` is a Python keyword, so not a kwarg)."""
    params = {"from": str(start)}
    if end is not None:
        params["to"] = str(end)
    return params


def get(
    emu: Emulator,
    stream: str = "daily_messages",
    *,
    project: str = "ws1",
    pat: str | None = "tok1",
    session: requests.Session | None = None,
    **params: Any,
) -> requests.Response:
    """GET a stream; ``from``/``to`` default to 2026-03-01..2026-03-10, None drops one."""
    params = {**span("2026-03-01", "2026-03-10"), **params}
    headers = {"Authorization": f"Bearer pat-{pat}"} if pat else {}
    return (session or requests).get(
        url(emu, stream, project),
        params={k: v for k, v in params.items() if v is not None},
        headers=headers,
        timeout=5,
        allow_redirects=False,
    )


def walk(
    emu: Emulator, stream: str, start: date, end: date, **params: Any
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """All rows of [start, end) page by page, and each page's metadata."""
    rows: list[dict[str, Any]] = []
    metas: list[dict[str, Any]] = []
    cursor = None
    with requests.Session() as s:
        while True:
            extra: dict[str, Any] = {ENDPOINTS[stream].cursor_param: cursor} if cursor else {}
            response = get(emu, stream, session=s, **span(start, end), **params, **extra)
            assert response.status_code == 200, response.text
            body = response.json()
            rows += body["data"]
            metas.append(body["metadata"])
            cursor = body["metadata"]["next_cursor"]
            if cursor is None:
                return rows, metas


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Bearer tok1",
        "Bearer pat-pat-tok1",
        "bearer pat-tok1",
        "Bearer  pat-tok1",
        "Bearer pat-x",
    ],
)
def test_bad_or_missing_pat_is_401(emu: Emulator, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = requests.get(
        url(emu, "daily_chats"), params={"from": "2026-03-01", "to": "2026-03-02"}, headers=headers
    )
    assert response.status_code == 401
    assert response.json() == {"status": False, "message": "unauthenticated"}


@pytest.mark.parametrize(("project", "pat"), [("ws1", "tok2"), ("ws-unknown", "tok1")])
def test_other_workspace_is_403(emu: Emulator, project: str, pat: str) -> None:
    response = get(emu, "daily_chats", project=project, pat=pat)
    assert response.status_code == 403
    assert response.json() == {"status": False, "message": "unauthorized"}
    assert "tok" not in repr(emu.requests())  # the PAT is never logged


def test_unknown_path_is_404(emu: Emulator) -> None:
    response = requests.get(emu.base_url + "/rest/analytics/ws1/messages/daily/", timeout=5)
    assert response.status_code == 404
    assert response.json() == {"status": "ERROR", "message": "Not found"}


@pytest.mark.parametrize("params", [{"from": None, "to": None}, {"to": None}, {"from": ""}])
def test_missing_params_is_400(emu: Emulator, params: dict[str, Any]) -> None:
    response = get(emu, **params)
    assert response.status_code == 400
    assert response.json() == {"status": "ERROR", "message": "Missing required params: from, to"}


@pytest.mark.parametrize(
    "params",
    [
        {"from": "2026-3-01"},
        {"from": "2026-02-30"},
        {"from": "20260301"},
        {"from": "2026-03-10", "to": "2026-03-10"},
        {"from": "2025-03-14", "to": "2026-03-15"},  # 366 days
        {"from": "2026-03-01", "to": (TOMORROW + timedelta(days=1)).isoformat()},
        {"limit": "0"},
        {"limit": "366"},
        {"limit": "abc"},
        {"limit": "5.0"},
    ],
)
def test_invalid_params_are_400(emu: Emulator, params: dict[str, Any]) -> None:
    response = get(emu, **params)
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == "ERROR"
    assert body["message"]


def test_widest_allowed_request_is_200(emu: Emulator) -> None:
    start = TOMORROW - timedelta(days=365)
    response = get(emu, **span(start, TOMORROW), limit="365")
    assert response.status_code == 200
    assert len(response.json()["data"]) == 365


@pytest.mark.parametrize("stream", sorted(ENDPOINTS))
def test_walk_returns_each_day_once(emu: Emulator, stream: str) -> None:
    spec = ENDPOINTS[stream]
    start = TOMORROW - timedelta(days=100)
    rows, metas = walk(emu, stream, start, TOMORROW)
    assert [r["date"] for r in rows] == [(start + timedelta(n)).isoformat() for n in range(100)]
    assert rows == emu.expected_rows("ws1", stream, start, TODAY)
    assert len(metas) == math.ceil(100 / spec.default_limit)
    assert all(m[spec.total_key] == 100 for m in metas)
    assert len(emu.requests(stream=stream)) == len(metas)
    assert all(list(row) == ["date", *spec.fields] for row in rows)


def test_limit_param_sets_page_size(emu: Emulator) -> None:
    rows, metas = walk(emu, "daily_chats", date(2026, 1, 1), date(2026, 1, 11), limit=4)
    assert len(rows) == 10
    assert len(metas) == 3


def test_cursor_read_only_from_the_endpoints_own_param(emu: Emulator) -> None:
    window = span("2026-01-01", "2026-03-01")
    first = get(emu, "daily_returning_users", **window).json()
    cursor = first["metadata"]["next_cursor"]
    assert len(first["data"]) == 31
    same = get(emu, "daily_returning_users", cursor=cursor, **window)
    assert same.json()["data"][0]["date"] == "2026-01-01"  # wrong name: page 1 again
    nxt = get(emu, "daily_returning_users", after=cursor, **window)
    assert nxt.json()["data"][0]["date"] == "2026-02-01"

    msg = get(emu, "daily_messages", **window).json()
    again = get(emu, after=msg["metadata"]["next_cursor"], **window)
    assert again.json()["data"][0]["date"] == "2026-01-01"


def test_invalid_cursors_are_400(emu: Emulator) -> None:
    window = span("2026-01-01", "2026-03-01")
    cursor = get(emu, **window).json()["metadata"]["next_cursor"]
    tampered = cursor[:-6] + ("A" if cursor[-6] != "A" else "B") + cursor[-5:]
    cases = [
        get(emu, cursor="not-base64!", **window),
        get(emu, cursor="", **window),
        get(emu, cursor=tampered, **window),
        get(emu, cursor=cursor, **span("2026-01-02", "2026-03-01")),
        get(emu, cursor=cursor, limit="10", **window),
        get(emu, "daily_csat", cursor=cursor, **window),
        get(emu, project="ws2", pat="tok2", cursor=cursor, **window),
    ]
    for response in cases:
        assert response.status_code == 400
        assert response.json() == {"status": "ERROR", "message": "Invalid cursor"}
    assert get(emu, cursor=cursor, limit="30", **window).status_code == 200


def test_rows_are_zero_filled(emu: Emulator) -> None:
    start = TODAY - timedelta(days=364)
    messages = emu.expected_rows("ws1", "daily_messages", start, TODAY)
    assert sum(all(v == 0 for k, v in r.items() if k != "date") for r in messages) > 20
    for stream, low, high in (("daily_csat", 1, 5), ("daily_ai_quality", 0, 1)):
        rows = emu.expected_rows("ws1", stream, start, TODAY)
        assert any(r["total"] == 0 for r in rows)
        for r in rows:
            assert (r["avg_score"] is None) == (r["total"] == 0)
            assert r["avg_score"] is None or low <= r["avg_score"] <= high
    served = get(emu, **span(start, TOMORROW), limit="365")
    assert served.json()["data"] == messages
    assert emu.expected_rows("ws2", "daily_messages", start, TODAY) != messages


def test_today_revision_changes_only_today(emu: Emulator) -> None:
    window = span(TODAY - timedelta(days=5), TOMORROW)
    for stream in ENDPOINTS:
        before = get(emu, stream, **window).json()["data"]
        emu.today_revision += 1
        after = get(emu, stream, **window).json()["data"]
        emu.today_revision -= 1
        assert before[:-1] == after[:-1]
        assert before[-1] != after[-1]
        assert after[-1]["date"] == TODAY.isoformat()
        assert all(after[-1][k] for k in ENDPOINTS[stream].fields)  # no zero, no null
    with pytest.raises(ValueError, match="after today"):
        emu.expected_row("ws1", "daily_chats", TOMORROW)


def test_rate_limit_429_then_recovers(emu: Emulator) -> None:
    emu.faults.rate_limit = (3, 0.3)
    emu.faults.retry_after_s = 7
    statuses = [get(emu).status_code for _ in range(3)]
    limited = get(emu)
    assert statuses == [200, 200, 200]
    assert limited.status_code == 429
    assert limited.json() == {"status": "error", "message": "rate limit exceeded", "retry_after": 7}
    assert "Retry-After" not in limited.headers
    assert get(emu, project="ws2", pat="tok2").status_code == 200  # budget is per PAT
    emu.faults.retry_after_header = True
    assert get(emu).headers["Retry-After"] == "7"
    time.sleep(0.35)
    assert get(emu).status_code == 200
    assert [r.fault for r in emu.requests(project_id="ws1")].count("rate_limit") == 2


def test_latency_and_slow(emu: Emulator) -> None:
    emu.faults.latency_s = 0.05
    began = time.monotonic()
    assert get(emu).status_code == 200
    assert time.monotonic() - began >= 0.05
    emu.faults = Faults(slow_on=frozenset({2}), slow_s=0.3)
    with pytest.raises(requests.ReadTimeout):
        requests.get(url(emu, "daily_messages"), timeout=0.1)


def test_status_every_n_and_random_errors(emu: Emulator) -> None:
    emu.faults.status_every_n = 3
    emu.faults.status_code = 503
    codes = [get(emu).status_code for _ in range(6)]
    assert codes == [200, 200, 503, 200, 200, 503]
    assert get(emu).status_code == 200
    emu.faults = Faults(random_error_rate=0.5, seed=4)
    emu.clear_log()
    first = [get(emu).status_code for _ in range(12)]
    emu.clear_log()
    assert [get(emu).status_code for _ in range(12)] == first  # seeded: reproducible
    assert set(first) == {200, 500}
    emu.faults = Faults(random_error_rate=1.0)
    response = get(emu)
    assert response.status_code == 500
    assert response.json() == {"status": "ERROR", "message": "Internal server error"}


def test_html_502_garbage_and_drop(emu: Emulator, session: requests.Session) -> None:
    emu.faults.html_502_on = frozenset({1})
    emu.faults.garbage_json_on = frozenset({2})
    emu.faults.drop_connection_on = frozenset({4})
    html = get(emu, session=session)
    assert html.status_code == 502
    assert html.headers["Content-Type"].startswith("text/html")
    garbage = get(emu, session=session)
    assert garbage.status_code == 200
    with pytest.raises(ValueError):
        garbage.json()
    assert get(emu, session=session).status_code == 200
    with pytest.raises(requests.ConnectionError):
        get(emu, session=session)  # on a reused keep-alive connection
    assert get(emu, session=session).status_code == 200
    assert [(r.status, r.fault) for r in emu.requests()] == [
        (502, "html_502"),
        (200, "garbage_json"),
        (200, None),
        (0, "drop_connection"),
        (200, None),
    ]


def test_invalid_cursor_fault_counts_only_cursored_requests(emu: Emulator) -> None:
    emu.faults.invalid_cursor_on_nth_cursored = 2
    window = span("2025-12-01", "2026-03-01")
    page1 = get(emu, **window).json()
    page2 = get(emu, cursor=page1["metadata"]["next_cursor"], **window)
    assert page2.status_code == 200
    assert get(emu, **window).status_code == 200  # no cursor: not counted
    cursor = page2.json()["metadata"]["next_cursor"]
    failed = get(emu, cursor=cursor, **window)
    assert failed.status_code == 400
    assert failed.json() == {"status": "ERROR", "message": "Invalid cursor"}
    assert get(emu, cursor=cursor, **window).status_code == 200


def test_field_and_envelope_faults(emu: Emulator) -> None:
    emu.faults.renamed_fields = {"daily_chats": {"count": "chats"}}
    emu.faults.extra_fields = {"daily_chats": {"channel": "web"}}
    row = get(emu, "daily_chats").json()["data"][0]
    assert set(row) == {"date", "chats", "channel"}
    assert row == emu.expected_row("ws1", "daily_chats", date(2026, 3, 1), with_faults=True)
    untouched = get(emu, "daily_messages").json()["data"][0]
    assert set(untouched) == {"date", *ENDPOINTS["daily_messages"].fields}
    emu.faults.drop_envelope_key = "data"
    assert set(get(emu).json()) == {"status", "metadata"}
    emu.faults.drop_envelope_key = "metadata.next_cursor"
    assert get(emu, **span("2026-01-01")).json()["metadata"] == {"total_count": 68}


def test_redirect(emu: Emulator) -> None:
    emu.faults.redirect_to = "http://elsewhere.invalid/"
    response = get(emu)
    assert response.status_code == 302
    assert response.headers["Location"] == (
        "http://elsewhere.invalid/rest/analytics/ws1/messages/daily?from=2026-03-01&to=2026-03-10"
    )


def test_keep_alive_and_log(emu: Emulator) -> None:
    host, port = emu.base_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        path = "/rest/dashboard/ws1/chats/count?from=2026-03-01&to=2026-03-03"
        for _ in range(2):
            conn.request("GET", path, headers={"Authorization": "Bearer pat-tok1"})
            response = conn.getresponse()
            assert len(json.loads(response.read())["data"]) == 2
        sock = conn.sock
        conn.request("GET", "/nope")
        conn.getresponse().read()
        assert conn.sock is sock  # one socket for all three
    finally:
        conn.close()
    log = emu.requests()
    assert [r.number for r in log] == [1, 2, 3]
    assert log[0].params == {"from": "2026-03-01", "to": "2026-03-03"}
    assert (log[0].stream, log[0].project_id, log[0].authorized) == ("daily_chats", "ws1", True)
    assert (log[2].stream, log[2].status, log[2].authorized) == (None, 404, False)
    assert emu.requests(stream="daily_chats", project_id="ws2") == []


def test_cli_serves_until_sigterm(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.emulator", "--port", "0", "--workspace", "p1:pat-t1"],
        cwd=Path(__file__).resolve().parent.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        response = requests.get(
            base_url + "/rest/dashboard/p1/chats/count",
            params={"from": "2026-01-01", "to": "2026-01-05"},
            headers={"Authorization": "Bearer pat-t1"},
            timeout=5,
        )
        assert response.status_code == 200
        assert response.json()["metadata"]["total_days"] == 4
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
