"""The simulator as operators run it (``main`` in the foreground, stopped by SIGTERM) and its
HTTP control endpoints under ``/_sim``."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from discord_sim_support import raw_discord, running_simulator
from mjgate.discord_sim import Simulator

SERVE = "from mjgate.discord_sim import main; main('127.0.0.1', 0, 'op-token', 0.05)"


def test_main_prints_the_channel_options_then_stops_on_sigterm() -> None:
    with subprocess.Popen(
        [sys.executable, "-c", SERVE], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        assert process.stdout is not None
        line = process.stdout.readline().rstrip("\n")
        assert line.startswith("channel add options: --guild-id "), line
        words = line.removeprefix("channel add options: ").split(" ")
        options = dict(zip(words[::2], words[1::2], strict=True))
        assert list(options) == [
            "--guild-id", "--channel-id", "--api-url", "--gateway-url",
            "--cdn-url", "--upload-url", "--iframe-url",
        ]  # fmt: skip
        assert options["--gateway-url"].startswith("ws://127.0.0.1:")
        api = options["--api-url"]
        index = f"{api}/guilds/{options['--guild-id']}/application-command-index"
        headers = {"Authorization": "op-token", "User-Agent": "test"}
        assert httpx.get(index, headers=headers, timeout=10).status_code == 200
        process.send_signal(signal.SIGTERM)
        try:
            # uvicorn shuts down gracefully, then re-raises the signal it caught.
            assert process.wait(timeout=15) in (0, -signal.SIGTERM)
            assert process.stderr is not None
            assert "Traceback" not in process.stderr.read()
        finally:
            if process.poll() is None:
                process.kill()


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with running_simulator() as simulator:
        yield simulator


async def test_http_controls_script_the_simulator(sim: Simulator) -> None:
    async with httpx.AsyncClient(base_url=f"{sim.base_url}/_sim") as control:
        failing = {"title": "Queue full", "description": "Try later"}
        assert (await control.post("/fail_next", json=failing)).json()["ok"] is True
        assert (await control.post("/nonsense")).status_code == 404
        bad = await control.post("/account_problem", json={"kind": "haunted"})
        assert bad.status_code == 400
        async with raw_discord(sim) as discord:
            nonce = await discord.imagine("anything")
            reply = await discord.gateway.dispatch("MESSAGE_CREATE", lambda d: d["nonce"] == nonce)
            assert reply["d"]["embeds"][0]["title"] == "Queue full"
            await control.post("/drop_connections", json={"code": 4000})
            state = (await control.get("/state")).json()
        assert state["counters"]["interactions"] == 1
        assert state["live_connections"] == 0
        assert state["sessions"][0]["live"] is False
