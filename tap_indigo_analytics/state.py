"""Singer state: checked and brought to this tap's form on the way in, indexed while written.

The tap keeps one ``date`` bookmark per workspace (state partitions keyed by
``project_id``). A classic single-partition bookmark, as other taps and older runs write
it (``{"bookmarks": {"daily_chats": {"replication_key_value": "2026-01-01"}}}``), is
turned into that workspace's partition when the config has exactly one workspace, so
the SDK and the fetch path both read one consistent state. With several workspaces it
cannot be matched to one of them, and is refused rather than silently dropped (which
would mean a full resync) or carried forward.

Airbyte's flat form, the replication key and a day (``{"daily_chats": {"date":
"2026-12-02"}}``, what a user writes by hand), resumes every configured workspace from
that day; ``date`` inside a partition is that workspace's bookmark. A stream state
with no bookmark in any of these forms, only other keys, is refused: taking it for no
state would re-read from ``start_date`` without a word.

A state of the wrong shape, or a bookmark that is not a day, is a :class:`StateError`
with one line naming the stream and what is wrong.

STATE messages go out through :class:`StateOut`, which skips an unchanged state like the
SDK's writer but compares the encoded bytes instead of keeping a deep copy: at 5,000
workspaces a state is about 3 MB, and the copy cost a quarter of a second per message.

While a run writes state, :class:`IndexedStateManager` finds each workspace's partition
in constant time: the SDK scans the stream's whole partition list, six times per
partition synced, which is quadratic in the workspaces (about 1 s of a 500-workspace
run, minutes at 5,000). It keeps the SDK's state dicts exactly as they are.
"""

from __future__ import annotations

import copy
import logging
import typing as t
from collections.abc import Callable, Collection, Mapping, Sequence

import msgspec
from singer_sdk.singerlib import StateMessage

from tap_indigo_analytics.days import parse_day
from tap_indigo_analytics.inputs import InputError
from tap_indigo_analytics.jsontypes import json_kind
from tap_indigo_analytics.sdk_private import StreamStateManager

if t.TYPE_CHECKING:
    from singer_sdk.helpers import types
    from singer_sdk.singerlib import Message

#: The replication key of every stream.
REPLICATION_KEY = "date"
#: Where a stream state can hold a bookmark (``date``: Airbyte's flat form).
_BOOKMARK_KEYS = frozenset({"partitions", "replication_key_value", REPLICATION_KEY})
#: What the SDK keeps beside a bookmark: a stream state of only these holds none.
_SDK_KEYS = frozenset(
    {
        "replication_key",
        "progress_markers",
        "starting_replication_value",
        "replication_key_signpost",
    }
)


class StateError(InputError):
    """A state the tap cannot use; ``str`` is one line naming the stream."""


def normalize_state(
    state: object, project_ids: Sequence[str], streams: Collection[str]
) -> dict[str, t.Any]:
    """``state`` checked, classic bookmarks of ``streams`` moved into their partition.

    ``project_ids`` are the configured workspaces. Bookmarks of other streams are only
    checked for shape and passed on as they are (the SDK carries them forward).
    """
    if not isinstance(state, Mapping):
        raise StateError(
            f'state must be a JSON object {{"bookmarks": {{...}}}}, not {json_kind(state)}'
        )
    bookmarks = state.get("bookmarks")
    if bookmarks is None:
        return dict(state)
    if not isinstance(bookmarks, Mapping):
        raise StateError(
            f"state `bookmarks` must be an object of stream states, not {json_kind(bookmarks)}"
        )
    result = {**state, "bookmarks": {}}
    for stream, stream_state in bookmarks.items():
        where = f"state `bookmarks.{stream}`"
        if not isinstance(stream_state, Mapping):
            raise StateError(f"{where} must be an object, not {json_kind(stream_state)}")
        checked = copy.deepcopy(dict(stream_state))
        _check_partitions(checked.get("partitions"), where)
        if stream in streams:
            _adopt_flat_days(checked, project_ids, where)
            _adopt_classic_bookmark(checked, project_ids, stream, where)
        result["bookmarks"][stream] = checked
    return result


