"""``mjgate-client``, the user's command, as real processes against a real mjgate on loopback.

The server runs on this test's event loop, so the command runs as an asyncio subprocess
(the loop keeps serving while it waits for the command).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from support import ADMIN_TOKEN, ServedApp, png_bytes

COMMAND = str(Path(sys.executable).parent / "mjgate-client")
TIMEOUT = 90.0


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str


def user_env(served: ServedApp, token: str | None = ADMIN_TOKEN, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MJGATE_")}
    env.update(MJGATE_URL=served.base_url, PYTHONUNBUFFERED="1", NO_COLOR="1", **extra)
    if token is not None:
        env["MJGATE_TOKEN"] = token
    return env


async def client(env: dict[str, str], *args: str, entry_point: bool = False) -> Outcome:
    program = [COMMAND] if entry_point else [sys.executable, "-m", "mjgate.client"]
    process = await asyncio.create_subprocess_exec(
        *program,
        *args,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), TIMEOUT)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    outcome = Outcome(process.returncode, out.decode(), err.decode())
    assert ADMIN_TOKEN not in outcome.stdout + outcome.stderr
    return outcome


async def test_imagine_wait_out_press_fetch_and_wait(served: ServedApp, tmp_path: Path) -> None:
    env = user_env(served)
    out = tmp_path / "out"
    made = await client(
        env,
        "imagine",
        "a red fox in the snow --ar 3:2",
        "--wait",
        "--out",
        str(out),
        "--poll-interval",
        "0.05",
        entry_point=True,
    )
    assert made.code == 0, made.stderr
    head, *rest = made.stdout.splitlines()
    task_id, status, progress = head.split()
    assert (status, progress) == ("SUCCESS", "100%")
    assert "buttons: U1 U2 U3 U4 🔄 V1 V2 V3 V4" in rest
    files = sorted(out.iterdir())
    assert [f.name for f in files] == sorted(
        [f"{task_id}.png"] + [f"{task_id}-{n}.png" for n in range(1, 5)]
    )
    assert {str(f) for f in files} <= set(rest)
    assert f"{task_id} [{'#' * 24}] 100% SUCCESS" in made.stderr  # the progress on stderr

    submitted = await client(env, "press", task_id, "U2")
    assert submitted.code == 0, submitted.stderr
    up_id = submitted.stdout.strip()
    assert up_id.isdigit() and len(up_id) == 16
    waited = await client(env, "wait", up_id, "--poll-interval", "0.05", "--out", str(out))
    assert waited.code == 0, waited.stderr
    assert waited.stdout.startswith(f"{up_id} SUCCESS 100%")
    assert (out / f"{up_id}.png").read_bytes().startswith(b"\x89PNG")

    fetched = await client(env, "fetch", up_id)
    assert fetched.code == 0
    task = json.loads(fetched.stdout)
    assert task["id"] == up_id and task["action"] == "UPSCALE"
    assert task["description"] == f"/up {task_id} U2"

    zoomed = await client(
        env,
        "--quiet",
        "press",
        up_id,
        "Custom Zoom",
        "--prompt",
        f"{task['prompt']} --zoom 1.5",
        "--wait",
        "--json",
        "--poll-interval",
        "0.05",
    )
    assert zoomed.code == 0, zoomed.stderr
    assert json.loads(zoomed.stdout)["action"] == "ZOOM" and zoomed.stderr == ""


async def test_describe_a_file_with_the_token_from_a_file(
    served: ServedApp, tmp_path: Path
) -> None:
    picture = tmp_path / "picture.png"
    picture.write_bytes(png_bytes((10, 160, 90), (80, 80)))
    token_file = tmp_path / "token"
    token_file.write_text(ADMIN_TOKEN + "\n")
    env = user_env(served, token=None)
    described = await client(
        env,
        "--token-file",
        str(token_file),
        "--auth",
        "mj-api-secret",
        "describe",
        str(picture),
        "--wait",
        "--poll-interval",
        "0.05",
    )
    assert described.code == 0, described.stderr
    assert "1️⃣" in described.stdout and "4️⃣" in described.stdout


async def test_refusals_exit_non_zero_and_never_show_the_token(
    served: ServedApp, tmp_path: Path
) -> None:
    env = user_env(served)
    wrong, missing, no_button, absent, usage, down = await asyncio.gather(
        client(user_env(served, token="mjg_wrong-token-abcdef"), "fetch", "1"),
        client(env, "fetch", "1000000000000000"),
        client(env, "press", "1000000000000000", "U1"),
        client(env, "--token-file", str(tmp_path / "nope"), "fetch", "1"),
        client(env, "imagine"),
        client({**env, "MJGATE_URL": "http://127.0.0.1:9"}, "--retries", "1", "fetch", "1"),
    )
    assert wrong.code == 3 and "unauthorized" in wrong.stderr
    assert "mjg_wrong-token-abcdef" not in wrong.stdout + wrong.stderr
    assert missing.code == 3 and "task_not_found" in missing.stderr
    assert no_button.code == 3 and "task_not_found" in no_button.stderr
    assert absent.code == 2 and "token file" in absent.stderr
    assert usage.code == 2 and "prompt" in usage.stderr
    assert down.code == 3 and "127.0.0.1:9" in down.stderr


@pytest.mark.parametrize("flag", ["--help"])
async def test_help_names_the_commands(flag: str, served: ServedApp) -> None:
    shown = await client(user_env(served), flag, entry_point=True)
    assert shown.code == 0
    for name in ("imagine", "press", "describe", "fetch", "wait", "MJGATE_TOKEN"):
        assert name in shown.stdout
