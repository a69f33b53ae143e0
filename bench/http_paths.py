"""mjgate's hot HTTP paths against the machine's ceiling, measured with wrk.

Starts, on loopback ports, a bare Starlette endpoint answering a task-sized JSON body (the
ceiling) and mjgate, each under uvicorn with one worker, seeds tasks, then runs the same
wrk load against each path and prints requests/s, p50, p99 and the ratio to the ceiling.
Everything it starts it stops; the data dir (and PostgreSQL database) is temporary.

    .venv/bin/python bench/http_paths.py [--postgres URL] [--seconds 10] [--connections 64]

Needs wrk (Debian: apt-get install wrk).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TOKEN = "mjg_bench-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@dataclass(frozen=True)
class Figures:
    requests_per_second: float
    p50_ms: float
    p99_ms: float


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running(command: list[str], env: dict[str, str], ready_url: str) -> Iterator[None]:
    """Start a server process, wait until it answers, stop it (by its pid) afterwards."""
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(ready_url, timeout=1).status_code < 500:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"{command[0]} did not start: {process.stderr and process.stderr.read()!r}"
                )
            time.sleep(0.1)
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def run_wrk(
    url: str, seconds: int, connections: int, method: str = "GET", body: str = ""
) -> Figures:
    script = "\n".join(
        [
            f'wrk.method = "{method}"',
            f"wrk.body = [==[{body}]==]",
            'wrk.headers["Content-Type"] = "application/json"',
            f'wrk.headers["Authorization"] = "Bearer {TOKEN}"',
        ]
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        output = subprocess.run(
            [
                "wrk",
                "-t2",
                f"-c{connections}",
                f"-d{seconds}s",
                "--latency",
                "-s",
                handle.name,
                url,
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + 60,
        ).stdout
    finally:
        os.unlink(handle.name)
    if "Non-2xx" in output:
        raise RuntimeError(f"wrk saw errors on {url}:\n{output}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]

    def percentile(p: str) -> float:
        value, unit = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", output).groups()  # type: ignore[union-attr]
        return float(value) * _UNITS[unit]

    return Figures(rps, percentile("50"), percentile("99"))


def seed(base: str, imagines: int, shortens: int) -> list[str]:
    """Finished tasks to read: image tasks (the realistic payload) and quick text ones."""
    ids: list[str] = []
    with httpx.Client(base_url=base, headers=AUTH, timeout=60) as client:
        for n in range(imagines):
            ids.append(
                client.post("/mj/submit/imagine", json={"prompt": f"bench fox {n}"}).json()[
                    "result"
                ]
            )
        for n in range(shortens):
            ids.append(
                client.post(
                    "/mj/submit/shorten", json={"prompt": f"a long prompt {n} about foxes"}
                ).json()["result"]
            )
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            tasks = client.post("/mj/task/list-by-condition", json={"ids": ids}).json()
            if all(t["status"] == "SUCCESS" for t in tasks):
                return ids
            time.sleep(0.5)
    raise RuntimeError("seeding did not finish")


async def _pg(url: str, sql: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@contextmanager
def database(postgres: str | None, data_dir: Path) -> Iterator[str]:
    if postgres is None:
        yield f"sqlite:///{data_dir / 'mjgate.db'}"
        return
    name = f"mjgate_bench_{os.getpid()}"
    asyncio.run(_pg(postgres, f'CREATE DATABASE "{name}"'))
    try:
        yield f"{postgres.rsplit('/', 1)[0]}/{name}"
    finally:
        asyncio.run(_pg(postgres, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--postgres", help="a PostgreSQL server URL (its /postgres database)")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--imagines", type=int, default=20)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    with (
        tempfile.TemporaryDirectory(prefix="mjgate-bench-") as tmp,
        database(args.postgres, Path(tmp)) as url,
    ):
        env = {
            **os.environ,
            "MJGATE_DATA_DIR": tmp,
            "MJGATE_DATABASE_URL": url,
            "MJGATE_ADMIN_TOKEN": TOKEN,
            "MJGATE_ADMIN_INITIAL_QUOTA": str(10**15),
            "MJGATE_SANDBOX_DURATION": "0",
        }
        mjgate = str(BIN / "mjgate")
        subprocess.run(
            [mjgate, "channel", "add", "sandbox", "--core-size", "4", "--queue-size", "1000000"],
            env=env,
            check=True,
            capture_output=True,
        )
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        with running([mjgate, "serve", "--port", str(port)], env, f"{base}/healthz"):
            ids = seed(base, args.imagines, 100 - args.imagines)
        bare_port = free_port()
        bare = [
            str(BIN / "python"),
            "-m",
            "uvicorn",
            "bench.bare_app:app",
            "--port",
            str(bare_port),
            "--log-level",
            "warning",
            "--no-access-log",
        ]
        results: list[tuple[str, Figures]] = []
        measure = {"seconds": args.seconds, "connections": args.connections}
        with running(bare, {**env, "PYTHONPATH": str(ROOT)}, f"http://127.0.0.1:{bare_port}/task"):
            results.append(
                (
                    "bare endpoint (ceiling)",
                    run_wrk(f"http://127.0.0.1:{bare_port}/task", **measure),
                )
            )
        with running(
            [mjgate, "serve", "--no-workers", "--port", str(port)], env, f"{base}/healthz"
        ):
            results.append(("GET fetch", run_wrk(f"{base}/mj/task/{ids[0]}/fetch", **measure)))
            body = '{"ids": [' + ",".join(f'"{i}"' for i in ids[:100]) + "]}"
            results.append(
                (
                    "POST list-by-condition (100 ids)",
                    run_wrk(
                        f"{base}/mj/task/list-by-condition", method="POST", body=body, **measure
                    ),
                )
            )
            results.append(
                (
                    "POST submit/imagine",
                    run_wrk(
                        f"{base}/mj/submit/imagine",
                        method="POST",
                        body='{"prompt": "a bench fox"}',
                        **measure,
                    ),
                )
            )
    ceiling = results[0][1].requests_per_second
    kind = "PostgreSQL" if args.postgres else "SQLite"
    print(f"\nmjgate hot paths on {kind}: 1 uvicorn worker, wrk -t2", end=" ")
    print(f"-c{args.connections} -d{args.seconds}s")
    print("| path | requests/s | p50 ms | p99 ms | ratio to ceiling |")
    print("|---|---:|---:|---:|---:|")
    for name, f in results:
        ratio = f.requests_per_second / ceiling
        rps = f"{f.requests_per_second:,.0f}"
        print(f"| {name} | {rps} | {f.p50_ms:.1f} | {f.p99_ms:.1f} | {ratio:.0%} |")


if __name__ == "__main__":
    main()
