"""What Airbyte shows and sends: the SPEC (setup form), the catalog's streams, the config.

The tap's config has ``pat`` + ``project_id`` or ``workspaces`` side by side;
Airbyte's form renders that choice only as a property whose ``oneOf`` options
carry titles and a ``const`` discriminator. So the SPEC puts the choice under
``credentials``, and ``to_tap_config`` flattens it back before the tap sees it.
Every other setting comes from the tap's ``CONFIG_SCHEMA`` (new settings appear
here by themselves), with Airbyte's ``order``, ``examples`` and date patterns.
"""

from __future__ import annotations

import copy
import typing as t
from collections.abc import Mapping

from tap_indigo_analytics.airbyte.output import JSON
from tap_indigo_analytics.inputs import InputError
from tap_indigo_analytics.settings import CONFIG_SCHEMA

if t.TYPE_CHECKING:
    from tap_indigo_analytics.tap import TapIndigoAnalytics

DOCUMENTATION_URL = "https://github.com/indigo-analytics/tap-indigo-analytics#use-from-airbyte"
DRAFT_07 = "http://json-schema.org/draft-07/schema#"
FULL_REFRESH = "full_refresh"
INCREMENTAL = "incremental"

#: The tap's own settings, copied before any tap instance merges the SDK's built-in
#: settings (stream maps, batch...) into the shared dict; those mean nothing to Airbyte.
_TAP_SCHEMA: JSON = copy.deepcopy(CONFIG_SCHEMA)
#: The keys that name workspaces and tokens: under ``credentials`` in the SPEC.
_WORKSPACE_KEYS = ("pat", "project_id", "workspaces")
#: The ``credentials`` discriminator (``setup``) of each way to configure.
ONE_WORKSPACE = "one_workspace"
SEVERAL_WORKSPACES = "several_workspaces"

#: For tests against the local emulator only: hidden from the setup form. ``base_url``
#: would let a hosted platform's user point the source at any https host (and
#: ``allowedHosts`` refuses all but the API anyway).
_HIDDEN = frozenset({"base_url", "rate_limit_window_seconds", "backoff_seconds"})
#: What a user need not set: under the form's advanced section.
_ADVANCED = frozenset(
    {"page_size", "requests_per_minute", "request_timeout", "max_concurrency"}
    | {"state_interval_seconds", "max_tries"}
)
_GROUPS = [{"id": "connection", "title": "Connection"}, {"id": "advanced", "title": "Advanced"}]

_PAT_DESCRIPTION = (
    "The workspace's Indigo personal access token, with or without the `pat-` prefix."
)
_DATE_PATTERN = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_PROJECT_ID_EXAMPLE = "my-workspace-id"
#: Examples for settings whose default is not example enough; others show their default.
_EXAMPLES: dict[str, list[t.Any]] = {
    "start_date": ["2025-01-01"],
    "end_date": ["2025-12-31"],
    "max_concurrency": [8, 64],
    "shard": ["1/2", "2/4"],
    "ca_bundle": ["/etc/ssl/certs/corporate-ca.pem"],
}


def spec() -> JSON:
    """The SPEC message."""
    properties: JSON = {"credentials": _credentials()}
    for key, prop in _TAP_SCHEMA["properties"].items():
        if key not in _WORKSPACE_KEYS:
            properties[key] = _setting(key, prop)
    for order, (key, prop) in enumerate(properties.items()):
        prop["order"] = order
        if key in _HIDDEN:
            prop["airbyte_hidden"] = True
        else:
            prop["group"] = "advanced" if key in _ADVANCED else "connection"
    connection = {
        "$schema": DRAFT_07,
        "title": "Indigo Analytics Spec",
        "type": "object",
        "required": ["credentials"],
        "additionalProperties": True,
        "properties": properties,
        "groups": copy.deepcopy(_GROUPS),
    }
    return {
        "type": "SPEC",
        "spec": {
            "documentationUrl": DOCUMENTATION_URL,
            "connectionSpecification": connection,
            "supportsIncremental": True,
            "supported_destination_sync_modes": ["overwrite", "append", "append_dedup"],
        },
    }


def _plain(prop: Mapping[str, t.Any]) -> JSON:
    """A tap property as Airbyte renders it: one type (not ``[x, "null"]``), no SDK-only keys."""
    result = {k: copy.deepcopy(v) for k, v in prop.items() if k not in ("secret", "writeOnly")}
    kinds = result.get("type")
    if isinstance(kinds, list):
        kinds = [kind for kind in kinds if kind != "null"]
        result["type"] = kinds[0] if len(kinds) == 1 else kinds
    if prop.get("secret"):
        result["airbyte_secret"] = True
    return result


