"""The documented examples run as written: the README's SDK in ten lines and the async
example of docs/client.md, each as a Python process against a real mjgate on loopback."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

import pytest

from support import ADMIN_TOKEN, ServedApp

ROOT = Path(__file__).resolve().parents[2]


def example(document: str, heading: str) -> str:
    """The first ```python block after ``heading`` in ``document``."""
    text = (ROOT / document).read_text()
    after = text[text.index(heading) :]
    found = re.search(r"```python\n(.*?)```", after, re.DOTALL)
    assert found, (document, heading)
    return found.group(1)


def test_the_readme_shows_the_sdk_in_ten_lines() -> None:
    assert len(example("README.md", "## A Python SDK").strip().splitlines()) == 10


@pytest.mark.parametrize(
    ("document", "heading", "files"),
    [("README.md", "## A Python SDK", 10), ("docs/client.md", "## The async client", 10)],
)
async def test_the_example_runs(
    document: str, heading: str, files: int, served: ServedApp, tmp_path: Path
) -> None:
    script = tmp_path / "example.py"
    script.write_text(example(document, heading))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MJGATE_")}
    env.update(MJGATE_URL=served.base_url, MJGATE_TOKEN=ADMIN_TOKEN)
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(script), cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, err.decode()
    assert "SUCCESS" in out.decode()
    assert len(list((tmp_path / "out").iterdir())) == files
