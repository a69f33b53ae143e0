"""The real app under uvicorn on a thread of its own, for tests that drive it synchronously
(hypothesis with a plain ``httpx.Client``): the app keeps its own event loop, and whatever
touches the runtime runs on that loop through ``ServerThread.call``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import httpx

from mjgate.services import accounts
from mjgate.services.runtime import Runtime
from mjgate.settings import Settings
from support import FINAL, serve_app

T = TypeVar("T")


class ServerThread:
    """The real app under uvicorn, on a thread with its own event loop; stopped on exit."""

    def __init__(self, app_settings: Settings) -> None:
        self._settings = app_settings
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._runtime: Runtime | None = None
        self.base_url = ""
        self._thread = threading.Thread(target=self._run, name="mjgate-fuzz", daemon=True)

    def __enter__(self) -> ServerThread:
        self._thread.start()
        if not self._ready.wait(60):
            raise RuntimeError("the server thread did not start")
        if self._error is not None:
            raise self._error
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(60)
        assert not self._thread.is_alive(), "the server thread did not stop"
        if self._error is not None:
            raise self._error

    def call(self, work: Callable[[Runtime], Coroutine[Any, Any, T]]) -> T:
        """Run ``work(runtime)`` on the server's loop and wait for its result."""
        assert self._loop is not None and self._runtime is not None
        return asyncio.run_coroutine_threadsafe(work(self._runtime), self._loop).result(60)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # handed to the test thread in __enter__ / __exit__
            self._error = exc
        finally:
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        runtime = Runtime.from_settings(self._settings)
        await accounts.bootstrap(runtime)
        try:
            async with serve_app(runtime) as served:
                self._runtime = runtime
                self.base_url = served.base_url
                self._ready.set()
                await self._stop.wait()
        finally:
            await runtime.db.dispose()


def finished(http: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """Submit through a synchronous client and poll until the task succeeds (30 s at most)."""
    answer = http.post(path, json=body).json()
    assert answer["code"] == 1, answer
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        task: dict[str, Any] = http.get(f"/mj/task/{answer['result']}/fetch").json()
        if task["status"] in FINAL:
            assert task["status"] == "SUCCESS", task
            return task
        time.sleep(0.05)
    raise AssertionError(f"task {answer['result']} did not finish")