def _setting(key: str, prop: Mapping[str, t.Any]) -> JSON:
    result = _plain(prop)
    if result.get("format") == "date":
        result["pattern"] = _DATE_PATTERN
        result["pattern_descriptor"] = "YYYY-MM-DD"
    examples = _EXAMPLES.get(key) or ([prop["default"]] if "default" in prop else None)
    if examples:
        result["examples"] = examples
    return result


def _credentials() -> JSON:
    tap = _TAP_SCHEMA["properties"]
    # The tap's descriptions compare the two ways; in the form each option stands alone.
    pat = {**_plain(tap["pat"]), "description": _PAT_DESCRIPTION, "order": 2}
    project_id = {**_plain(tap["project_id"]), "examples": [_PROJECT_ID_EXAMPLE], "order": 1}
    item = _plain(tap["workspaces"]["items"])
    item_props = item["properties"]
    item_props["project_id"] = {
        **_plain(item_props["project_id"]),
        "title": "Workspace (project) id",
        "examples": [_PROJECT_ID_EXAMPLE],
        "order": 0,
    }
    item_props["pat"] = {
        **_plain(item_props["pat"]),
        "title": "Personal access token",
        "description": _PAT_DESCRIPTION,
        "airbyte_secret": True,
        "order": 1,
    }
    workspaces = {
        **_plain(tap["workspaces"]),
        "description": "Each workspace with its own token (a token belongs to one workspace).",
        "items": item,
        "minItems": 1,
        "order": 1,
    }
    return {
        "title": "Workspaces and tokens",
        "description": "One workspace and its token, or several workspaces, each with its own.",
        "type": "object",
        "oneOf": [
            {
                "title": "One workspace",
                "type": "object",
                "required": ["setup", "project_id", "pat"],
                "properties": {
                    "setup": _discriminator(ONE_WORKSPACE),
                    "project_id": project_id,
                    "pat": pat,
                },
            },
            {
                "title": "Several workspaces",
                "type": "object",
                "required": ["setup", "workspaces"],
                "properties": {
                    "setup": _discriminator(SEVERAL_WORKSPACES),
                    "workspaces": workspaces,
                },
            },
        ],
    }


def _discriminator(value: str) -> JSON:
    return {"type": "string", "const": value, "default": value, "order": 0}


def to_tap_config(config: Mapping[str, t.Any]) -> JSON:
    """The tap's flat config from an Airbyte config (``credentials`` form or the tap's own)."""
    result = dict(config)
    credentials = result.pop("credentials", None)
    if credentials is None:
        return result
    if not isinstance(credentials, dict):
        raise InputError("config `credentials` must be an object (see the spec)")
    clash = [key for key in _WORKSPACE_KEYS if key in result]
    if clash:
        raise InputError(
            f"config: give the workspaces either under `credentials` or as "
            f"`{'`, `'.join(clash)}`, not both"
        )
    setup = credentials.get("setup")
    wanted = {ONE_WORKSPACE: ("project_id", "pat"), SEVERAL_WORKSPACES: ("workspaces",)}.get(
        setup or (SEVERAL_WORKSPACES if "workspaces" in credentials else ONE_WORKSPACE)
    )
    if wanted is None:
        raise InputError(
            f"config `credentials.setup` must be {ONE_WORKSPACE!r} or {SEVERAL_WORKSPACES!r}"
        )
    result.update({key: credentials[key] for key in wanted if key in credentials})
    return result


def airbyte_streams(tap: TapIndigoAnalytics) -> list[JSON]:
    """The tap's streams as AirbyteStream objects.

    ``is_resumable`` is false: a full refresh starts again at ``start_date`` whatever
    the state says (its rows are replaced whole), so it must not claim to resume.
    """
    streams = []
    for stream in tap.streams.values():
        key = [[name] for name in stream.primary_keys or ()]
        entry: JSON = {
            "name": stream.name,
            "json_schema": {**copy.deepcopy(stream.schema), "$schema": DRAFT_07},
            "supported_sync_modes": [FULL_REFRESH, INCREMENTAL],
            "source_defined_cursor": True,
            "default_cursor_field": [stream.replication_key],
            "source_defined_primary_key": key,
            "is_resumable": False,
        }
        streams.append(entry)
    return streams
