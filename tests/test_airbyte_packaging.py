"""The Airbyte image's files: metadata, Dockerfile, icon, pinned versions.

Docker cannot run here, so what can be checked without it is: the metadata
validates with the Airbyte CDK's own model (in the PyAirbyte virtualenv), its
base image is Airbyte's Python connector base pinned by digest and the very one
the Dockerfile builds on, the icon is an SVG, and ``airbyte/constraints.txt`` is
exactly the runtime versions of the environment these tests run in.
"""

from __future__ import annotations

import json
import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped,unused-ignore]

from scripts.airbyte_constraints import CONSTRAINTS, render, runtime_closure
from tests.airbyte_support import PYAIRBYTE_PYTHON

ROOT = Path(__file__).resolve().parent.parent
AIRBYTE = ROOT / "airbyte"
BASE_IMAGE = re.compile(
    r"^docker\.io/airbyte/python-connector-base:\d+\.\d+\.\d+@sha256:[0-9a-f]{64}$"
)


def metadata() -> dict[str, object]:
    return yaml.safe_load((AIRBYTE / "metadata.yaml").read_text())["data"]  # type: ignore[no-any-return]


def test_metadata_and_dockerfile_point_at_the_airbyte_entry_point() -> None:
    data = metadata()
    assert data["connectorType"] == "source"
    assert data["connectorSubtype"] == "api"
    assert data["releaseStage"] == "alpha"
    assert data["supportLevel"] == "community"
    assert data["allowedHosts"] == {"hosts": ["platform.indigo.ai"]}
    assert str(data["dockerRepository"]).endswith("/source-indigo-analytics")
    assert len(str(data["definitionId"])) == 36
    dockerfile = (AIRBYTE / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["source-indigo-analytics"]' in dockerfile
    assert f'io.airbyte.version="{data["dockerImageTag"]}"' in dockerfile
    assert f'io.airbyte.name="{data["dockerRepository"]}"' in dockerfile


def test_the_image_builds_on_airbytes_pinned_python_base() -> None:
    base = metadata()["connectorBuildOptions"]["baseImage"]  # type: ignore[index]
    assert BASE_IMAGE.match(base), base
    dockerfile = (AIRBYTE / "Dockerfile").read_text()
    assert f"ARG BASE_IMAGE={base}\n" in dockerfile
    assert "FROM ${BASE_IMAGE}\n" in dockerfile
    assert dockerfile.count("FROM ") == 1
    # Installs pinned, and runs as the base image's unprivileged user.
    assert "pip install --no-cache-dir --constraint constraints.txt ." in dockerfile
    assert "COPY airbyte/constraints.txt" in dockerfile
    assert "USER airbyte" in dockerfile


def test_the_icon_is_an_svg() -> None:
    icon = metadata()["icon"]
    root = ET.parse(AIRBYTE / str(icon)).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("viewBox")


@pytest.mark.pinned_sdk
def test_constraints_are_the_tested_runtime_versions() -> None:
    assert CONSTRAINTS.read_text() == render(runtime_closure()), (
        "airbyte/constraints.txt is stale: run `make airbyte-constraints`"
    )
    pins = dict(line.split("==") for line in CONSTRAINTS.read_text().splitlines() if "==" in line)
    # The tap's direct dependencies are all pinned (and nothing of the test or lint tools).
    assert {"singer-sdk", "requests", "python-backoff", "pyrate-limiter", "msgspec"} <= set(pins)
    assert not {"pytest", "ruff", "mypy", "psycopg", "airbyte-protocol-models-pdv2"} & set(pins)
    assert "backoff" not in pins


@pytest.mark.e2e  # PyAirbyte's virtualenv holds the CDK
def test_metadata_validates_with_the_airbyte_cdk_model() -> None:
    if not PYAIRBYTE_PYTHON.exists():
        pytest.fail("PyAirbyte's virtualenv is missing: run `make .venv-pyairbyte/.installed`")
    code = (
        "import json, sys, pathlib\n"
        "from airbyte_cdk.models.connector_metadata import MetadataFile\n"
        "m = MetadataFile.from_file(pathlib.Path(sys.argv[1]))\n"
        "print(json.dumps({'language': m.data.language.value,"
        " 'base': m.data.connectorBuildOptions.baseImage, 'tag': m.data.dockerImageTag}))\n"
    )
    proc = subprocess.run(
        [str(PYAIRBYTE_PYTHON), "-c", code, str(AIRBYTE / "metadata.yaml")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    parsed = json.loads(proc.stdout)
    assert parsed["language"] == "python"
    assert parsed["base"] == metadata()["connectorBuildOptions"]["baseImage"]  # type: ignore[index]
    assert parsed["tag"] == metadata()["dockerImageTag"]
