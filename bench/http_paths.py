"""mjgate's hot HTTP paths against the machine's ceiling, measured with wrk.

Starts, on loopback ports, a bare Starlette endpoint answering a task-sized JSON body (the
ceiling) and mjgate, each under uvicorn with one worker, seeds tasks, then runs the same
wrk load against each path and prints requests/s, p50, p99 and the ratio to the ceiling.
Everything it starts it stops; the data dir (and PostgreSQL database) is temporary.

    .venv/bin/python bench/http_paths.py [--postgres URL] [--seconds 10] [--connections 64]
        [--large 1000000] [--processes 2] [--profile DIR]

``--large N`` then fills the tasks table to N rows and measures fetch again (an index
that does not match the query shows here); ``--processes 2`` serves fetch from two
mjgate processes at once (two ports, half the connections each) to check that HTTP
processes scale on one database. ``--profile DIR`` samples the mjgate process with py-spy
while each path is loaded, writes the collapsed stacks to DIR and prints where the time goes
(the functions most often on the stack, and most often at its top).

Needs wrk (Debian: apt-get install wrk).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
from scratch import database, free_port

from mjgate.db.tables import tasks as tasks_table

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TOKEN = "mjg_bench-admin-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@dataclass(frozen=True)
class Figures:
    requests_per_second: float
    p50_ms: float
    p99_ms: float


@contextmanager
def running(
    command: list[str], env: dict[str, str], ready_url: str
) -> Iterator[subprocess.Popen[bytes]]:
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
        yield process
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
    return parse_wrk(output, url)


def run_wrk_together(urls: list[str], seconds: int, connections: int) -> Figures:
    """Several wrk at once, one per URL, splitting the connections: summed requests/s, the
    worst p50 and p99."""
    script = f'wrk.headers["Authorization"] = "Bearer {TOKEN}"'
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    share = max(1, connections // len(urls))
    try:
        runs = [
            subprocess.Popen(
                ["wrk", "-t1", f"-c{share}", f"-d{seconds}s", "--latency", "-s", handle.name, url],
                stdout=subprocess.PIPE,
                text=True,
            )
            for url in urls
        ]
        outputs = [run.communicate(timeout=seconds + 60)[0] for run in runs]
    finally:
        os.unlink(handle.name)
    figures = [parse_wrk(output, url) for output, url in zip(outputs, urls, strict=True)]
    return Figures(
        sum(f.requests_per_second for f in figures),
        max(f.p50_ms for f in figures),
        max(f.p99_ms for f in figures),
    )


def parse_wrk(output: str, url: str) -> Figures:
    if "Non-2xx" in output or "Requests/sec" not in output:
        raise RuntimeError(f"wrk saw errors on {url}:\n{output}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]

    def percentile(p: str) -> float:
        value, unit = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", output).groups()  # type: ignore[union-attr]
        return float(value) * _UNITS[unit]

    return Figures(rps, percentile("50"), percentile("99"))


@contextmanager
def profiled(pid: int, seconds: int, out: Path | None, name: str) -> Iterator[None]:
    """py-spy samples ``pid`` for ``seconds`` while the body runs; the stacks go to out."""
    if out is None:
        yield
        return
    out.mkdir(parents=True, exist_ok=True)
    stacks = out / f"{re.sub(r'[^a-z0-9]+', '-', name.lower()).strip('-')}.txt"
    record = ["record", "--pid", str(pid), "--duration", str(seconds), "--rate", "200"]
    spy = subprocess.Popen(
        [str(BIN / "py-spy"), *record, "--format", "raw", "--nonblocking", "-o", str(stacks)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        spy.wait(timeout=seconds + 60)
    print(f"\n{name}: {stacks}")
    print(where_the_time_goes(stacks.read_text()))


def where_the_time_goes(collapsed: str, top: int = 12) -> str:
    """From py-spy's collapsed stacks: shares of samples on the stack and at its top."""
    inclusive: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        frames, _, count = line.rpartition(" ")
        if not frames or not count.isdigit():
            continue
        samples = int(count)
        total += samples
        names = [f.split(" (")[0] + " " + f.rsplit("/", 1)[-1] for f in frames.split(";")]
        for each in set(names):
            inclusive[each] += samples
        leaf[names[-1]] += samples
    if not total:
        return "  (no samples)"
    rows = ["  on the stack:"]
    rows += [f"    {n / total:5.1%}  {f}" for f, n in inclusive.most_common(top)]
    rows += ["  at the top:"]
    rows += [f"    {n / total:5.1%}  {f}" for f, n in leaf.most_common(top)]
    return "\n".join(rows)


