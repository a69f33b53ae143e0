"""Issue 12 finding 5: small PNGs declaring 9400×9400 pixels, four at a time.

Starts ``mjgate serve`` (with its workers; the sandbox renders at once) on a loopback port
with a temporary SQLite database. A prober thread fetches one task every 5 ms throughout.
First a quiet phase, then the attack: rounds of four concurrent submits (blend, describe,
imagine with a reference, swap) of a 9400×9400 PNG, then it waits until every accepted task
has finished. Prints the slowest fetch in each phase and the server's peak RSS growth
(VmHWM after the attack minus VmRSS before it). It stops what it started.

    .venv/bin/python bench/large_images.py                         # the guard at its default
    .venv/bin/python bench/large_images.py --max-pixels 1000000000000  # as before the guard
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import io
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from http_paths import AUTH, BIN, TOKEN, running
from PIL import Image
from scratch import free_port

SIDE = 9400
ATTACKS: list[tuple[str, Any]] = [
    ("/mj/submit/blend", lambda image: {"base64Array": [image, image]}),
    ("/mj/submit/describe", lambda image: {"base64": image}),
    ("/mj/submit/imagine", lambda image: {"prompt": "cat", "base64Array": [image]}),
    ("/mj/insight-face/swap", lambda image: {"sourceBase64": image, "targetBase64": image}),
]
FINISHED = ("SUCCESS", "FAILURE", "CANCEL")


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


def huge_png() -> str:
    buffer = io.BytesIO()
    Image.new("1", (SIDE, SIDE), 1).save(buffer, "PNG")  # one bit a pixel here, RGB there
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def probe(base: str, task_id: str, done: threading.Event) -> float:
    """The slowest fetch (ms) until ``done``, from a thread of its own."""
    slowest = 0.0
    with httpx.Client(base_url=base, headers=AUTH, timeout=120) as client:
        while not done.is_set():
            started = time.perf_counter()
            client.get(f"/mj/task/{task_id}/fetch").raise_for_status()
            slowest = max(slowest, (time.perf_counter() - started) * 1000)
            time.sleep(0.005)
    return slowest


def attack(base: str, image: str, rounds: int) -> tuple[dict[int, int], float]:
    """Answers by status, and seconds until every accepted task finished."""
    started = time.perf_counter()
    statuses: dict[int, int] = {}
    accepted: list[str] = []
    with (
        httpx.Client(base_url=base, headers=AUTH, timeout=120) as client,
        concurrent.futures.ThreadPoolExecutor(len(ATTACKS)) as pool,
    ):
        for _ in range(rounds):
            calls = [pool.submit(client.post, path, json=body(image)) for path, body in ATTACKS]
            for call in calls:
                answer = call.result()
                statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
                if answer.status_code == 200 and answer.json().get("code") in (1, 22):
                    accepted.append(str(answer.json()["result"]))
        deadline = time.monotonic() + 300
        while accepted and time.monotonic() < deadline:
            listed = client.post("/mj/task/list-by-condition", json={"ids": accepted}).json()
            if all(task["status"] in FINISHED for task in listed):
                break
            time.sleep(0.2)
    return statuses, time.perf_counter() - started


def phase(base: str, task_id: str, work: Any) -> tuple[Any, float]:
    done = threading.Event()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        prober = pool.submit(probe, base, task_id, done)
        time.sleep(0.2)
        result = work()
        done.set()
        return result, prober.result()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-pixels", type=int, default=None)
    args = parser.parse_args()
    image = huge_png()
    with tempfile.TemporaryDirectory(prefix="mjgate-bench-") as tmp:
        env = {
            **os.environ,
            "MJGATE_DATA_DIR": tmp,
            "MJGATE_DATABASE_URL": f"sqlite:///{tmp}/mjgate.db",
            "MJGATE_ADMIN_TOKEN": TOKEN,
            "MJGATE_ADMIN_INITIAL_QUOTA": str(10**15),
            "MJGATE_SANDBOX_DURATION": "0",
        }
        if args.max_pixels is not None:
            env["MJGATE_MAX_IMAGE_PIXELS"] = str(args.max_pixels)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        command = [str(BIN / "mjgate"), "serve", "--port", str(port)]
        with running(command, env, f"{base}/healthz") as server:
            pid = server.pid
            with httpx.Client(base_url=base, headers=AUTH) as client:
                task_id = client.post("/mj/submit/shorten", json={"prompt": "a boat"}).json()
            task_id = str(task_id["result"])
            time.sleep(1)
            _, quiet = phase(base, task_id, lambda: time.sleep(3))
            before = status_kib(pid, "VmRSS")
            Path(f"/proc/{pid}/clear_refs").write_text("5")  # reset the peak-RSS mark
            (statuses, took), loud = phase(base, task_id, lambda: attack(base, image, args.rounds))
            peak = status_kib(pid, "VmHWM")
    growth = max(0, peak - before) / 1024
    budget = args.max_pixels or "default"
    print(f"{args.rounds} rounds of {len(ATTACKS)} concurrent {SIDE}x{SIDE} PNG submits")
    print(f"({len(image) // 1024} KiB of base64 each), MJGATE_MAX_IMAGE_PIXELS={budget}")
    print("| measure | value | target |")
    print("|---|---:|---:|")
    print(f"| answers by status | {statuses} | all 413 |")
    print(f"| attack until every accepted task finished | {took:.1f} s | |")
    print(f"| slowest fetch, quiet (3 s) | {quiet:.0f} ms | |")
    print(f"| slowest fetch during the attack | {loud:.0f} ms | < 100 ms |")
    print(f"| peak RSS growth | {growth:.0f} MiB (from {before / 1024:.0f} MiB) | |")


if __name__ == "__main__":
    main()
