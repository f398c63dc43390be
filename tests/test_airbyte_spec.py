"""The SPEC as Airbyte's setup form renders it, and the config it sends mapped to the tap's."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped,unused-ignore]
import pytest

from tap_indigo_analytics.airbyte import InputError, to_tap_config
from tests.airbyte_support import one_workspace, run_source
from tests.conftest import workspace_config
from tests.emulator import Emulator

WORKSPACE_KEYS = {"pat", "project_id", "workspaces"}


@pytest.fixture(scope="module")
def connection() -> dict[str, Any]:
    run = run_source("spec")
    assert run.returncode == 0, run.stderr[-3000:]
    assert [m["type"] for m in run.messages if m["type"] != "LOG"] == ["SPEC"]
    spec = run.one("SPEC")
    assert spec["supportsIncremental"] is True
    return spec["connectionSpecification"]  # type: ignore[no-any-return]


def taps_own_settings() -> dict[str, Any]:
    """CONFIG_SCHEMA's properties as a fresh process sees them.

    In this process, any tap built by another test has merged the SDK's built-in
    settings (stream maps, batch...) into that shared dict.
    """
    code = (
        "import json; from tap_indigo_analytics.settings import CONFIG_SCHEMA; "
        "print(json.dumps(CONFIG_SCHEMA['properties']))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def objects(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every object schema with properties in ``schema``: oneOf options and array items too."""
    if "properties" in schema:
        yield path or "<root>", schema
        for name, prop in schema["properties"].items():
            yield from objects(prop, f"{path}.{name}".lstrip("."))
    for index, option in enumerate(schema.get("oneOf", [])):
        yield from objects(option, f"{path}[{index}]")
    if isinstance(schema.get("items"), dict):
        yield from objects(schema["items"], f"{path}[]")


def test_the_form_has_one_required_choice_of_two_titled_ways(connection: dict[str, Any]) -> None:
    jsonschema.Draft7Validator.check_schema(connection)
    assert connection["$schema"] == "http://json-schema.org/draft-07/schema#"
    # Required, so the choice is on the form's first screen rather than under "Optional fields".
    assert connection["required"] == ["credentials"]
    props = connection["properties"]
    assert not WORKSPACE_KEYS & set(props), "the workspaces belong under credentials"
    options = props["credentials"]["oneOf"]
    assert [o["title"] for o in options] == ["One workspace", "Several workspaces"]
    discriminators = []
    for option in options:
        setup = option["properties"]["setup"]
        assert "setup" in option["required"]
        discriminators.append(setup["const"])
        assert setup["default"] == setup["const"]
    assert discriminators == ["one_workspace", "several_workspaces"]
    assert set(options[0]["required"]) == {"setup", "project_id", "pat"}
    workspaces = options[1]["properties"]["workspaces"]
    assert workspaces["type"] == "array"
    assert workspaces["items"]["required"] == ["project_id", "pat"]


def test_every_token_is_secret_and_nothing_else(connection: dict[str, Any]) -> None:
    secret = []
    for path, schema in objects(connection):
        for name, prop in schema["properties"].items():
            assert ("airbyte_secret" in prop) == (name == "pat"), f"{path}.{name}"
            if prop.get("airbyte_secret"):
                secret.append(f"{path}.{name}")
                assert prop["airbyte_secret"] is True
                assert "examples" not in prop
                assert "default" not in prop
    assert sorted(secret) == ["credentials[0].pat", "credentials[1].workspaces[].pat"]


def test_every_property_has_an_order_a_single_type_and_a_title(
    connection: dict[str, Any],
) -> None:
    for path, schema in objects(connection):
        orders = [prop.get("order") for prop in schema["properties"].values()]
        assert all(isinstance(o, int) for o in orders), (path, orders)
        assert len(set(orders)) == len(orders), f"{path}: orders repeat: {orders}"
        for name, prop in schema["properties"].items():
            # ["string", "null"] renders as a raw JSON field; nullable is what optional means.
            assert isinstance(prop.get("type"), str), f"{path}.{name}: {prop.get('type')}"
            if name != "setup":
                assert prop.get("title"), f"{path}.{name} has no title"
    assert next(iter(connection["properties"])) == "credentials"
    assert connection["properties"]["credentials"]["order"] == 0


