"""The documented examples run as written: the README's SDK in ten lines, the async example
and the webhook receiver of docs/client.md, each as a Python process with a real mjgate on
loopback."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

import httpx
import pytest

from mjgate.client import AsyncClient
from processes import free_port
from support import ADMIN_TOKEN, ServedApp, serve_with

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


async def test_the_webhook_receiver_example_accepts_mjgate_and_refuses_forgeries(
    tmp_path: Path, database_url: str
) -> None:
    """docs/client.md's receiver as a process: mjgate's pushes print, a forgery gets 401."""
    script = tmp_path / "receiver.py"
    script.write_text(example("docs/client.md", "## Receiving webhooks"))
    port = free_port()
    async with serve_with(tmp_path, database_url, webhook_allow_private=True) as served:
        secret = served.runtime.settings.webhook_secret
        assert secret
        env = {k: v for k, v in os.environ.items() if not k.startswith("MJGATE_")}
        env.update(MJGATE_WEBHOOK_SECRET=secret, PORT=str(port), PYTHONUNBUFFERED="1")
        receiver = await asyncio.create_subprocess_exec(
            sys.executable, str(script), env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        try:
            hook = f"http://127.0.0.1:{port}/hook"
            async with httpx.AsyncClient(timeout=5) as anyone:
                for _ in range(300):  # until it listens
                    try:
                        forged = await anyone.post(
                            hook, content=b"{}", headers={"X-Mjgate-Timestamp": "1"}
                        )
                        break
                    except httpx.TransportError:
                        await asyncio.sleep(0.05)
                else:
                    raise AssertionError("the receiver example never listened")
                assert forged.status_code == 401
            async with AsyncClient(served.base_url, ADMIN_TOKEN) as mj:
                task = await mj.imagine("a heron at dawn", notify_hook=hook)
            assert receiver.stdout is not None
            lines: list[str] = []
            while f"{task.id} SUCCESS 100%" not in lines:
                line = await asyncio.wait_for(receiver.stdout.readline(), 30)
                assert line, lines
                lines.append(line.decode().strip())
            assert all(line.startswith(task.id) for line in lines)
        finally:
            receiver.kill()
            await receiver.wait()
