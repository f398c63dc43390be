"""``shard: K/N``: N runs split the configured workspaces; together they are one run."""

from __future__ import annotations

from collections import Counter

import pytest

from tap_indigo_analytics.settings import Settings, SettingsError, default_concurrency
from tests.conftest import STREAMS, TapRun, days_back, run_tap, today
from tests.emulator import Emulator
from tests.test_concurrency import config_for

FORTY = {f"ws-{n:03d}": f"shardSecretToken{n:04d}" for n in range(40)}


def keys(run: TapRun) -> Counter[tuple[str, str, str]]:
    return Counter(
        (m["stream"], m["record"]["project_id"], m["record"]["date"])
        for m in run.messages
        if m["type"] == "RECORD"
    )


def test_two_and_three_shards_together_are_one_run() -> None:
    with Emulator(FORTY) as emulator:
        config = config_for(emulator, FORTY, start_date=days_back(2))
        whole = run_tap(config)
        assert whole.returncode == 0, whole.stderr[-3000:]
        everything = keys(whole)
        assert len(everything) == len(STREAMS) * len(FORTY) * 3
        assert max(everything.values()) == 1
        for n in (2, 3):
            union: Counter[tuple[str, str, str]] = Counter()
            owners: list[set[str]] = []
            for k in range(1, n + 1):
                part = run_tap({**config, "shard": f"{k}/{n}"})
                assert part.returncode == 0, part.stderr[-3000:]
                got = keys(part)
                union += got
                owners.append({project_id for _, project_id, _ in got})
                # Each shard's state names only its own workspaces.
                state = part.state["bookmarks"]
                for stream in STREAMS:
                    ids = {p["context"]["project_id"] for p in state[stream]["partitions"]}
                    assert ids == owners[-1]
                assert owners[-1], f"shard {k}/{n} of 40 workspaces got none (hash skew?)"
            assert union == everything, f"{n} shards differ from one run"
            assert sum(len(o) for o in owners) == len(FORTY), "a workspace read twice"


def test_a_shard_is_stable_and_checked() -> None:
    def ids(shard: str) -> list[str]:
        config = {"workspaces": [{"project_id": p, "pat": t} for p, t in FORTY.items()]}
        settings = Settings.parse({**config, "shard": shard}, today=today())
        return [w.project_id for w in settings.workspaces]

    # The same split every time (a salted hash() would differ between processes).
    assert ids("1/2") == ids("1/2")
    assert sorted(ids("1/2") + ids("2/2")) == sorted(FORTY)
    # Pinned: the split must never change between releases (each shard's state would
    # then name workspaces it no longer reads, and others would restart from start_date).
    assert ids("1/4") == [
        "ws-003", "ws-004", "ws-007", "ws-010", "ws-013",
        "ws-014", "ws-018", "ws-019", "ws-022", "ws-028",
    ]  # fmt: skip
    for bad, why in [("0/2", "K must be from 1 to N"), ("3/2", "K must be"), ("half", "K/N")]:
        with pytest.raises(SettingsError, match=why):
            ids(bad)


def test_the_default_concurrency_grows_with_the_workspaces() -> None:
    assert [default_concurrency(n) for n in (1, 32, 100, 500, 5000)] == [8, 8, 25, 64, 64]


def test_an_empty_shard_reads_nothing_and_says_so() -> None:
    one = {"ws-only": "onlySecretToken0001"}
    with Emulator(one) as emulator:
        config = config_for(emulator, one, start_date=today().isoformat())
        shards = [run_tap({**config, "shard": f"{k}/2"}) for k in (1, 2)]
    empty = next(run for run in shards if not run.records())
    assert empty.returncode == 0, empty.stderr[-3000:]
    assert "holds none of the configured workspaces" in empty.stderr