def test_settings_come_from_the_taps_schema_with_examples_and_date_patterns(
    connection: dict[str, Any],
) -> None:
    props = connection["properties"]
    tap_props = taps_own_settings()
    assert set(props) == {"credentials"} | (set(tap_props) - WORKSPACE_KEYS)
    assert {"max_concurrency", "state_interval_seconds", "lookback_days"} <= set(props)
    for name, prop in props.items():
        if name == "credentials":
            continue
        tap = tap_props[name]
        for key in ("title", "description", "default", "minimum", "maximum", "format"):
            assert prop.get(key) == tap.get(key), f"{name}.{key}"
        examples = prop.get("examples")
        assert examples, f"{name} has no examples"
        for example in examples:
            jsonschema.Draft7Validator(prop).validate(example)
        if tap.get("format") == "date":
            assert prop["pattern_descriptor"] == "YYYY-MM-DD"
            assert re.fullmatch(prop["pattern"], "2026-01-31")
            assert not re.fullmatch(prop["pattern"], "31/01/2026")
    assert props["max_concurrency"]["maximum"] == 256
    assert props["lookback_days"]["default"] == tap_props["lookback_days"]["default"]


def test_configs_of_both_ways_validate_and_others_do_not(
    connection: dict[str, Any], emulator: Emulator
) -> None:
    validator = jsonschema.Draft7Validator(connection)
    several = {
        "credentials": {
            "setup": "several_workspaces",
            "workspaces": workspace_config(emulator)["workspaces"],
        },
        "start_date": "2026-01-01",
        "max_concurrency": 4,
    }
    for good in (one_workspace(), several):
        validator.validate(good)
    bad = [
        {},  # no credentials
        {"credentials": {"setup": "one_workspace", "project_id": "p"}},  # no token
        {"credentials": {"setup": "several_workspaces", "workspaces": []}},
        {**one_workspace(), "start_date": "01/02/2026"},
        {**one_workspace(), "max_concurrency": 0},
    ]
    for config in bad:
        assert not validator.is_valid(config), config


def test_the_config_maps_to_the_taps_flat_config() -> None:
    several = [{"project_id": "a", "pat": "pat-aaaaaaaa"}, {"project_id": "b", "pat": "bbbbbbbb"}]
    assert to_tap_config({**one_workspace("tok12345", "p1"), "page_size": 7}) == {
        "pat": "tok12345",
        "project_id": "p1",
        "page_size": 7,
    }
    assert to_tap_config(
        {"credentials": {"setup": "several_workspaces", "workspaces": several}}
    ) == {"workspaces": several}
    # The tap's own flat form is taken as it is.
    flat = {"workspaces": several, "start_date": "2026-01-01"}
    assert to_tap_config(flat) == flat
    with pytest.raises(InputError, match="not both"):
        to_tap_config({**one_workspace(), "pat": "x"})
    with pytest.raises(InputError, match=r"credentials\.setup"):
        to_tap_config({"credentials": {"setup": "many", "workspaces": several}})
    with pytest.raises(InputError, match="must be an object"):
        to_tap_config({"credentials": "pat-x"})


def test_a_bad_credentials_choice_is_a_one_line_config_error() -> None:
    run = run_source("discover", {"credentials": {"setup": "many"}})
    assert run.returncode == 1
    (error,) = run.errors()
    assert error["failure_type"] == "config_error"
    assert "credentials.setup" in error["message"]
    assert "\n" not in error["message"]


def test_the_readmes_config_example_fits_the_form(connection: dict[str, Any]) -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("## Use from Airbyte", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```json\n(.*?)```", section, re.S)
    assert match, "the README's Airbyte section shows no config.json"
    example = json.loads(match.group(1))
    jsonschema.Draft7Validator(connection).validate(example)
    assert to_tap_config(example)["project_id"] == "my-workspace-id"


def test_the_form_hides_test_settings_and_groups_tuning_ones() -> None:
    from tap_indigo_analytics.airbyte.spec import spec as make_spec

    connection = make_spec()["spec"]["connectionSpecification"]
    properties = connection["properties"]
    for key in ("base_url", "rate_limit_window_seconds", "backoff_seconds"):
        assert properties[key].get("airbyte_hidden") is True, key
    assert properties["max_concurrency"]["group"] == "advanced"
    assert properties["credentials"]["group"] == "connection"
    groups = {g["id"] for g in connection["groups"]}
    assert {p["group"] for p in properties.values() if "group" in p} <= groups


def test_the_metadata_names_the_pypi_package() -> None:
    import yaml

    from tests.meltano_support import ROOT

    metadata = yaml.safe_load((ROOT / "airbyte" / "metadata.yaml").read_text())
    pypi = metadata["data"]["remoteRegistries"]["pypi"]
    assert pypi == {"enabled": True, "packageName": "tap-indigo-analytics"}
