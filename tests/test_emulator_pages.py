"""The emulator's integrity, leak and redirect faults (issue 10), over real HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
import requests

from tests.emulator import ENDPOINTS, Emulator, Faults

TODAY = date(2026, 3, 15)
TOMORROW = TODAY + timedelta(days=1)
PAT = "Bearer pat-tok1"


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator({"ws1": "tok1", "ws2": "tok2"}, today=TODAY) as emulator:
        yield emulator


@pytest.fixture(autouse=True)
def _fresh(emu: Emulator) -> None:
    emu.faults = Faults()
    emu.today_revision = 0
    emu.clear_log()


def get(
    emu: Emulator, stream: str, start: date, end: date, *, auth: str | None = PAT, **params: Any
) -> requests.Response:
    """One GET of ``[start, end)``; redirects are not followed unless asked."""
    follow = params.pop("follow", False)
    return requests.get(
        emu.base_url + ENDPOINTS[stream].path.format(project_id=params.pop("project", "ws1")),
        params={"from": start.isoformat(), "to": end.isoformat(), **params},
        headers={"Authorization": auth} if auth else {},
        timeout=5,
        allow_redirects=follow,
    )


def walk(
    emu: Emulator, stream: str, start: date, end: date, **params: Any
) -> list[list[dict[str, Any]]]:
    """Every page's rows of ``[start, end)``, following next_cursor (at most 50 pages)."""
    pages: list[list[dict[str, Any]]] = []
    cursor = None
    for _ in range(50):
        extra: dict[str, str] = {ENDPOINTS[stream].cursor_param: cursor} if cursor else {}
        response = get(emu, stream, start, end, **params, **extra)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(body["data"])
        cursor = body["metadata"]["next_cursor"]
        if cursor is None:
            return pages
    raise AssertionError("more than 50 pages")


def days(rows: list[dict[str, Any]]) -> list[str]:
    return [row["date"] for row in rows]


def day_range(start: date, end: date) -> list[str]:
    return [(start + timedelta(n)).isoformat() for n in range((end - start).days)]


START = date(2026, 1, 1)  # with END: a 40-day window, pages of 30 + 10 days
END = date(2026, 2, 10)


def test_missing_days_leave_holes_in_the_pages_that_hold_them(emu: Emulator) -> None:
    emu.faults.missing_days = frozenset({"2026-01-05", "2026-02-03", "2026-02-04"})
    pages = walk(emu, "daily_chats", START, END)
    assert [len(page) for page in pages] == [29, 8]
    served = [row for page in pages for row in page]
    wanted = [d for d in day_range(START, END) if d not in emu.faults.missing_days]
    assert days(served) == wanted
    assert served[4] == emu.expected_row("ws1", "daily_chats", date(2026, 1, 6))
    assert [r.fault for r in emu.requests()] == ["missing_days", "missing_days"]


def test_truncate_days_ends_the_last_page_early(emu: Emulator) -> None:
    emu.faults.truncate_days = 3
    pages = walk(emu, "daily_chats", START, END)
    assert [len(page) for page in pages] == [30, 7]
    assert days(pages[-1])[-1] == "2026-02-06"  # the window's last day is 02-09
    assert [r.fault for r in emu.requests()] == [None, "truncate_days"]
    # Longer than the last page: the page reaching to - 12 days is the last one.
    emu.faults.truncate_days = 12
    (page,) = walk(emu, "daily_chats", START, END)
    assert days(page) == day_range(START, date(2026, 1, 29))


def test_empty_data_answers_one_empty_last_page(emu: Emulator) -> None:
    emu.faults.empty_data = True
    response = get(emu, "daily_csat", START, END)
    assert response.json()["data"] == []
    assert response.json()["metadata"] == {"next_cursor": None, "total_count": 40}


def test_endless_pagination_accepts_every_new_cursor(emu: Emulator) -> None:
    emu.faults.endless_pagination = True
    cursors = set()
    cursor = None
    for _ in range(20):
        extra: dict[str, str] = {"after": cursor} if cursor else {}
        body = get(emu, "daily_returning_users", START, END, **extra).json()
        assert body["data"] == []
        cursor = body["metadata"]["next_cursor"]
        cursors.add(cursor)
    assert len(cursors) == 20
    assert {r.status for r in emu.requests()} == {200}


