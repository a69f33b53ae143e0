"""A blend of five 8 MiB images: the server's peak memory growth, and whether the event
loop keeps answering other requests meanwhile (issue 7).

Starts ``mjgate serve --no-workers`` on a loopback port with a temporary SQLite database,
resets the process's peak-RSS mark, posts one blend while another client, on its own thread
and event loop, asks ``/healthz`` every 5 ms, then reads the peak (VmHWM) and the slowest
``/healthz`` answer. The blend's body is encoded before anything is timed: encoding 53 MiB of
JSON on the prober's own loop would count the client's stall as the server's. It stops what
it started.

    .venv/bin/python bench/blend_memory.py [--images 5] [--mib 8]
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import os
import tempfile
import threading
import time
from pathlib import Path

import httpx
import orjson
from http_paths import AUTH, BIN, TOKEN, running
from scratch import free_port

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MIB = 1024 * 1024


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


def probe(base: str, done: threading.Event) -> float:
    """The slowest /healthz answer (ms) until ``done``, from a thread of its own."""
    slowest = 0.0
    with httpx.Client(base_url=base, timeout=120) as client:
        while not done.is_set():
            started = time.perf_counter()
            client.get("/healthz")
            slowest = max(slowest, (time.perf_counter() - started) * 1000)
            time.sleep(0.005)
    return slowest


def measure(base: str, body: bytes) -> tuple[float, float]:
    """Seconds the blend took, and the slowest /healthz answer (ms) while it ran."""
    done = threading.Event()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        prober = pool.submit(probe, base, done)
        time.sleep(0.2)
        headers = {**AUTH, "Content-Type": "application/json"}
        started = time.perf_counter()
        with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
            answer = client.post("/mj/submit/blend", content=body)
        took = time.perf_counter() - started
        done.set()
        slowest = prober.result()
    if answer.json().get("code") not in (1, 22):
        raise RuntimeError(f"blend refused: {answer.text}")
    return took, slowest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=5)
    parser.add_argument("--mib", type=int, default=8)
    args = parser.parse_args()
    size = args.mib * MIB
    images = [
        "data:image/png;base64,"
        + base64.b64encode(PNG_SIGNATURE + os.urandom(size - len(PNG_SIGNATURE))).decode()
        for _ in range(args.images)
    ]
    body = orjson.dumps({"base64Array": images})
    with tempfile.TemporaryDirectory(prefix="mjgate-bench-") as tmp:
        env = {
            **os.environ,
            "MJGATE_DATA_DIR": tmp,
            "MJGATE_DATABASE_URL": f"sqlite:///{tmp}/mjgate.db",
            "MJGATE_ADMIN_TOKEN": TOKEN,
            "MJGATE_ADMIN_INITIAL_QUOTA": str(10**15),
        }
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        command = [str(BIN / "mjgate"), "serve", "--no-workers", "--port", str(port)]
        with running(command, env, f"{base}/healthz") as server:
            pid = server.pid
            before = status_kib(pid, "VmRSS")
            Path(f"/proc/{pid}/clear_refs").write_text("5")  # reset the peak-RSS mark
            took, slowest = measure(base, body)
            peak = status_kib(pid, "VmHWM")
    decoded_mib = args.images * args.mib
    growth_mib = max(0, peak - before) / 1024
    print(f"blend of {args.images} x {args.mib} MiB (decoded payload {decoded_mib} MiB)")
    print("| measure | value | target |")
    print("|---|---:|---:|")
    print(f"| request body | {len(body) / MIB:.0f} MiB | |")
    print(f"| answer time | {took * 1000:.0f} ms | |")
    ratio = growth_mib / decoded_mib
    print(f"| peak RSS growth | {growth_mib:.0f} MiB ({ratio:.1f}x payload) | <= 4x |")
    print(f"| slowest /healthz meanwhile | {slowest:.0f} ms | < 50 ms |")


if __name__ == "__main__":
    main()
