"""The project's docs stay true to the tree: every module docs/architecture.md names exists,
and the README and docs link only to files inside the repository."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "mjgate"
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def named_modules(text: str) -> set[str]:
    """Paths like `api/front.py` or `sandbox*` prefixes, as written in backticks."""
    return set(re.findall(r"`((?:[a-z_]+/)*[a-z_]+\.py)`", text))


def test_every_module_the_architecture_names_exists() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text()
    named = named_modules(text)
    assert len(named) > 30, named  # the map names the modules it describes
    missing = sorted(
        path
        for path in named
        if not (PACKAGE / path).is_file()
        and not (ROOT / path).is_file()  # bench/…
        and not list(PACKAGE.glob(f"*/{path}"))
    )
    assert missing == []


def test_every_package_the_architecture_names_exists() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text()
    for package in set(re.findall(r"`mjgate\.([a-z_]+)`", text)):
        assert (PACKAGE / package).is_dir() or (PACKAGE / f"{package}.py").is_file(), package


def test_docs_link_only_inside_the_repository() -> None:
    for doc in DOCS:
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", doc.read_text()):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            resolved = (doc.parent / target).resolve()
            assert resolved.is_relative_to(ROOT), (doc.name, target)
            assert resolved.exists(), (doc.name, target)


def test_every_module_the_discord_page_names_exists() -> None:
    text = (ROOT / "docs" / "discord.md").read_text()
    named = named_modules(text)
    assert len(named) >= 10, named
    discord = PACKAGE / "providers" / "discord"
    assert sorted(path for path in named if not (discord / path).is_file()) == []
