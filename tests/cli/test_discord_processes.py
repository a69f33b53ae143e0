"""Discord channels with real processes: the operator's way in (`mjgate discord-sim`, then
`mjgate channel add --kind discord` with its printed options and the token from the
environment, never on the command line or printed back), and a worker killed mid-job whose
task another process finishes (PostgreSQL), with the interaction posted exactly once."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from discord_channel import add_discord_channel
from mjgate.discord_sim import Simulator
from mjgate.domain.tasks import TaskStatus
from mjgate.services.accounts import set_channel_enabled
from mjgate.services.runtime import Runtime
from processes import MJGATE, Proc, process_env, start
from support import ADMIN_TOKEN

TOKEN = "mfa.simulated-user-token-0123456789"


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MJGATE, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def _options_line(proc: Proc, out: Path, within: float = 60) -> list[str]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        assert proc.popen.poll() is None, proc.stderr()
        for line in out.read_text().splitlines():
            if line.startswith("channel add options: "):
                return line.removeprefix("channel add options: ").split()
        time.sleep(0.1)
    raise AssertionError(f"discord-sim printed no options line: {proc.stderr()}")


async def test_an_operator_adds_an_account_from_the_simulator_and_imagines(
    tmp_path: Path, pycache: Path, procs: list[Proc]
) -> None:
    env = process_env(
        tmp_path / "data",
        pycache,
        MJGATE_ADMIN_TOKEN=ADMIN_TOKEN,
        MJGATE_SECRET_KEY="test-secret",
        SIM_TOKEN=TOKEN,
    )
    logs = tmp_path / "logs"
    sim = start(env, logs, "sim", "discord-sim", "--token", TOKEN, "--speed", "0.05")
    procs.append(sim)
    options = await asyncio.to_thread(_options_line, sim, logs / "sim.out")
    assert options[:2] == ["--guild-id", options[1]] and "--gateway-url" in options

    refused = _run(env, "channel", "add", "bad", "--kind", "discord", *options, "--token", TOKEN)
    assert refused.returncode == 2
    assert "--token is refused" in refused.stderr and TOKEN not in refused.stderr + refused.stdout

    added = _run(
        env, "channel", "add", "acc1", "--kind", "discord", *options,
        "--token-env", "SIM_TOKEN", "--pace", "0",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert TOKEN not in added.stdout + added.stderr
    listed = _run(env, "channel", "list")
    line = next(x for x in listed.stdout.splitlines() if x.startswith("acc1"))
    assert "discord" in line and "enabled" in line and TOKEN not in listed.stdout
    assert f"token={TOKEN[:4]}…{TOKEN[-2:]}" in line

    server = start(env, logs, "serve", "serve")
    procs.append(server)
    await asyncio.to_thread(server.wait_ready)
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with httpx.AsyncClient(base_url=str(server.base_url), headers=headers) as client:
        answer = (await client.post("/mj/submit/imagine", json={"prompt": "a harbour"})).json()
        assert answer["code"] == 1, answer
        deadline = time.monotonic() + 60
        while True:
            task = (await client.get(f"/mj/task/{answer['result']}/fetch")).json()
            if task["status"] in ("SUCCESS", "FAILURE"):
                break
            assert time.monotonic() < deadline, task
            await asyncio.sleep(0.1)
    assert task["status"] == "SUCCESS", task
    assert task["properties"]["channelId"] == "acc1" and len(task["imageUrls"]) == 4
    assert TOKEN not in server.stderr()


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_a_worker_killed_mid_job_and_another_process_finishes_it(
    rt: Runtime, database_url: str, tmp_path: Path, pycache: Path, procs: list[Proc]
) -> None:
    with Simulator(TOKEN, speed=1.0, job_duration=6.0) as simulator:
        await add_discord_channel(rt, "acc1", simulator, TOKEN, timeout_seconds=120)
        await set_channel_enabled(rt, "sandbox", False, "not part of this test")
        env = process_env(
            tmp_path / "data",
            pycache,
            MJGATE_DATABASE_URL=database_url,
            MJGATE_ADMIN_TOKEN=ADMIN_TOKEN,
            MJGATE_SECRET_KEY="test-secret",
            MJGATE_LEASE_SECONDS="2",
        )
        logs = tmp_path / "logs"
        server = start(env, logs, "http", "serve", "--no-workers")
        victim = start(env, logs, "worker-1", "worker")
        procs += [server, victim]
        for proc in (server, victim):
            await asyncio.to_thread(proc.wait_ready)
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        async with httpx.AsyncClient(base_url=str(server.base_url), headers=headers) as client:
            answer = (await client.post("/mj/submit/imagine", json={"prompt": "a mill"})).json()
            task_id = answer["result"]
            deadline = time.monotonic() + 60
            while (await client.get(f"/mj/task/{task_id}/fetch")).json()["status"] != (
                "IN_PROGRESS"
            ):
                assert time.monotonic() < deadline, victim.stderr()
                await asyncio.sleep(0.05)
            victim.kill()  # mid-job: the bot goes on without anyone listening
            survivor = start(env, logs, "worker-2", "worker")
            procs.append(survivor)
            await asyncio.to_thread(survivor.wait_ready)
            deadline = time.monotonic() + 90
            while True:
                task = (await client.get(f"/mj/task/{task_id}/fetch")).json()
                if task["status"] in ("SUCCESS", "FAILURE"):
                    break
                assert time.monotonic() < deadline, survivor.stderr()
                await asyncio.sleep(0.1)
        assert task["status"] == "SUCCESS", (task, survivor.stderr())
        assert len(task["imageUrls"]) == 4
        async with rt.db.read() as uow:
            row = await uow.task(task_id)
        assert row is not None and row.status == TaskStatus.SUCCESS
        assert row.start_count == 1 and row.takeovers >= 1
        imagines = [i for i in simulator.interactions if i.get("data", {}).get("name") == "imagine"]
        assert len(imagines) == 1  # posted once, never again by the process that took over
        assert "adopted from its Discord reference" in survivor.stderr()
