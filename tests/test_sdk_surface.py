"""The SDK's private names the tap still uses (tap_indigo_analytics/sdk_private.py).

Each test fails by name when a singer-sdk release renames or reshapes one of them, so
``make check-sdk-next`` (the newest SDK, pre-releases included) says what broke.
"""

from __future__ import annotations

import inspect
import logging
import signal

import pytest
from singer_sdk import Stream
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.plugin_base import PluginBase

from tap_indigo_analytics.sdk_private import OVERRIDDEN_HOOKS, ConfigInput, StreamStateManager
from tap_indigo_analytics.tap import TapIndigoAnalytics


def test_config_input_is_built_and_read_as_the_tap_does() -> None:
    made = ConfigInput({"pat": "x"}, parse_env=True)
    assert made.config == {"pat": "x"}
    assert made.parse_env is True
    assert ConfigInput().config == {}  # the SDK's own default in invoke/cb_discover/cb_test


def test_the_state_manager_takes_the_arguments_the_tap_passes() -> None:
    params = inspect.signature(StreamStateManager.__init__).parameters
    for name in (
        "tap_name",
        "stream_name",
        "tap_state",
        "state_partitioning_keys",
        "is_sorted",
        "check_sorted",
    ):
        assert name in params, f"StreamStateManager no longer takes {name}"
    assert callable(StreamStateManager.get_context_state)
    source = inspect.getsource(Stream)
    assert "self._state_manager" in source, "Stream no longer keeps its state manager there"
    assert "self._tap_state" in source


@pytest.mark.parametrize("hook", OVERRIDDEN_HOOKS)
def test_every_overridden_hook_still_exists_and_is_used_by_the_constructor(hook: str) -> None:
    assert hook in vars(PluginBase), f"PluginBase.{hook} is gone: the override is dead"
    constructor = inspect.getsource(PluginBase.__init__)
    assert f"self.{hook}" in constructor, f"PluginBase.__init__ no longer uses {hook}"


def test_the_config_check_is_ours(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigValidationError) as caught:
        TapIndigoAnalytics(config={"pat": "p", "project_id": "1", "page_size": 0})
    assert caught.value.errors == [
        "config `page_size` must be a whole number from 1 to 365 (got 0)"
    ]


def test_constructing_a_tap_installs_no_signal_handler() -> None:
    before = signal.getsignal(signal.SIGTERM)
    TapIndigoAnalytics(config={"pat": "p", "project_id": "1"})
    assert signal.getsignal(signal.SIGTERM) is before


def test_streams_write_state_through_the_taps_state_writer() -> None:
    """The tap's ``state_writer`` (state.StateOut, no deep copies) is what streams use."""
    source = inspect.getsource(Stream)
    assert "self._tap.state_writer.write_state(" in source
    tap = TapIndigoAnalytics(config={"pat": "p", "project_id": "1"})
    assert type(tap.state_writer).__name__ == "StateOut"


def test_the_per_partition_line_goes_to_the_quiet_logger(caplog: pytest.LogCaptureFixture) -> None:
    """The SDK still logs through the manager's ``_logger`` (state.py replaces it)."""
    from tap_indigo_analytics.state import IndexedStateManager

    manager = IndexedStateManager(
        tap_name="tap-indigo-analytics",
        stream_name="daily_chats",
        tap_state={},
        state_partitioning_keys=None,
        is_sorted=True,
        check_sorted=False,
    )

    def start() -> None:
        manager.write_starting_replication_value(
            {"project_id": "ws-a"}, "INCREMENTAL", "date", {"start_date": "2026-01-01"}
        )

    quiet = logging.getLogger("tap-indigo-analytics.daily_chats.partitions")
    with caplog.at_level(logging.DEBUG):
        start()
        assert not [r for r in caplog.records if "Starting incremental sync" in r.getMessage()]
        level = quiet.level
        quiet.setLevel(logging.DEBUG)  # as a logging config that asks for it would
        try:
            start()
        finally:
            quiet.setLevel(level)
    names = {r.name for r in caplog.records if "Starting incremental sync" in r.getMessage()}
    assert names == {quiet.name}, f"the SDK logs the partition line elsewhere now: {names}"
