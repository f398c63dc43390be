"""The tap's settings: the JSON schema users and Meltano see, and its typed, checked form.

The SDK checks the JSON schema first; ``Settings.parse`` then checks what a
schema cannot say (date order, loopback-only http, one workspace per id) and
turns the config into typed values. Each problem becomes one line that names
the key, and never echoes a token.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from tap_indigo_analytics import config_values as values
from tap_indigo_analytics.auth import PATAuth
from tap_indigo_analytics.schema import (
    CONFIG_SCHEMA,
    DEFAULT_BASE_URL,
    DEFAULT_CONCURRENCY,
    MAX_DAYS_PER_REQUEST,
    MAX_DEFAULT_CONCURRENCY,
    SETTING_NAMES,
    WORKSPACES_PER_WORKER,
)

__all__ = [  # the schema's names are imported from here too
    "CONFIG_SCHEMA",
    "DEFAULT_BASE_URL",
    "MAX_DAYS_PER_REQUEST",
    "SETTING_NAMES",
    "Settings",
    "SettingsError",
    "Workspace",
    "unknown_key_warnings",
]

_WHOLE_NUMBERS = (
    "lookback_days",
    "page_size",
    "requests_per_minute",
    "rate_limit_window_seconds",
    "request_timeout",
    "max_concurrency",
    "state_interval_seconds",
    "max_tries",
    "backoff_seconds",
)


#: What other taps call the token.
_TOKEN_NAMES = frozenset({"token", "api_key", "apikey", "access_token", "api_token", "auth_token"})


def unknown_key_warnings(config: Mapping[str, Any], known: Collection[str]) -> list[str]:
    """A warning per config key the tap does not know (a typo is otherwise silently ignored)."""
    warnings = []
    for key in sorted(set(config) - set(known)):
        shown = key if len(key) <= 40 else key[:37] + "..."
        close = (
            ["pat"]
            if key.lower() in _TOKEN_NAMES and "pat" in known
            else difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
        )
        hint = f"; did you mean `{close[0]}`?" if close else ""
        warnings.append(f"config `{shown}` is not a setting of this tap and is ignored{hint}")
    return warnings


class SettingsError(ValueError):
    """Config problems; ``str`` is one line per problem, each naming the key the user gave."""


@dataclass(frozen=True)
class Workspace:
    """One Indigo workspace and the token that may read it."""

    project_id: str
    auth: PATAuth
    #: ``token-N``: names the token's rate budget without revealing it (shared PATs share N).
    token_key: str


@dataclass(frozen=True)
class Settings:
    """The config, checked and typed."""

    workspaces: tuple[Workspace, ...]
    #: The platform's day for this whole run (UTC), computed once: never ask past it.
    today: dt.date
    start_date: dt.date
    end_date: dt.date | None
    lookback_days: int
    page_size: int
    base_url: str
    requests_per_minute: int
    rate_limit_window_seconds: int
    request_timeout: int
    max_concurrency: int
    #: ``(k, n)``: this run reads the k-th of n shares of the workspaces (1-based).
    shard: tuple[int, int] | None
    state_interval_seconds: int
    max_tries: int
    backoff_seconds: int
    #: Stop the run at the first failure (else failures stop only their workspace/pair).
    fail_fast: bool = False
    #: A PEM file of CAs to trust (the ``ca_bundle`` setting), or None: see transport.py.
    ca_bundle: str | None = None

    @classmethod
    def parse(cls, config: Mapping[str, Any], *, today: dt.date) -> Settings:
        """Check ``config``; raise ``SettingsError`` listing every problem found."""
        problems: list[str] = []

        def check(key: str, parse: Any, *args: Any) -> Any:
            try:
                return parse(*args)
            except values.ValueProblemError as exc:
                problems.append(f"config `{exc.key or key}` {exc}")
                return None

        workspaces = check("workspaces", _workspaces, config)
        start = check("start_date", values.date, config.get("start_date"))
        end = check("end_date", values.date, config.get("end_date"))
        base_url = check("base_url", values.base_url, config.get("base_url", DEFAULT_BASE_URL))
        fail_fast = check("fail_fast", values.boolean, config.get("fail_fast", False))
        ca_bundle = check("ca_bundle", values.ca_bundle, config.get("ca_bundle"))
        # Every numeric setting is a whole number: Meltano passes `decimal` settings from
        # environment variables badly, and the SDK's `--config ENV` leaves numbers as strings.
        # Defaults and bounds come from CONFIG_SCHEMA, so they are written down once.
        ints: dict[str, Any] = {}
        shard = check("shard", values.shard, config.get("shard"))
        if workspaces is not None and shard is not None:
            workspaces = tuple(w for w in workspaces if in_shard(w.project_id, shard))
        for key in _WHOLE_NUMBERS:
            spec = CONFIG_SCHEMA["properties"][key]
            value = config.get(key, spec.get("default"))
            if key == "max_concurrency" and value is None:
                value = default_concurrency(len(workspaces or ()))
            ints[key] = check(key, values.whole_number, value, spec["minimum"], spec.get("maximum"))
        if start is not None and start > today:
            # Nothing to read: an exit 0 with no records would look like a working sync.
            problems.append(f"config `start_date` {start} is after today ({today}, UTC)")
        start = start or today - dt.timedelta(days=MAX_DAYS_PER_REQUEST - 1)
        if end is not None and end < start:
            problems.append(f"config `end_date` {end} is before `start_date` {start}")
        if problems:
            raise SettingsError("\n".join(problems))
        return cls(
            workspaces=workspaces,
            today=today,
            start_date=start,
            end_date=end,
            base_url=base_url,
            shard=shard,
            fail_fast=bool(fail_fast),
            ca_bundle=ca_bundle,
            **ints,
        )

    @cached_property
    def _by_id(self) -> dict[str, Workspace]:
        return {w.project_id: w for w in self.workspaces}

    def workspace(self, project_id: str) -> Workspace:
        """The configured workspace with this id."""
        return self._by_id[project_id]


def default_concurrency(workspaces: int) -> int:
    """``max_concurrency`` when unset: 8, and one per 4 workspaces beyond 32, at most 64."""
    return min(
        MAX_DEFAULT_CONCURRENCY, max(DEFAULT_CONCURRENCY, workspaces // WORKSPACES_PER_WORKER)
    )


def in_shard(project_id: str, shard: tuple[int, int]) -> bool:
    """Whether the workspace belongs to shard ``(k, n)``: a hash that never changes
    between runs, machines or Python versions (``hash()`` is salted per process)."""
    k, n = shard
    digest = hashlib.sha256(project_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % n == k - 1


def _workspaces(config: Mapping[str, Any]) -> tuple[Workspace, ...]:
    entries = config.get("workspaces")
    pat, project_id = config.get("pat"), config.get("project_id")
    if entries is not None and (pat is not None or project_id is not None):
        given = " and ".join(f"`{k}`" for k in ("pat", "project_id") if config.get(k) is not None)
        raise values.ValueProblemError(
            f"is set together with {given}: give one workspace as `pat` + `project_id`, "
            "or several as `workspaces`, not both",
            "workspaces",
        )
    if entries is None:
        if pat is None and project_id is None:
            raise values.ValueProblemError(
                "and `project_id` are not set: no workspace configured; set both, or "
                "`workspaces` as a list of {project_id, pat}",
                "pat",
            )
        if project_id is None:
            raise values.ValueProblemError(
                "is missing: no workspace configured (`pat` needs the id of its workspace)",
                "project_id",
            )
        if pat is None:
            raise values.ValueProblemError(
                "is missing: no workspace configured (`project_id` needs its token)", "pat"
            )
        return (_workspace(project_id, pat, "", {}),)
    if not isinstance(entries, list) or not entries:
        raise values.ValueProblemError("must be a non-empty list of {project_id, pat}")
    result: list[Workspace] = []
    seen: set[str] = set()
    token_keys: dict[PATAuth, str] = {}
    for index, entry in enumerate(entries):
        where = f"workspaces[{index}]."
        if not isinstance(entry, Mapping):
            raise values.ValueProblemError(
                "must be an object {project_id, pat}", f"workspaces[{index}]"
            )
        if entry.get("pat") is None and (_TOKEN_NAMES & set(entry)):
            misnamed = sorted(_TOKEN_NAMES & set(entry))[0]
            raise values.ValueProblemError(
                f"is missing (`{misnamed}` is given: this tap calls the token `pat`)",
                f"{where}pat",
            )
        workspace = _workspace(entry.get("project_id"), entry.get("pat"), where, token_keys)
        if workspace.project_id in seen:
            raise values.ValueProblemError(
                f"{workspace.project_id!r} is listed twice", f"{where}project_id"
            )
        seen.add(workspace.project_id)
        result.append(workspace)
    return tuple(result)


def _workspace(
    project_id: object, token: object, where: str, token_keys: dict[PATAuth, str]
) -> Workspace:
    """One checked workspace; ``token_keys`` numbers the distinct tokens seen so far."""
    checked_id = values.project_id(project_id, where)
    # Never quote the token, nor any part of it: not its value, not a character.
    if token is None:
        raise values.ValueProblemError("is missing", f"{where}pat")
    if not isinstance(token, str):
        raise values.ValueProblemError("must be a string (the token, in quotes)", f"{where}pat")
    if not token.isascii():
        raise values.ValueProblemError(
            "contains characters a token cannot have (tokens are plain ASCII); "
            "paste it again from Indigo",
            f"{where}pat",
        )
    try:
        auth = PATAuth(token)
    except ValueError as exc:
        raise values.ValueProblemError(str(exc), f"{where}pat") from None
    if not auth.secret.isprintable():
        raise values.ValueProblemError(
            "contains control characters; paste it again from Indigo", f"{where}pat"
        )
    token_key = token_keys.setdefault(auth, f"token-{len(token_keys) + 1}")
    return Workspace(checked_id, auth, token_key)