def test_page_fault_limit_counts_affected_pages_then_heals(emu: Emulator) -> None:
    emu.faults.missing_days = frozenset({"2026-02-03"})  # in the second page only
    emu.faults.page_fault_limit = 1
    first = walk(emu, "daily_chats", START, END)
    assert len(first[1]) == 9  # the one affected page
    second = walk(emu, "daily_chats", START, END)  # the client's restart of the window
    assert days([row for page in second for row in page]) == day_range(START, END)
    assert [r.fault for r in emu.requests()] == [None, "missing_days", None, None]
    emu.clear_log()  # restarts the count
    assert len(walk(emu, "daily_chats", START, END)[1]) == 9


def test_page_fault_limit_heals_endless_pagination_and_truncation(emu: Emulator) -> None:
    emu.faults = Faults(endless_pagination=True, page_fault_limit=3)
    pages = walk(emu, "daily_messages", START, END)
    assert [len(page) for page in pages] == [0, 0, 0, 30, 10]  # the 4th page is healed
    emu.faults = Faults(truncate_days=5, empty_data=False, page_fault_limit=2)
    emu.clear_log()
    assert [len(p) for p in walk(emu, "daily_messages", START, END)] == [30, 5]
    assert [len(p) for p in walk(emu, "daily_messages", START, END)] == [30, 5]
    assert [len(p) for p in walk(emu, "daily_messages", START, END)] == [30, 10]


def test_zero_fill_future_serves_days_after_today(emu: Emulator) -> None:
    assert get(emu, "daily_csat", TODAY, TODAY + timedelta(days=5)).status_code == 400
    emu.faults.zero_fill_future = True
    rows = get(emu, "daily_csat", TODAY - timedelta(days=1), TODAY + timedelta(days=5)).json()
    past, future = rows["data"][:2], rows["data"][2:]
    assert days(future) == day_range(TOMORROW, TODAY + timedelta(days=5))
    assert all(row == {"date": row["date"], "total": 0, "avg_score": None} for row in future)
    assert past == emu.expected_rows("ws1", "daily_csat", TODAY - timedelta(days=1), TODAY)
    assert emu.expected_row("ws1", "daily_csat", TOMORROW) == future[0]
    assert get(emu, "daily_chats", START, TODAY + timedelta(days=400)).status_code == 400  # span


def test_revisions_change_a_past_day_and_expected_row_follows(emu: Emulator) -> None:
    before = get(emu, "daily_messages", START, END).json()["data"]
    emu.faults.revisions = {"2026-01-10": 1, "2026-01-20": 2}
    emu.today_revision = 1
    after = get(emu, "daily_messages", START, END).json()["data"]
    changed = [b["date"] for b, a in zip(before, after, strict=True) if b != a]
    assert changed == ["2026-01-10", "2026-01-20"]
    assert after[9] == emu.expected_row("ws1", "daily_messages", date(2026, 1, 10))
    assert after[9] != emu.expected_row("ws2", "daily_messages", date(2026, 1, 10))
    today_row = emu.expected_row("ws1", "daily_messages", TODAY)
    assert get(emu, "daily_messages", TODAY, TOMORROW).json()["data"] == [today_row]
    emu.today_revision = 0
    assert emu.expected_row("ws1", "daily_messages", TODAY) != today_row  # still honoured


@pytest.mark.parametrize("value", ["12", 12.7, True, None, {}, -3])
def test_value_overrides_replace_a_field_on_chosen_days(emu: Emulator, value: Any) -> None:
    emu.faults.value_overrides = {"daily_chats": {"count": value}}
    emu.faults.value_override_days = frozenset({"2026-01-03"})
    rows = get(emu, "daily_chats", START, date(2026, 1, 5)).json()["data"]
    assert [row["count"] for row in rows][2] == value
    assert rows[2] == emu.expected_row("ws1", "daily_chats", date(2026, 1, 3), with_faults=True)
    healthy = emu.expected_rows("ws1", "daily_chats", START, date(2026, 1, 4))
    assert rows[:2] + rows[3:] == healthy[:2] + healthy[3:]
    assert get(emu, "daily_messages", START, date(2026, 1, 5)).json()["data"] == (
        emu.expected_rows("ws1", "daily_messages", START, date(2026, 1, 4))
    )


def test_value_overrides_without_days_hit_every_row(emu: Emulator) -> None:
    emu.faults.value_overrides = {"daily_csat": {"avg_score": 7.5}}
    rows = get(emu, "daily_csat", START, END).json()["data"]
    assert {row["avg_score"] for row in rows} == {7.5}
    assert emu.requests()[0].fault == "value_overrides"


