"""Rewrite the README's settings table from ``tap-indigo-analytics --about --format markdown``.

``make docs`` runs it; tests/test_readme.py fails when the README is stale.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
START, END = "<!-- settings:start -->", "<!-- settings:end -->"


def about_settings_table() -> str:
    """The settings table exactly as ``--about --format markdown`` prints it today."""
    about = subprocess.run(
        [sys.executable, "-m", "tap_indigo_analytics.tap", "--about", "--format", "markdown"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lines = about.split("## Settings", 1)[1].strip().splitlines()
    return "\n".join(line for line in lines if line.startswith("|"))


def readme_settings_table(text: str) -> str:
    """The table between the README's settings markers."""
    match = re.search(f"{re.escape(START)}\n(.*?)\n{re.escape(END)}", text, re.S)
    if match is None:
        raise SystemExit(f"README.md has no {START} … {END} block")
    return match.group(1).strip()


def main() -> int:
    """Replace the README block with the current table."""
    text = README.read_text()
    old = readme_settings_table(text)
    new = about_settings_table()
    README.write_text(text.replace(old, new))
    print("README settings table", "unchanged" if old == new else "updated")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
