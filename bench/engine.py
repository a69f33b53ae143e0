"""The engine's submit-to-start latency and sustained tasks/second, on the sandbox at zero
duration, in one process or two, on SQLite or PostgreSQL.

Layouts: ``one`` is a single ``mjgate serve`` (HTTP and workers); ``two`` is two of them
sharing the database, submits alternating between them; ``split`` is ``serve --no-workers``
plus ``mjgate worker``, so every start crosses processes (on PostgreSQL through
LISTEN/NOTIFY, on SQLite through the dispatcher's 1 s tick).

Latency: tasks submitted one at a time onto an idle channel; startTime - submitTime as the
database recorded them. Throughput: TASKS shortens submitted with CONCURRENCY requests in
flight; TASKS / (last finishTime - first submitTime). Everything it starts it stops (by
pid); the data dir (and PostgreSQL database) is temporary.

    .venv/bin/python bench/engine.py [--postgres URL] [--layout one|two|split] [--tasks 300]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
from scratch import database, free_port

BIN = Path(sys.executable).parent
TOKEN = "mjg_bench-admin-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
LAYOUTS = {
    "one": [["serve"]],
    "two": [["serve"], ["serve"]],
    "split": [["serve", "--no-workers"], ["worker"]],
}


@contextmanager
def process(args: list[str], env: dict[str, str], logs: Path) -> Iterator[str | None]:
    """One mjgate process until it is ready; its base URL when it serves HTTP."""
    base = None
    command = [str(BIN / "mjgate"), *args]
    if args[0] == "serve":
        port = free_port()
        command += ["--port", str(port)]
        base = f"http://127.0.0.1:{port}"
    err = logs / f"{args[0]}-{len(list(logs.iterdir()))}.err"
    with err.open("w") as stderr:
        popen = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        deadline = time.monotonic() + 120
        while not _ready(base, err):
            if popen.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{args} did not start: {err.read_text()}")
            time.sleep(0.1)
        yield base
    finally:
        popen.terminate()
        try:
            popen.wait(timeout=30)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait()


def _ready(base: str | None, err: Path) -> bool:
    if base is None:
        return " started (wake-ups: " in err.read_text()
    try:
        return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


async def _tasks(client: httpx.AsyncClient, ids: list[str]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for at in range(0, len(ids), 500):
        answer = await client.post("/mj/task/list-by-condition", json={"ids": ids[at : at + 500]})
        found += answer.json()
    return found


async def _until_final(client: httpx.AsyncClient, ids: list[str]) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        tasks = await _tasks(client, ids)
        if all(t["status"] in ("SUCCESS", "FAILURE", "CANCEL") for t in tasks):
            failed = [t for t in tasks if t["status"] != "SUCCESS"]
            if failed:
                raise RuntimeError(f"{len(failed)} tasks failed: {failed[0]['failReason']}")
            return tasks
        await asyncio.sleep(0.2)
    raise RuntimeError("tasks did not finish within 300 s")


async def _submit(client: httpx.AsyncClient, n: int) -> str:
    answer = (await client.post("/mj/submit/shorten", json={"prompt": f"bench boat {n}"})).json()
    if answer["code"] not in (1, 22):
        raise RuntimeError(f"submit refused: {answer}")
    return str(answer["result"])


async def measure(bases: list[str], tasks: int, concurrency: int, probes: int) -> dict[str, float]:
    clients = [httpx.AsyncClient(base_url=b, headers=AUTH, timeout=60) for b in bases]
    try:
        # Latency: one at a time onto an idle channel, alternating between the HTTP processes.
        delays = []
        for n in range(probes):
            client = clients[n % len(clients)]
            task_id = await _submit(client, n)
            [task] = await _until_final(client, [task_id])
            delays.append(task["startTime"] - task["submitTime"])
        # Throughput: many in flight.
        limit = asyncio.Semaphore(concurrency)

        async def one(n: int) -> str:
            async with limit:
                return await _submit(clients[n % len(clients)], n)

        ids = await asyncio.gather(*(one(n) for n in range(tasks)))
        done = await _until_final(clients[0], list(ids))
    finally:
        for client in clients:
            await client.aclose()
    span_ms = max(t["finishTime"] for t in done) - min(t["submitTime"] for t in done)
    delays.sort()
    return {
        "p50": statistics.median(delays),
        "p95": delays[max(0, round(0.95 * len(delays)) - 1)],
        "rate": tasks / (span_ms / 1000),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--postgres", help="a PostgreSQL server URL (its /postgres database)")
    parser.add_argument("--layout", choices=sorted(LAYOUTS), default="one")
    parser.add_argument("--tasks", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--probes", type=int, default=30)
    parser.add_argument("--core-size", type=int, default=8)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="mjgate-bench-") as tmp,
        database(args.postgres, Path(tmp)) as url,
    ):
        logs = Path(tmp) / "logs"
        logs.mkdir()
        env = {
            **os.environ,
            "MJGATE_DATA_DIR": tmp,
            "MJGATE_DATABASE_URL": url,
            "MJGATE_ADMIN_TOKEN": TOKEN,
            "MJGATE_ADMIN_INITIAL_QUOTA": str(10**15),
            "MJGATE_SECRET_KEY": "bench-secret",
            "MJGATE_SANDBOX_DURATION": "0",
        }
        sizes = ["--core-size", str(args.core_size), "--queue-size", str(args.tasks * 2)]
        subprocess.run(
            [str(BIN / "mjgate"), "channel", "add", "sandbox", *sizes],
            env=env,
            check=True,
            capture_output=True,
        )
        with ExitStack() as stack:
            started = [stack.enter_context(process(a, env, logs)) for a in LAYOUTS[args.layout]]
            bases = [b for b in started if b is not None]
            figures = asyncio.run(measure(bases, args.tasks, args.concurrency, args.probes))
    kind = "PostgreSQL" if args.postgres else "SQLite"
    print(
        f"| {kind} | {args.layout} | {figures['p50']:.0f} | {figures['p95']:.0f} "
        f"| {figures['rate']:.1f} |"
    )


if __name__ == "__main__":
    main()