def _check_partitions(partitions: object, where: str) -> None:
    if partitions is None:
        return
    if not isinstance(partitions, list):
        raise StateError(f"{where}.partitions must be an array, not {json_kind(partitions)}")
    for index, partition in enumerate(partitions):
        here = f"{where}.partitions[{index}]"
        if not isinstance(partition, Mapping):
            raise StateError(f"{here} must be an object, not {json_kind(partition)}")
        if not isinstance(partition.get("context"), Mapping):
            raise StateError(f"{here} must have a `context` object (its workspace)")
        _check_bookmark(partition, here)


def _check_bookmark(stream_state: Mapping[str, t.Any], where: str) -> None:
    key = stream_state.get("replication_key")
    if key is not None and key != REPLICATION_KEY:
        raise StateError(f"{where} has replication_key {key!r}; this tap's is {REPLICATION_KEY!r}")
    value = stream_state.get("replication_key_value")
    if value is None:
        return
    if parse_day(value, prefix=True) is not None:
        return
    shown = repr(value[:40]) if isinstance(value, str) else json_kind(value)
    raise StateError(f"{where} bookmark {shown} is not a YYYY-MM-DD date; fix or remove it")


def _day(value: object, where: str) -> str:
    """``value`` if it is a day (or an ISO date-time); else a :class:`StateError`."""
    if parse_day(value, prefix=True) is None:
        shown = repr(value[:40]) if isinstance(value, str) else json_kind(value)
        raise StateError(f"{where} {shown} is not a YYYY-MM-DD date; fix or remove it")
    return t.cast("str", value)


def _adopt_flat_days(
    stream_state: dict[str, t.Any], project_ids: Sequence[str], where: str
) -> None:
    """Airbyte's flat ``{"date": day}``, in the stream or a partition, as bookmarks (in place)."""
    if not _BOOKMARK_KEYS & stream_state.keys() and stream_state.keys() - _SDK_KEYS:
        found = ", ".join(sorted(map(str, stream_state.keys() - _SDK_KEYS))[:5])
        raise StateError(
            f"{where} holds no bookmark (no `partitions`, `replication_key_value` or "
            f"`{REPLICATION_KEY}`; it has {found}): fix it or remove it"
        )
    partitions = stream_state.get("partitions") or []
    for index, partition in enumerate(partitions):
        if REPLICATION_KEY in partition and "replication_key_value" not in partition:
            day = _day(partition.pop(REPLICATION_KEY), f"{where}.partitions[{index}].date")
            partition.update(replication_key=REPLICATION_KEY, replication_key_value=day)
    if REPLICATION_KEY not in stream_state:
        return
    day = _day(stream_state.pop(REPLICATION_KEY), f"{where}.date")
    if any("replication_key_value" in p for p in partitions):
        return  # per-workspace bookmarks exist; a leftover single one must not override them
    configured = [{"project_id": project_id} for project_id in project_ids]
    stream_state["partitions"] = [p for p in partitions if p.get("context") not in configured] + [
        {"context": c, "replication_key": REPLICATION_KEY, "replication_key_value": day}
        for c in configured
    ]


def _adopt_classic_bookmark(
    stream_state: dict[str, t.Any], project_ids: Sequence[str], stream: str, where: str
) -> None:
    """Move a bookmark outside ``partitions`` into its workspace's partition (in place)."""
    _check_bookmark(stream_state, where)
    value = stream_state.pop("replication_key_value", None)
    stream_state.pop("replication_key", None)
    if value is None:
        return
    partitions = stream_state.setdefault("partitions", [])
    if any("replication_key_value" in p for p in partitions):
        return  # per-workspace bookmarks exist; a leftover single one must not override them
    if len(project_ids) != 1:
        raise StateError(
            f"state: stream {stream} has one bookmark ({value[:10]}) that names no workspace, "
            f"and the config has {len(project_ids)} ({', '.join(project_ids)}): it cannot be "
            "matched to one of them; give it per workspace under `partitions`, or remove it"
        )
    (project_id,) = project_ids
    partitions[:] = [p for p in partitions if p.get("context") != {"project_id": project_id}]
    partitions.append(
        {
            "context": {"project_id": project_id},
            "replication_key": REPLICATION_KEY,
            "replication_key_value": value,
        }
    )