def test_error_200(emu: Emulator) -> None:
    emu.faults.error_200 = "Workspace is being migrated"
    response = get(emu, "daily_chats", START, END)
    assert response.status_code == 200
    assert response.json() == {"status": "ERROR", "message": "Workspace is being migrated"}
    assert get(emu, "daily_chats", END, START).status_code == 400  # bad params stay 400


def _error_answers(emu: Emulator, auth: str) -> dict[int, requests.Response]:
    """One answer per error status, all carrying ``auth``."""
    emu.faults.rate_limit = (1, 60)
    answers = {
        401: get(emu, "daily_chats", START, END, auth=auth),
        403: get(emu, "daily_chats", START, END, project="ws2"),
        400: get(emu, "daily_chats", END, START),
        429: get(emu, "daily_chats", START, END),
        404: requests.get(emu.base_url + "/nope", headers={"Authorization": PAT}, timeout=5),
    }
    emu.faults.rate_limit = None
    emu.faults.status_every_n = 1
    answers[503] = get(emu, "daily_chats", START, END)
    emu.faults.status_every_n = None
    emu.faults.error_200 = "maintenance"
    answers[200] = get(emu, "daily_chats", START, END)
    return answers


def test_echo_token_quotes_the_authorization_header_in_every_error(emu: Emulator) -> None:
    emu.faults.echo_token = True
    emu.faults.status_code = 503
    answers = _error_answers(emu, "Bearer pat-SECRET-xyz")
    assert {code: r.status_code for code, r in answers.items()} == {c: c for c in answers}
    wrong = answers.pop(401)
    assert wrong.json()["message"] == "token Bearer pat-SECRET-xyz is not valid; unauthenticated"
    assert wrong.headers["X-Echo"] == "Bearer pat-SECRET-xyz"
    for response in answers.values():
        assert response.json()["message"].startswith(f"token {PAT} is not valid; ")
        assert response.headers["X-Echo"] == PAT
    emu.faults = Faults()
    quiet = _error_answers(emu, "Bearer pat-SECRET-xyz")
    assert not any(
        "tok1" in r.text or "SECRET" in r.text or "X-Echo" in r.headers for r in quiet.values()
    )


def test_redirect_same_origin_counts_both_requests(emu: Emulator) -> None:
    emu.faults.redirect_same_origin = True
    first = get(emu, "daily_chats", START, END)
    assert first.status_code == 307
    assert first.headers["Location"].startswith(emu.base_url + "/rest/dashboard/ws1/chats/count?")
    assert first.headers["Location"].endswith("&_hop=1")
    emu.clear_log()
    emu.faults.rate_limit = (3, 60)
    followed = get(emu, "daily_chats", START, END, follow=True)
    assert followed.status_code == 200
    assert days(followed.json()["data"])[0] == "2026-01-01"
    log = emu.requests()
    assert [(r.status, r.fault, r.params.get("_hop")) for r in log] == [
        (307, "redirect_same_origin", None),
        (200, None, "1"),
    ]
    assert all(r.authorized for r in log)  # the token went along, as requests does
    # Both took a slot of 3: the next redirect takes the last one, its follow-up is 429.
    assert get(emu, "daily_chats", START, END, follow=True).status_code == 429
    assert [r.status for r in emu.requests()][2:] == [307, 429]


def test_redirect_loop_never_ends(emu: Emulator) -> None:
    emu.faults.redirect_loop = True
    hops = []
    location = emu.base_url + "/rest/dashboard/ws1/chats/count?from=2026-01-01&to=2026-01-05"
    for _ in range(5):
        response = requests.get(location, timeout=5, allow_redirects=False)
        assert response.status_code == 307
        location = response.headers["Location"]
        hops.append(location.rsplit("_hop=", 1)[1])
    assert hops == ["1", "2", "3", "4", "5"]
    with pytest.raises(requests.TooManyRedirects):
        get(emu, "daily_chats", START, END, follow=True)


def test_nested_json_depth(emu: Emulator) -> None:
    emu.faults.nested_json_depth = 100_000
    response = get(emu, "daily_chats", START, END)
    assert response.status_code == 200
    assert int(response.headers["Content-Length"]) == len(response.content)
    assert response.content.startswith(b'{"status": "OK", "data": [[[[')
    assert response.content.count(b"[") == response.content.count(b"]") == 100_000
    with pytest.raises(RecursionError):
        json.loads(response.content)
    emu.faults.nested_json_depth = 3
    body = get(emu, "daily_chats", START, END).json()
    assert body == {
        "status": "OK",
        "data": [[[]]],
        "metadata": {"next_cursor": None, "total_days": 40},
    }