def fill_tasks(url: str, model_id: str, total: int) -> None:
    """Copies of one seeded task under new ids until the table holds ``total`` rows, in
    one INSERT ... SELECT (ids start with 0, so they never meet real ones)."""
    others = [c.name for c in tasks_table.columns if c.name != "id"]
    columns = ", ".join(others)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1]
        with sqlite3.connect(path) as db:
            have = db.execute("SELECT count(*) FROM tasks").fetchone()[0]
            db.execute(
                "WITH RECURSIVE n(i) AS (SELECT ? UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
                f"INSERT INTO tasks (id, {columns}) SELECT printf('0%015d', i), {columns} "
                "FROM n, tasks WHERE tasks.id = ?",
                (have + 1, total, model_id),
            )
        return

    async def fill() -> None:
        connection = await asyncpg.connect(url)
        try:
            have = await connection.fetchval("SELECT count(*) FROM tasks")
            await connection.execute(
                f"INSERT INTO tasks (id, {columns}) SELECT '0' || lpad(i::text, 15, '0'), "
                f"{columns} FROM generate_series($1::int, $2::int) AS i, tasks WHERE tasks.id = $3",
                have + 1,
                total,
                model_id,
            )
            await connection.execute("ANALYZE tasks")
        finally:
            await connection.close()

    asyncio.run(fill())


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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--postgres", help="a PostgreSQL server URL (its /postgres database)")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--imagines", type=int, default=20)
    parser.add_argument("--large", type=int, default=0, help="then fill to N tasks, fetch again")
    parser.add_argument("--processes", type=int, default=1, help="then fetch from N processes")
    parser.add_argument("--profile", type=Path, help="py-spy each mjgate path, stacks to DIR")
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
        fill_tasks(url, ids[0], 1000)
        serve = [mjgate, "serve", "--no-workers", "--port", str(port)]
        with running(serve, env, f"{base}/healthz") as server:
            body = '{"ids": [' + ",".join(f'"{i}"' for i in ids[:100]) + "]}"
            paths = [
                ("GET fetch (1,000 tasks)", f"/mj/task/{ids[0]}/fetch", "GET", ""),
                ("POST list-by-condition (100 ids)", "/mj/task/list-by-condition", "POST", body),
                ("POST submit/imagine", "/mj/submit/imagine", "POST", '{"prompt": "a bench fox"}'),
            ]
            for name, path, method, payload in paths:
                with profiled(server.pid, args.seconds, args.profile, name):
                    figures = run_wrk(f"{base}{path}", method=method, body=payload, **measure)
                results.append((name, figures))
        if args.processes > 1:
            ports = [free_port() for _ in range(args.processes)]
            with ExitStack() as stack:
                for each in ports:
                    command = [mjgate, "serve", "--no-workers", "--port", str(each)]
                    stack.enter_context(running(command, env, f"http://127.0.0.1:{each}/healthz"))
                urls = [f"http://127.0.0.1:{each}/mj/task/{ids[0]}/fetch" for each in ports]
                results.append(
                    (f"GET fetch, {args.processes} processes", run_wrk_together(urls, **measure))
                )
        if args.large:
            fill_tasks(url, ids[0], args.large)
            with running(serve, env, f"{base}/healthz"):
                fetch = run_wrk(f"{base}/mj/task/{ids[0]}/fetch", **measure)
                results.append((f"GET fetch ({args.large:,} tasks)", fetch))
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
