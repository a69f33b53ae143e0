"""What rate limits cost the busiest path: fetch throughput with limits on (never hit), off,
and the bare endpoint (the machine's ceiling), measured with wrk.

With limits on, the token's read limit and the anonymous limit are set far above what the
machine can serve, so every request goes through the limit step's whole decision (token
hash, key, GCRA on SQLite, a reserved slice on PostgreSQL) and none is refused (wrk stops
the bench on any non-2xx answer). The reservations the PostgreSQL processes made are
counted from the table's statistics.

    .venv/bin/python bench/rate_limits.py [--postgres URL] [--seconds 4] [--connections 32]
        [--rounds 2]

Needs wrk (Debian: apt-get install wrk). Reuses bench/http_paths.py's helpers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
from pathlib import Path

import asyncpg
from http_paths import BIN, ROOT, TOKEN, Figures, run_wrk, running, seed
from scratch import database, free_port

LIMITS_OFF = {
    "MJGATE_RATE_LIMIT_ANONYMOUS_PER_SECOND": "0",
    "MJGATE_RATE_LIMIT_READ_PER_SECOND": "0",
}
LIMITS_NEVER_HIT = {
    "MJGATE_RATE_LIMIT_ANONYMOUS_PER_SECOND": "1000000",
    "MJGATE_RATE_LIMIT_ANONYMOUS_BURST": "1000000",
    "MJGATE_RATE_LIMIT_READ_PER_SECOND": "1000000",
    "MJGATE_RATE_LIMIT_READ_BURST": "1000000",
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--postgres", help="a PostgreSQL server URL (its /postgres database)")
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2, help="off/on pairs, alternated")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    measure = {"seconds": args.seconds, "connections": args.connections}
    results: list[tuple[str, Figures]] = []
    with (
        tempfile.TemporaryDirectory(prefix="mjgate-bench-") as tmp,
        database(args.postgres, Path(tmp)) as url,
    ):
        env = {
            **os.environ,
            "MJGATE_DATA_DIR": tmp,
            "MJGATE_DATABASE_URL": url,
            "MJGATE_ADMIN_TOKEN": TOKEN,
            "MJGATE_SANDBOX_DURATION": "0",
            **LIMITS_OFF,
        }
        mjgate = str(BIN / "mjgate")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        with running([mjgate, "serve", "--port", str(port)], env, f"{base}/healthz"):
            task_id = seed(base, 1, 1)[0]
        bare_port = free_port()
        bare = [str(BIN / "python"), "-m", "uvicorn", "bench.bare_app:app"]
        bare += ["--port", str(bare_port), "--log-level", "warning", "--no-access-log"]
        with running(bare, {**env, "PYTHONPATH": str(ROOT)}, f"http://127.0.0.1:{bare_port}/task"):
            ceiling = run_wrk(f"http://127.0.0.1:{bare_port}/task", **measure)
            results.append(("bare endpoint (ceiling)", ceiling))
        serve = [mjgate, "serve", "--no-workers", "--port", str(port)]
        fetch = f"{base}/mj/task/{task_id}/fetch"
        # Alternated, so that neither setting always meets the machine in the same state.
        for round_ in range(1, args.rounds + 1):
            for name, limits in (("off", LIMITS_OFF), ("on, never hit", LIMITS_NEVER_HIT)):
                with running(serve, {**env, **limits}, f"{base}/healthz"):
                    figures = run_wrk(fetch, **measure)
                results.append((f"GET fetch, limits {name} (round {round_})", figures))
        statements = reservations(url) if args.postgres else None
    kind = "PostgreSQL" if args.postgres else "SQLite"
    print(f"\nfetch with rate limits on {kind}: 1 uvicorn worker, wrk -t2", end=" ")
    print(f"-c{args.connections} -d{args.seconds}s")
    print("| path | requests/s | p50 ms | p99 ms | ratio to ceiling |")
    print("|---|---:|---:|---:|---:|")
    for name, f in results:
        ratio = f.requests_per_second / ceiling.requests_per_second
        rps = f"{f.requests_per_second:,.0f}"
        print(f"| {name} | {rps} | {f.p50_ms:.1f} | {f.p99_ms:.1f} | {ratio:.0%} |")
    for name in ("off", "on, never hit"):
        runs = [f.requests_per_second for n, f in results if f"limits {name} " in n]
        print(f"| GET fetch, limits {name}: mean of {len(runs)} | {sum(runs) / len(runs):,.0f} |")
    if statements is not None:
        print(f"\nrate_buckets rows written (inserts + updates): {statements}")


def reservations(url: str) -> int:
    """Reservation statements that reached the table: its insert and update counts."""

    async def count() -> int:
        connection = await asyncpg.connect(url)
        try:
            value = await connection.fetchval(
                "SELECT n_tup_ins + n_tup_upd FROM pg_stat_user_tables "
                "WHERE relname = 'rate_buckets'"
            )
            return int(value or 0)
        finally:
            await connection.close()

    return asyncio.run(count())


if __name__ == "__main__":
    main()
