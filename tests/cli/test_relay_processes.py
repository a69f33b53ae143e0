"""Two ``mjgate serve`` processes on one machine, chained with a plain
``channel add --kind relay``: no flag for private hooks or private media.

The upstream refuses our callback URL (127.0.0.1 is private to it), so the relay submits
again without one and polls; the results are on the upstream's own origin, which the
operator named, so they are fetched although private.
"""

from __future__ import annotations

import itertools
import subprocess
import time
from pathlib import Path

import httpx

from processes import MJGATE, Proc, process_env, start

COMMAND_TIMEOUT = 60


def admin_token(logs: Path, name: str) -> str:
    lines = (logs / f"{name}.out").read_text().splitlines()
    for before, line in itertools.pairwise(lines):
        if "Created user 'admin'" in before:
            return line.strip()
    raise AssertionError(f"{name} showed no admin token: {lines}")


def run(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [MJGATE, *args], env=env, capture_output=True, timeout=COMMAND_TIMEOUT, check=False
    )
    assert done.returncode == 0, done
    return done.stdout.decode()


def finished(client: httpx.Client, path: str, body: dict[str, object]) -> dict[str, object]:
    answer = client.post(path, json=body).json()
    assert answer["code"] == 1, answer
    deadline = time.monotonic() + 30
    while True:
        task: dict[str, object] = client.get(f"/mj/task/{answer['result']}/fetch").json()
        if task["status"] in ("SUCCESS", "FAILURE", "CANCEL"):
            return task
        assert time.monotonic() < deadline, task
        time.sleep(0.1)


def test_two_mjgates_chained_with_a_plain_relay_channel(
    tmp_path: Path, pycache: Path, procs: list[Proc]
) -> None:
    logs = tmp_path / "logs"
    up_env = process_env(tmp_path / "up", pycache, MJGATE_SANDBOX_DURATION="0")
    down_env = process_env(tmp_path / "down", pycache)
    up = start(up_env, logs, "up", "serve")
    down = start(down_env, logs, "down", "serve")
    procs += [up, down]
    up.wait_ready()
    down.wait_ready()
    assert up.base_url and down.base_url
    up_token, down_token = admin_token(logs, "up"), admin_token(logs, "down")

    # The secret never on the command line: from an environment variable.
    added = run(
        {**down_env, "UPSTREAM_SECRET": up_token},
        *("channel", "add", "home", "--kind", "relay", "--base-url", up.base_url),
        *("--secret-env", "UPSTREAM_SECRET"),
    )
    assert "added channel 'home' (relay)" in added
    run(down_env, "channel", "disable", "sandbox", "--reason", "relay only")

    headers = {"Authorization": f"Bearer {down_token}"}
    with httpx.Client(base_url=down.base_url, headers=headers, timeout=30) as client:
        task = finished(client, "/mj/submit/imagine", {"prompt": "a lighthouse at home"})
        assert task["status"] == "SUCCESS", task
        image_url = str(task["imageUrl"])
        assert image_url.startswith(down.base_url), task
        picture = client.get(image_url)
        assert picture.status_code == 200 and picture.content[:8] == b"\x89PNG\r\n\x1a\n"
        buttons = task["buttons"]
        assert isinstance(buttons, list)
        u1 = next(b["customId"] for b in buttons if b["label"] == "U1")
        upscaled = finished(client, "/mj/submit/action", {"taskId": task["id"], "customId": u1})
        assert upscaled["status"] == "SUCCESS", upscaled
    for proc in (up, down):
        assert proc.terminate() == 0
        assert "Traceback" not in proc.stderr(), proc.stderr()
