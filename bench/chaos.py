"""SIGKILL a serving process and workers at random moments under a submit/poll load on
PostgreSQL, then check that nothing was lost, started twice or charged wrongly.

The fleet is ``mjgate serve --no-workers`` plus two ``mjgate worker``s on one throwaway
PostgreSQL database and the sandbox channel (tasks take --duration seconds, so kills land on
running work). Submitters and pollers run for --seconds; meanwhile, at seeded random moments,
one member (the server or a worker) is SIGKILLed and started again. Then the load stops and the
fleet drains every accepted task. A task is *accepted* when a submit was answered with its id
(code 1 or 22); one whose answer was cut off by a kill is not counted, whatever became of it.

Prints kills survived, tasks accepted, tasks lost, tasks started twice (start_count > 1 plus
recorded takeovers), balance mismatches (ledger sum vs balance per user; charges vs tasks) and
the time to drain; exits 1 if any of lost, started twice or mismatches is not zero. Only
127.0.0.1; every process it ends is one it started (by pid).

    .venv/bin/python bench/chaos.py --postgres postgresql://postgres@127.0.0.1:5432/postgres \\
        [--seconds 60] [--seed 1] [--duration 1.0]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from chaos_audit import audit, unfinished
from chaos_fleet import BIN, Fleet
from scratch import database, free_port

TOKEN = "mjg_bench-chaos-admin-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SUBMITTERS = 4
POLLERS = 4
DRAIN_WITHIN = 600.0


class Load:
    """Submitters and pollers against the server's fixed address, riding out its deaths."""

    def __init__(self, base_url: str) -> None:
        self.client = httpx.AsyncClient(base_url=base_url, headers=AUTH, timeout=10)
        self.accepted: list[str] = []
        self.cut_off = 0  # submits whose answer never came (the server died under them)
        self.unreachable = 0  # submits refused a connection while the server was down
        self.refused: dict[str, int] = {}
        self.stopping = asyncio.Event()

    async def submitter(self, n: int) -> None:
        count = 0
        while not self.stopping.is_set():
            count += 1
            route = "imagine" if count % 3 else "shorten"
            body = {"prompt": f"chaos {n}-{count}: a lighthouse in a storm"}
            try:
                answer = (await self.client.post(f"/mj/submit/{route}", json=body)).json()
            except httpx.ConnectError:
                self.unreachable += 1  # the server is down: nothing was sent
                await asyncio.sleep(0.1)
                continue
            except (httpx.HTTPError, ValueError):
                self.cut_off += 1  # sent, and the server died before answering
                await asyncio.sleep(0.1)
                continue
            if answer.get("code") in (1, 22):
                self.accepted.append(str(answer["result"]))
            else:
                key = f"{answer.get('code')}: {answer.get('description')}"
                self.refused[key] = self.refused.get(key, 0) + 1
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.8)  # ~5 submits/s in all: the channel keeps up

    async def poller(self) -> None:
        while not self.stopping.is_set():
            ids = self.accepted[-50:]
            try:
                if ids:
                    await self.client.post("/mj/task/list-by-condition", json={"ids": ids})
                await self.client.get("/mj/task/list")
            except httpx.HTTPError:
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.05)


async def run(fleet: Fleet, url: str, seconds: float, seed: int) -> int:
    rng = random.Random(seed)
    load = Load(fleet.base_url)
    loop = asyncio.get_running_loop()
    tasks = [asyncio.create_task(load.submitter(n)) for n in range(SUBMITTERS)]
    tasks += [asyncio.create_task(load.poller()) for _ in range(POLLERS)]
    kills: dict[str, int] = {}
    ends = time.monotonic() + seconds
    while True:
        pause = rng.uniform(0.5, 4.0)
        if time.monotonic() + pause >= ends:
            break
        await asyncio.sleep(pause)
        victim = rng.choice(sorted(fleet.members))
        # Kill and restart off the loop: the load keeps going while a member comes back.
        await loop.run_in_executor(None, fleet.kill, victim)
        await asyncio.sleep(rng.uniform(0.0, 1.0))
        await loop.run_in_executor(None, fleet.start, victim)
        kills[victim] = kills.get(victim, 0) + 1
    await asyncio.sleep(max(0.0, ends - time.monotonic()))
    load.stopping.set()
    await asyncio.gather(*tasks)
    await load.client.aclose()

    drain_began = time.monotonic()
    while time.monotonic() - drain_began < DRAIN_WITHIN:
        if not await unfinished(url, load.accepted):
            break
        await asyncio.sleep(0.2)
    drained = time.monotonic() - drain_began
    verdict = await audit(url, load.accepted)

    survived = ", ".join(f"{name} {n}" for name, n in sorted(kills.items()))
    print(f"kills survived:      {sum(kills.values())} ({survived})")
    print(f"tasks accepted:      {len(load.accepted)}")
    print(f"submits cut off:     {load.cut_off} (answer lost with the server; not counted)")
    print(f"submits unreachable: {load.unreachable} (server down; retried)")
    print(f"tasks lost:          {len(verdict.lost)} {verdict.lost[:5]}")
    print(f"tasks started twice: {len(verdict.started_twice)} {verdict.started_twice[:5]}")
    print(f"balance mismatches:  {len(verdict.balance_mismatches)}")
    print(f"lease takeovers:     {verdict.takeovers}")
    print(f"tasks failed:        {len(verdict.failed)} {sorted(set(verdict.failed.values()))[:3]}")
    print(f"refused submits:     {load.refused}")
    print(f"time to drain:       {drained:.1f} s")
    bad = verdict.lost or verdict.started_twice or verdict.balance_mismatches
    return 1 if bad else 0


def mjgate(env: dict[str, str], *args: str) -> None:
    done = subprocess.run([str(BIN / "mjgate"), *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"mjgate {' '.join(args)}: {done.stderr or done.stdout}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--postgres",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="a PostgreSQL server URL (its /postgres database); a new database is made on it",
    )
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the load runs")
    parser.add_argument("--seed", type=int, default=1, help="seeds the kill moments and victims")
    parser.add_argument("--duration", type=float, default=1.0, help="sandbox seconds per task")
    parser.add_argument("--lease", type=float, default=3.0, help="MJGATE_LEASE_SECONDS")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="mjgate-chaos-") as tmp,
        database(args.postgres, Path(tmp)) as url,
    ):
        logs = Path(tmp) / "logs"
        logs.mkdir()
        env = {
            **os.environ,
            "MJGATE_DATA_DIR": tmp,
            "MJGATE_DATABASE_URL": url,
            "MJGATE_ADMIN_TOKEN": TOKEN,
            "MJGATE_ADMIN_INITIAL_QUOTA": str(10**12),
            "MJGATE_SECRET_KEY": "bench-secret",
            "MJGATE_LEASE_SECONDS": str(args.lease),
        }
        fleet = Fleet(env, logs, free_port())
        try:
            fleet.add("serve", ["serve", "--no-workers"])  # migrates and makes the admin
            # One channel of our own (the bootstrap's sandbox is set aside): wide enough that
            # no submit is refused for a full queue, tasks long enough to be killed mid-run.
            sizes = ["--core-size", "16", "--queue-size", "100000"]
            mjgate(env, "channel", "add", "chaos", *sizes, "--duration", str(args.duration))
            mjgate(env, "channel", "disable", "sandbox")
            for n in range(1, args.workers + 1):
                fleet.add(f"worker-{n}", ["worker"])
            code = asyncio.run(run(fleet, url.replace("+asyncpg", ""), args.seconds, args.seed))
        finally:
            fleet.stop_all()
    sys.exit(code)


if __name__ == "__main__":
    main()
