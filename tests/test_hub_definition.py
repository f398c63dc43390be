"""The extractor is described three times: by the tap (``--about``), in meltano.yml and
in the Meltano Hub definition. These tests keep the three from drifting apart."""

from __future__ import annotations

import json
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest

# PyYAML comes with singer-sdk; until types-PyYAML is in the lint extra, mypy sees no stubs.
import yaml  # type: ignore[import-untyped,unused-ignore]

from tests.conftest import tap_command

ROOT = Path(__file__).resolve().parent.parent
HUB_FILE = ROOT / "hub" / "extractors" / "tap-indigo-analytics--indigo.yml"
MELTANO_FILE = ROOT / "meltano.yml"


@cache
def about() -> dict[str, Any]:
    """What the installed tap says about itself."""
    proc = subprocess.run(
        [*tap_command(), "--about", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def hub_definition() -> dict[str, Any]:
    return yaml.safe_load(HUB_FILE.read_text())  # type: ignore[no-any-return]


def meltano_extractor() -> dict[str, Any]:
    project = yaml.safe_load(MELTANO_FILE.read_text())
    (extractor,) = [
        p for p in project["plugins"]["extractors"] if p["name"] == "tap-indigo-analytics"
    ]
    return extractor  # type: ignore[no-any-return]


def expected_kind(schema: dict[str, Any]) -> str:
    """The Meltano setting kind matching a JSON schema property."""
    types = [t for t in schema.get("type", []) if t != "null"]
    if types == ["string"]:
        return "date_iso8601" if schema.get("format") == "date" else "string"
    kinds = {"integer": "integer", "number": "decimal", "boolean": "boolean"}
    kinds |= {"array": "array", "object": "object"}
    assert len(types) == 1, f"no single type in {schema}"
    return kinds[types[0]]


def holds_secret(schema: dict[str, Any]) -> bool:
    """A secret itself, or a list/object with a secret inside (like `workspaces`)."""
    if schema.get("secret"):
        return True
    nested = [*schema.get("properties", {}).values()]
    if isinstance(schema.get("items"), dict):
        nested.append(schema["items"])
    return any(holds_secret(s) for s in nested if isinstance(s, dict))


DEFINITIONS = {"hub": hub_definition, "meltano.yml": meltano_extractor}


@pytest.mark.pinned_sdk
@pytest.mark.parametrize("source", DEFINITIONS)
def test_capabilities_match_about(source: str) -> None:
    definition = DEFINITIONS[source]()
    assert sorted(definition["capabilities"]) == sorted(about()["capabilities"])
    # Without `state` Meltano would silently run every sync as a full one.
    assert "state" in definition["capabilities"]


@pytest.mark.pinned_sdk
@pytest.mark.parametrize("source", DEFINITIONS)
def test_settings_match_about(source: str) -> None:
    definition = DEFINITIONS[source]()
    properties = about()["settings"]["properties"]
    # The Hub may list nested settings as `parent.child`; the tap knows the parent.
    names = [s["name"] for s in definition["settings"]]
    assert len(names) == len(set(names)), "a setting is listed twice"
    assert {n.split(".")[0] for n in names} == set(properties)
    for setting in definition["settings"]:
        name = setting["name"]
        schema = properties[name]
        assert setting["kind"] == expected_kind(schema), name
        assert bool(setting.get("sensitive")) == holds_secret(schema), name
        assert setting.get("label") == schema.get("title"), name
        assert setting.get("description"), f"{name} has no description"


@pytest.mark.parametrize("source", DEFINITIONS)
def test_group_validation_names_workspace_forms(source: str) -> None:
    groups = DEFINITIONS[source]()["settings_group_validation"]
    assert groups == [["pat", "project_id"], ["workspaces"]]


def test_hub_and_meltano_agree() -> None:
    hub, local = hub_definition(), meltano_extractor()
    for key in ("name", "namespace", "executable", "settings_group_validation"):
        assert hub[key] == local[key], key
    assert [s["name"] for s in hub["settings"]] == [s["name"] for s in local["settings"]]
    for required in ("variant", "label", "description", "pip_url", "repo", "docs"):
        assert hub.get(required), f"hub definition lacks {required}"
    assert hub["pip_url"].startswith("git+https://")
    assert hub["maintenance_status"] in {"active", "beta", "development", "inactive", "unknown"}


def test_meltano_yml_keeps_secrets_out() -> None:
    """Only the emulator's demo token may appear in meltano.yml, and only in `demo`."""
    project = yaml.safe_load(MELTANO_FILE.read_text())
    for environment in project["environments"]:
        plugins = environment.get("config", {}).get("plugins", {})
        for plugin in plugins.get("extractors", []) + plugins.get("loaders", []):
            config = plugin.get("config", {})
            assert "pat" not in config
            assert "password" not in config
            for workspace in config.get("workspaces", []):
                assert environment["name"] == "demo"
                assert workspace["pat"] == "demo-token"
                assert config["base_url"].startswith("http://127.0.0.1:")