class StateOut:
    """The tap's STATE writer: a state that changed, or any state after new records.

    The SDK's writer skips a state equal to the last one; on a same-day rerun nothing
    moves, so a run ended on records and ``tap --state s.json | target > s.json`` emptied
    its state file. A STATE is the checkpoint of the records before it, so every
    successful run ends with one after its last record, and so does every stream,
    unless the state is large and the last STATE recent (``may_wait``, run.py).
    """

    def __init__(
        self,
        write: Callable[[Message], None],
        *,
        unwritten: Callable[[], int] = lambda: 0,
        written: Callable[[int], None] = lambda size: None,
        may_wait: Callable[[], bool] = lambda: False,
    ) -> None:
        """``unwritten`` counts records sent since the last STATE; ``written`` is told
        each STATE's bytes; ``may_wait`` says whether one the SDK asks for may wait for
        the next (a STATE only checkpoints records already written, so a later one
        covers them too)."""
        self._write = write
        self._unwritten = unwritten
        self._written = written
        self._may_wait = may_wait
        self._last: bytes | None = None

    def write_state(self, state: types.TapState, *, due: bool = False) -> int:
        """Write ``state`` unless it is the last one and no record came since, or the
        SDK asks (not ``due``) while it may wait; its bytes (0 when not written)."""
        if not due and self._may_wait():
            return 0
        try:
            encoded: bytes | None = msgspec.json.encode(state)
        except (TypeError, ValueError):  # not plain JSON (a value another tool wrote)
            encoded = None
        if encoded is None or encoded != self._last or self._unwritten():
            self._write(StateMessage(value=state))
            self._last = encoded
            self._written(len(encoded or b""))
        return len(encoded or b"")


class IndexedStateManager(StreamStateManager):
    """``StreamStateManager`` with an index of partition state by ``project_id``."""

    def __init__(self, **kwargs: t.Any) -> None:
        super().__init__(**kwargs)
        # The SDK logs one INFO line per partition here ("Starting incremental sync of
        # ..."): thousands of lines at thousands of workspaces, and building each record
        # cost more main-thread time than the rest of the partition. Its own logger,
        # ``<tap>.<stream>.partitions``, is quiet below WARNING unless a logging config
        # sets its level; the stream's summary line says what a reader needs.
        self._logger = _quiet_partition_logger(f"{kwargs['tap_name']}.{kwargs['stream_name']}")
        self._index: dict[str, dict[str, t.Any]] = {}
        self._indexed_list: list[dict[str, t.Any]] | None = None

    def get_context_state(self, context: types.Context | None) -> dict[str, t.Any]:
        """The partition's writable state dict (created by the SDK when missing)."""
        if not context or set(context) != {"project_id"}:
            return super().get_context_state(context)
        partitions = self.tap_state.get("bookmarks", {}).get(self.stream_name, {}).get("partitions")
        if partitions is not self._indexed_list:
            # New list (state loaded or first partition created): index it again.
            self._index = {
                p["context"]["project_id"]: p
                for p in partitions or []
                if isinstance(p.get("context"), dict) and "project_id" in p["context"]
            }
            self._indexed_list = partitions
        found = self._index.get(context["project_id"])
        if found is not None and found.get("context") == context:
            return found
        state = super().get_context_state(context)
        self._index[context["project_id"]] = state
        self._indexed_list = self.tap_state["bookmarks"][self.stream_name]["partitions"]
        return state


def _quiet_partition_logger(stream_logger_name: str) -> logging.Logger:
    """The logger the SDK's per-partition lines go to: WARNING unless configured."""
    quiet = logging.getLogger(f"{stream_logger_name}.partitions")
    if quiet.level == logging.NOTSET:
        quiet.setLevel(logging.WARNING)
    return quiet
