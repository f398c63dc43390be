"""What the end-to-end suites share: the Meltano executable with its plugins installed,
and skipping (or, in CI, failing) when PostgreSQL or Meltano is not there."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path
from typing import NoReturn

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DSN = "postgresql://meltano:meltano@localhost:5432/indigo"


def unavailable(reason: str) -> NoReturn:
    """Skip, or fail where PostgreSQL is required (CI)."""
    if os.environ.get("TAP_INDIGO_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"{reason} (TAP_INDIGO_REQUIRE_POSTGRES=1)")
    pytest.skip(reason)


def pg_dsn() -> str:
    """The PostgreSQL the tests load (``TAP_INDIGO_PG_DSN``, else the local default)."""
    return os.environ.get("TAP_INDIGO_PG_DSN", DEFAULT_DSN)


def installed_meltano(plugins: Iterable[str]) -> str:
    """The meltano executable, after ``meltano install`` if any of ``plugins`` (paths
    under ``.meltano/``, e.g. ``loaders/target-postgres``) has no virtualenv yet."""
    found = shutil.which("meltano") or str(ROOT / ".venv-meltano" / "bin" / "meltano")
    if not Path(found).exists():
        unavailable("meltano is not installed (run `make setup`)")
    if not all((ROOT / ".meltano" / plugin / "venv").exists() for plugin in plugins):
        started = time.monotonic()
        proc = subprocess.run(
            [found, "install"], cwd=ROOT, capture_output=True, text=True, timeout=900, check=False
        )
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        print(f"\nmeltano install: {time.monotonic() - started:.1f} s")
    return found
