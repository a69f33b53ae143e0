"""Discord channel latency: what mjgate adds between a client and the (simulated) Discord.

Two simulated accounts, each a discord channel of core size 3, run 3 imagines each per
round (6 at once). Per task it measures

- submit → interaction: from the client's ``POST /mj/submit/imagine`` to the simulator's
  receipt of the ``POST /interactions`` that carries the task's (unique) prompt;
- final → SUCCESS: from the simulator's dispatch of the bot's final ``MESSAGE_CREATE`` to the
  client seeing SUCCESS, either by fetching every 10 ms (even rounds) or by a notifyHook
  receiver on loopback (odd rounds; no polling then).

The simulator runs on a thread of this process, mjgate as a ``mjgate serve`` subprocess (HTTP
and workers), both on 127.0.0.1; the clocks are ``time.monotonic()`` (one clock machine-wide).
Bare references from the same run: a loopback HTTP round trip to the simulator and a fetch
round trip to mjgate. Bounded (each round waits 20 s at most); everything it starts it stops.

    .venv/bin/python bench/discord_latency.py [--rounds 10] [--job-seconds 1.0]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from scratch import database, free_port

from mjgate.db.migrate import upgrade_database
from mjgate.discord_sim import Simulator
from mjgate.services import accounts
from mjgate.services.accounts import bootstrap
from mjgate.services.runtime import Runtime
from mjgate.settings import load_settings

TOKEN = "mjg_bench-admin-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SIM_TOKENS = ("sim-bench-token-0001", "sim-bench-token-0002")
PER_ACCOUNT = 3
POLL_EVERY = 0.010
ROUND_LIMIT = 20.0
BIN = Path(sys.executable).parent


# --- setting up ---------------------------------------------------------------------------


def discord_config(simulator: Simulator, token: str, guild_id: str, channel_id: str) -> Any:
    """What ``mjgate channel add --kind discord`` makes of the simulator's options, with no
    pacing between clicks (pacing is a policy delay, not mjgate's latency)."""
    options = simulator.channel_add_options()
    config = {
        flag.removeprefix("--").replace("-", "_"): value
        for flag, value in zip(options[::2], options[1::2], strict=True)
    }
    config.update(token=token, guild_id=guild_id, channel_id=channel_id)
    config.update(pace_min=0.0, pace_max=0.0, bots=["MID_JOURNEY"])
    return config


async def add_channels(data_dir: Path, url: str, simulator: Simulator) -> None:
    settings = load_settings(data_dir=data_dir, database_url=url, admin_token=TOKEN)
    rt = Runtime.from_settings(settings)
    try:
        await bootstrap(rt)
        await accounts.set_channel_enabled(rt, "sandbox", False, "the bench uses discord")
        infos = [simulator.account, simulator.add_account(SIM_TOKENS[1])]
        for n, (token, info) in enumerate(zip(SIM_TOKENS, infos, strict=True), 1):
            config = discord_config(simulator, token, info.guild_id, info.channel_id)
            await accounts.add_channel(
                rt, f"acc{n}", "discord", config=config, core_size=PER_ACCOUNT, queue_size=100
            )
    finally:
        await rt.db.dispose()


@contextmanager
def mjgate_serve(env: dict[str, str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    command = [str(BIN / "mjgate"), "serve", "--port", str(port)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code < 500:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"mjgate did not start: {process.stderr and process.stderr.read()!r}"
                )
            time.sleep(0.1)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def profiled(pid: int, out: Path | None) -> Iterator[None]:
    """Sample ``pid`` with py-spy (collapsed stacks into ``out``) while the block runs."""
    if out is None:
        yield
        return
    spy = subprocess.Popen(
        [
            *(str(BIN / "py-spy"), "record", "--pid", str(pid), "--format", "raw"),
            *("--nonblocking", "--output", str(out), "--duration", "120"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)  # py-spy writes what it has on SIGINT
        spy.wait(timeout=30)


def own_functions(collapsed: str, top: int = 15) -> str:
    seen: Counter[str] = Counter()
    total = 0
    for row in collapsed.splitlines():
        stack, _, count = row.rpartition(" ")
        total += int(count)
        for frame in set(stack.split(";")):
            if "mjgate/" in frame:
                seen[frame] += int(count)
    return "\n".join(f"  {100 * n / max(1, total):5.1f}%  {f}" for f, n in seen.most_common(top))


# --- the hook receiver (on this process's loop) ---------------------------------------------


class Receiver:
    """A loopback notifyHook target: when each task's SUCCESS push arrived."""

    def __init__(self) -> None:
        self.success_at: dict[str, float] = {}
        self.arrived: dict[str, asyncio.Event] = {}
        self.port = free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def expect(self, task_id: str) -> asyncio.Event:
        return self.arrived.setdefault(task_id, asyncio.Event())

    async def app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        now = time.monotonic()
        task = json.loads(body or b"{}")
        if task.get("status") == "SUCCESS" and task.get("id") not in self.success_at:
            self.success_at[task["id"]] = now
            self.expect(task["id"]).set()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    @asynccontextmanager
    async def serving(self) -> AsyncIterator[Receiver]:
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="off",
            interface="asgi3",
        )
        server = uvicorn.Server(config)
        running = asyncio.create_task(server.serve())
        while not server.started:
            if running.done():
                running.result()
                raise RuntimeError("the hook receiver did not start")
            await asyncio.sleep(0.01)
        try:
            yield self
        finally:
            server.should_exit = True
            await running


# --- one task ---------------------------------------------------------------------------------


class Sample:
    def __init__(self, prompt: str, by_hook: bool) -> None:
        self.prompt = prompt
        self.by_hook = by_hook
        self.task_id = ""
        self.submitted = 0.0  # before the submit request left
        self.answered = 0.0  # the submit's answer
        self.success = 0.0  # the client saw SUCCESS


async def run_task(
    client: httpx.AsyncClient, receiver: Receiver, sample: Sample, deadline: float
) -> None:
    body: dict[str, Any] = {"prompt": sample.prompt}
    if sample.by_hook:
        body["notifyHook"] = receiver.url
    sample.submitted = time.monotonic()
    answer = (await client.post("/mj/submit/imagine", json=body)).json()
    sample.answered = time.monotonic()
    if answer.get("code") not in (1, 22):  # 22: queued behind others
        raise RuntimeError(f"submit refused: {answer}")
    sample.task_id = answer["result"]
    if sample.by_hook:
        arrived = receiver.expect(sample.task_id)
        await asyncio.wait_for(arrived.wait(), max(0.0, deadline - time.monotonic()))
        sample.success = receiver.success_at[sample.task_id]
        return
    while time.monotonic() < deadline:
        task = (await client.get(f"/mj/task/{sample.task_id}/fetch")).json()
        if task.get("status") == "SUCCESS":
            sample.success = time.monotonic()
            return
        if task.get("status") == "FAILURE":
            raise RuntimeError(f"task failed: {task.get('failReason')}")
        await asyncio.sleep(POLL_EVERY)
    raise TimeoutError(f"{sample.task_id} did not succeed in time")


async def bare_round_trips(client: httpx.AsyncClient, url: str, count: int = 30) -> list[float]:
    taken = []
    for _ in range(count):
        started = time.monotonic()
        await client.get(url)
        taken.append(time.monotonic() - started)
    return taken


# --- the run ----------------------------------------------------------------------------------


async def measure(base: str, simulator: Simulator, rounds: int) -> tuple[list[Sample], Any]:
    samples: list[Sample] = []
    bare: dict[str, list[float]] = {"sim": [], "fetch": []}
    async with (
        Receiver().serving() as receiver,
        httpx.AsyncClient(base_url=base, headers=AUTH, timeout=30) as client,
        httpx.AsyncClient(headers={"Authorization": SIM_TOKENS[0]}, timeout=30) as sim_client,
    ):
        me = f"{simulator.base_url}/api/v9/users/@me"
        for n in range(rounds):
            by_hook = n % 2 == 1
            batch = [
                Sample(f"bench {n}-{k} {uuid.uuid4().hex[:12]}", by_hook)
                for k in range(PER_ACCOUNT * len(SIM_TOKENS))
            ]
            deadline = time.monotonic() + ROUND_LIMIT
            await asyncio.gather(*(run_task(client, receiver, s, deadline) for s in batch))
            samples += batch
            bare["sim"] += await bare_round_trips(sim_client, me, 10)
            fetch = f"/mj/task/{batch[0].task_id}/fetch"
            bare["fetch"] += await bare_round_trips(client, fetch, 10)
    return samples, bare


def ms(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def line(name: str, values: list[float]) -> str:
    return (
        f"  {name:<38} n={len(values):>3}  median {1000 * statistics.median(values):7.1f} ms"
        f"  p99 {ms(values, 0.99):7.1f} ms  max {1000 * max(values):7.1f} ms"
    )


def report(samples: list[Sample], bare: dict[str, list[float]], simulator: Simulator) -> None:
    received: dict[str, float] = {}
    for at, payload in simulator.timed_interactions:
        text = json.dumps(payload)
        for s in samples:
            if s.prompt in text and s.prompt not in received:
                received[s.prompt] = at
    finals: dict[str, float] = {}
    for prompt, at in simulator.final_dispatches.items():  # the bot's prompt may carry flags
        for s in samples:
            if s.prompt in prompt:
                finals[s.prompt] = at
    to_interaction = [received[s.prompt] - s.submitted for s in samples if s.prompt in received]
    submit_answer = [s.answered - s.submitted for s in samples]
    polled = [s.success - finals[s.prompt] for s in samples if not s.by_hook]
    hooked = [s.success - finals[s.prompt] for s in samples if s.by_hook]
    print(line("submit HTTP answer", submit_answer))
    print(line("submit -> interaction received", to_interaction))
    print(line("final message -> SUCCESS (fetch 10 ms)", polled))
    print(line("final message -> SUCCESS (notifyHook)", hooked))
    print("bare references (same run, between rounds):")
    print(line("simulator GET /users/@me round trip", bare["sim"]))
    print(line("mjgate GET fetch round trip", bare["fetch"]))
    fetch = statistics.median(bare["fetch"])
    print(
        "ratios of medians to the fetch round trip: submit->interaction "
        f"{statistics.median(to_interaction) / fetch:.1f}x, final->SUCCESS fetch "
        f"{statistics.median(polled) / fetch:.1f}x, hook {statistics.median(hooked) / fetch:.1f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="rounds of 6 imagines")
    parser.add_argument("--job-seconds", type=float, default=1.0, help="simulated job duration")
    parser.add_argument("--postgres", help="a PostgreSQL server URL (its /postgres database)")
    parser.add_argument("--profile", type=Path, help="py-spy mjgate while measured, stacks to FILE")
    args = parser.parse_args()
    simulator = Simulator(SIM_TOKENS[0], job_duration=args.job_seconds, max_concurrent=PER_ACCOUNT)
    with (
        tempfile.TemporaryDirectory(prefix="mjgate-bench-") as tmp,
        database(args.postgres, Path(tmp)) as url,
        simulator,
    ):
        upgrade_database(url)
        asyncio.run(add_channels(Path(tmp), url, simulator))
        port = free_port()
        env = {
            **os.environ,
            "MJGATE_DATA_DIR": tmp,
            "MJGATE_DATABASE_URL": url,
            "MJGATE_ADMIN_TOKEN": TOKEN,
            "MJGATE_ADMIN_INITIAL_QUOTA": str(10**15),
            "MJGATE_WEBHOOK_ALLOW_PRIVATE": "true",
        }
        with mjgate_serve(env, port) as server, profiled(server.pid, args.profile):
            started = time.monotonic()
            samples, bare = asyncio.run(measure(f"http://127.0.0.1:{port}", simulator, args.rounds))
            took = time.monotonic() - started
        backend = "PostgreSQL" if args.postgres else "SQLite"
        print(
            f"{backend}; 2 accounts x {PER_ACCOUNT} concurrent imagines (core size {PER_ACCOUNT}), "
            f"{args.rounds} rounds = {len(samples)} tasks in {took:.1f} s; simulated job "
            f"{args.job_seconds:.2f} s; no click pacing; load average {os.getloadavg()[0]:.1f}"
        )
        report(samples, bare, simulator)
    if args.profile is not None:
        print(f"mjgate's own functions most often on the stack ({args.profile}):")
        print(own_functions(args.profile.read_text()))


if __name__ == "__main__":
    main()
