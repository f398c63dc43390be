"""The documents a new user reads point at things that exist, and the defaults they rely on hold."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# [text](target) and [text]: target; code spans are stripped first, so `a[b](c)` is no link.
_INLINE = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE = re.compile(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.M)
_CODE = re.compile(r"```.*?```|`[^`\n]*`", re.S)


def relative_links(document: Path) -> list[str]:
    """Every link target in ``document`` that is not a URL (``#anchor`` ones included)."""
    text = _CODE.sub("", document.read_text())
    targets = _INLINE.findall(text) + _REFERENCE.findall(text)
    return [t for t in targets if not urlsplit(t).scheme and not t.startswith("//")]


def anchors(document: Path) -> set[str]:
    """GitHub's anchors for the headings of ``document``."""
    found = set()
    for heading in re.findall(r"^#+\s+(.+?)\s*$", _CODE.sub("", document.read_text()), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        found.add(slug)
    return found


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.name)
def test_every_relative_link_resolves(document: Path) -> None:
    links = relative_links(document)
    for link in links:
        path, _, anchor = unquote(link).partition("#")
        target = (document.parent / path).resolve() if path else document
        assert target.exists(), f"{document.name} links to {link}, which does not exist"
        assert ROOT in target.parents or target == ROOT, f"{link} leaves the repository"
        if anchor and target.suffix == ".md":
            assert anchor in anchors(target), f"{document.name}: no heading #{anchor} in {path}"


def test_the_link_finder_finds_links(tmp_path: Path) -> None:
    """Guard for the guard: the patterns see inline and reference links, not code or URLs."""
    sample = tmp_path / "sample.md"
    sample.write_text(
        'See [the contract](docs/api-contract.md#errors) and [x](other.md "title").\n'
        "[ref]: ../tests/emulator.py\n"
        "Not links: `[a](b.md)`, [site](https://example.com), [top](#top).\n"
    )
    assert relative_links(sample) == [
        "docs/api-contract.md#errors",
        "other.md",
        "#top",  # inline links first, then reference definitions
        "../tests/emulator.py",
    ]


def test_the_readme_cites_the_contract_in_the_repository() -> None:
    text = (ROOT / "README.md").read_text()
    assert "shared/api-contract.md" not in text
    assert "docs/api-contract.md" in relative_links(ROOT / "README.md")


def test_the_default_environment_carries_no_demo_values_for_the_tap() -> None:
    """So `meltano run tap-indigo-analytics target-postgres` reads the real API with the
    user's own variables; the demo chooses its own environment."""
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    environments = {e["name"]: e.get("config", {}) for e in project["environments"]}
    default = environments[project["default_environment"]]
    tap = [
        p
        for p in default.get("plugins", {}).get("extractors", [])
        if p["name"] == "tap-indigo-analytics"
    ]
    assert not any(p.get("config") for p in tap), "the default environment configures the tap"
    demo = environments["demo"]["plugins"]["extractors"][0]["config"]
    assert demo["base_url"].startswith("http://127.0.0.1:")
    assert 'MELTANO_ENVIRONMENT="demo"' in (ROOT / "scripts" / "demo.py").read_text()
