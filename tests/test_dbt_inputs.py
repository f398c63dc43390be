"""The marts cannot be fooled by their input (issue 22), through the real loaders.

On DuckDB and PostgreSQL alike, with ``meltano run`` / ``meltano invoke`` as a user types:

* an append-only load (the tap's key dropped by a stream map, so both loaders append)
  read twice, today's numbers changed in between: every day of the re-read window has
  two raw copies, the marts one row per key with today's new value, the build green;
* a past chats day lost from the raw table: its week and month are incomplete;
* a day read at noon, built later: still partial;
* a stale table: ``dbt source freshness`` errors, naming it;
* a bad raw row (two copies from the same extraction): the build stops before any mart
  is replaced;
* five streams selected: the marts build, daily_csat's columns null.

Needs `make setup`; the PostgreSQL cases skip without a server unless
TAP_INDIGO_REQUIRE_POSTGRES=1.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import dbt_expected as ex
from tests.conftest import STREAMS, WORKSPACES, today
from tests.dbt_support import (
    PLUGIN_VENVS,
    Warehouse,
    check_against_oracle,
    expected_raw,
    meltano_command,
    node_status,
    run,
    warehouse,
)
from tests.emulator import Emulator
from tests.meltano_support import installed_meltano

ALPHA = "ws-alpha"
CONFIG = {"workspaces": [{"project_id": ALPHA, "pat": f"pat-{WORKSPACES[ALPHA]}"}]}
KINDS = [pytest.param("duckdb"), pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="module")
def meltano() -> str:
    return installed_meltano(PLUGIN_VENVS)


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator({ALPHA: WORKSPACES[ALPHA]}) as emu:
        yield emu


@pytest.fixture(params=KINDS)
def wh(request: pytest.FixtureRequest, emulator: Emulator, tmp_path: Path) -> Iterator[Warehouse]:
    with warehouse(request.param, emulator, tmp_path) as found:
        found.env.update(TAP_INDIGO_ANALYTICS_WORKSPACES=json.dumps(CONFIG["workspaces"]))
        yield found


def previous_month_start(day: dt.date) -> dt.date:
    return ex.month_start(ex.month_start(day) - dt.timedelta(days=1))


def invoke(meltano: str, wh: Warehouse, command: str, **env: str) -> tuple[int, str]:
    """``meltano invoke <utility>:<command>``: exit status and output."""
    code, output, _ = meltano_command(
        meltano, {**wh.env, **env}, ["invoke", f"{wh.utility}:{command}"], CONFIG
    )
    return code, output


def test_append_only_loads_a_lost_day_and_a_stale_table(
    meltano: str, emulator: Emulator, wh: Warehouse, tmp_path: Path
) -> None:
    day0 = today()
    first = previous_month_start(day0) - dt.timedelta(days=3)
    lost_day = previous_month_start(day0) + dt.timedelta(days=9)
    noon_day = day0 - dt.timedelta(days=8)  # older than the lookback: read once
    env = dict(wh.env)
    env.update(
        TAP_INDIGO_ANALYTICS_START_DATE=first.isoformat(),
        # Append-only: without a key, target-postgres appends and target-duckdb inserts.
        TAP_INDIGO_ANALYTICS_STREAM_MAPS=json.dumps(
            {stream: {"__key_properties__": []} for stream in STREAMS}
        ),
        TARGET_DUCKDB_PRIMARY_KEY_REQUIRED="false",
    )
    run(meltano, env, CONFIG, "tap-indigo-analytics", wh.loader)
    old_today = emulator.expected_row(ALPHA, "daily_chats", day0)["count"]
    emulator.today_revision += 1
    new_today = emulator.expected_row(ALPHA, "daily_chats", day0)["count"]
    assert new_today != old_today
    wh.delete_day("daily_chats", ALPHA, lost_day)
    noon = dt.datetime.combine(noon_day, dt.time(12))
    wh.set_extracted("daily_messages", ALPHA, noon_day, noon)

    run(meltano, env, CONFIG, "tap-indigo-analytics", wh.loader, f"{wh.utility}:build")
    assert today() == day0 or pytest.skip("the UTC date changed while the test ran")
    for stream in STREAMS:
        assert wh.copies(stream, ALPHA, day0) == 2, stream  # appended, not upserted

    lost = [("daily_chats", ALPHA, lost_day)]
    raw = expected_raw(emulator, wh, {ALPHA: first}, day0, lost=lost)
    marts = check_against_oracle(wh, raw)
    daily, weekly = marts["indigo__daily_kpis"], marts["indigo__weekly_kpis"]
    monthly = marts["indigo__monthly_kpis"]
    assert daily[(ALPHA, day0)]["chats"] == new_today
    # The lost chats day: its week and month incomplete, the other streams whole.
    for period, start in ((weekly, ex.week_start(lost_day)), (monthly, ex.month_start(lost_day))):
        row = period[(ALPHA, start)]
        assert row["is_complete_period"] is False
        assert row["days_with_chats"] == row["days_with_messages"] - 1 == row["days_in_period"]
    assert weekly[(ALPHA, ex.week_start(lost_day) + dt.timedelta(days=7))]["is_complete_period"]
    # Read at noon, built days later: partial, and so is its week.
    assert daily[(ALPHA, noon_day)]["is_partial"] is True
    assert daily[(ALPHA, noon_day - dt.timedelta(days=1))]["is_partial"] is False
    assert weekly[(ALPHA, ex.week_start(noon_day))]["is_complete_period"] is False

    # Freshness: fresh passes; 2.5 days without a load warns; 4 days errors, naming it.
    code, output = invoke(meltano, wh, "freshness")
    assert code == 0, output[-3000:]
    assert output.count(" PASS freshness of ") == 6, output[-3000:]
    wh.age("daily_technical_errors", 60)
    code, output = invoke(meltano, wh, "freshness")
    assert code == 0, output[-3000:]
    assert "WARN freshness of indigo.daily_technical_errors" in output, output[-3000:]
    wh.age("daily_technical_errors", 36)
    code, output = invoke(meltano, wh, "freshness")
    assert code == 1, output[-3000:]
    assert "ERROR STALE freshness of indigo.daily_technical_errors" in output, output[-3000:]

    # A copy no extraction time can order stops the build before the marts are replaced.
    before = wh.read("indigo__daily_kpis")
    wh.query(
        'INSERT INTO {raw}."daily_chats" SELECT * FROM {raw}."daily_chats" '
        'WHERE project_id = ? AND "date" = ?',
        [ALPHA, wh.day(day0 - dt.timedelta(days=20))],
    )
    code, output = invoke(meltano, wh, "build")
    assert code == 1, output[-3000:]
    assert "source_indigo_unique_key_indigo_daily_chats" in output, output[-3000:]
    for mart in ("indigo__daily_kpis", "indigo__weekly_kpis", "indigo__monthly_kpis"):
        assert node_status(tmp_path, mart) == "skipped", mart
    assert wh.read("indigo__daily_kpis") == before


def test_five_streams_selected(meltano: str, emulator: Emulator, wh: Warehouse) -> None:
    day0 = today()
    first = day0 - dt.timedelta(days=15)
    five = [s for s in STREAMS if s != "daily_csat"]
    env = dict(wh.env)
    env.update(
        TAP_INDIGO_ANALYTICS_START_DATE=first.isoformat(),
        TAP_INDIGO_ANALYTICS__SELECT=json.dumps([f"{s}.*" for s in five]),
    )
    run(meltano, env, CONFIG, "tap-indigo-analytics", wh.loader)
    assert "daily_csat" not in wh.tables()
    assert set(five) <= wh.tables()

    # Without saying so: one line naming the missing table and the setting, no traceback.
    code, output = invoke(meltano, wh, "build")
    assert code != 0, output[-3000:]
    assert "daily_csat not found: load the stream daily_csat, or leave it out" in output
    assert "Traceback" not in output

    streams = {"DBT_INDIGO_STREAMS": ",".join(five)}
    code, output = invoke(meltano, wh, "build", **streams)
    assert code == 0, output[-3000:]
    code, output = invoke(meltano, wh, "freshness", **streams)
    assert code == 0, output[-3000:]
    assert today() == day0 or pytest.skip("the UTC date changed while the test ran")
    raw = expected_raw(emulator, wh, {ALPHA: first}, day0, streams=five)
    marts = check_against_oracle(wh, raw)
    daily, weekly = marts["indigo__daily_kpis"], marts["indigo__weekly_kpis"]
    assert all(r["csat_responses"] is None and r["csat_avg"] is None for r in daily.values())
    assert all(r["chats"] is not None for r in daily.values())
    full_week = weekly[(ALPHA, ex.week_start(day0) - dt.timedelta(days=7))]
    assert full_week["is_complete_period"] is True
    assert full_week["days_with_csat"] is None
    assert full_week["days_in_period"] == 7
