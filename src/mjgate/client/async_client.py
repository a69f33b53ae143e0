"""``AsyncClient``: the /mj protocol over ``httpx.AsyncClient``, and its bound ``AsyncTask``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from mjgate.client import calls, downloads
from mjgate.client.auth import auth_headers
from mjgate.client.errors import ClientError, ServerUnreachable, SubmitOutcomeUnknown, WaitTimedOut
from mjgate.client.images import ImageSource
from mjgate.client.models import SubmitAnswer, TaskData, TaskStatus
from mjgate.client.progress import ProgressBar
from mjgate.client.retry import NOT_SENT, RetryPolicy, worth_retrying

Progress = Callable[[TaskData], None]


@dataclass(frozen=True)
class AsyncTask(TaskData):
    """A task read through an ``AsyncClient``; its methods use that client."""

    client: AsyncClient | None = field(default=None, repr=False, compare=False)
    answer: SubmitAnswer | None = field(default=None, repr=False, compare=False)

    def _bound(self) -> AsyncClient:
        if self.client is None:
            raise RuntimeError("this task is not bound to a client")
        return self.client

    async def refresh(self) -> AsyncTask:
        return await self._bound().fetch(self.id)

    async def press(self, button: str, *, enable_remix: bool = False) -> AsyncTask:
        """Press a button by label (``"U1"``), emoji (``"🔄"``) or customId: the new task
        (in MODAL when the server answered 21: go on with ``submit_modal``)."""
        return await self._bound().press(self, button, enable_remix=enable_remix)

    async def submit_modal(
        self, prompt: str | None = None, *, mask: ImageSource | None = None
    ) -> AsyncTask:
        return await self._bound().modal(self.id, prompt, mask=mask)

    async def wait(
        self,
        timeout: float = 600,  # noqa: ASYNC109
        *,
        poll_interval: float = 1.0,
        progress: Progress | bool | None = None,
    ) -> AsyncTask:
        """Until final or in MODAL: see ``AsyncClient.wait``."""
        return await self._bound().wait(
            self, timeout, poll_interval=poll_interval, progress=progress
        )

    async def download(self, directory: str | Path) -> list[Path]:
        return await self._bound().download(self, directory)


class AsyncClient:
    """An asyncio client of any midjourney-proxy-compatible server (mjgate or not).

    ``auth`` is ``"bearer"`` (``Authorization: Bearer``) or ``"mj-api-secret"``. The token
    goes only to ``base_url``'s API routes, never with the downloads of result files.
    """

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        auth: str = "bearer",
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = auth_headers(token, auth)
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._http = http or httpx.AsyncClient(timeout=timeout, follow_redirects=False)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    # ------------------------------------------------------------------ transport

    async def _send(self, call: calls.Call) -> httpx.Response:
        attempt = 0
        while True:
            attempt += 1
            last = attempt >= self.retry.attempts
            try:
                response = await self._http.request(
                    call.method,
                    self.base_url + call.path,
                    json=call.body,
                    params=call.params,
                    headers=self._headers,
                )
            except NOT_SENT as exc:
                if last:
                    raise ServerUnreachable(f"{self.base_url}: {exc!r}") from exc
                await self._sleep(self.retry.delay(attempt))
                continue
            except httpx.TransportError as exc:
                if call.submit:
                    raise SubmitOutcomeUnknown(call.path, repr(exc)) from exc
                if last:
                    raise ServerUnreachable(f"{self.base_url}: {exc!r}") from exc
                await self._sleep(self.retry.delay(attempt))
                continue
            if last or not worth_retrying(response, submit=call.submit):
                return response
            await self._sleep(self.retry.delay(attempt, response))

    async def _submit(self, call: calls.Call) -> AsyncTask:
        answer = calls.read_submit(call, await self._send(call))
        try:
            raw = await self._read(calls.fetch(answer.task_id))
        except ClientError:  # the task exists: never lose its id over a failed read
            raw = calls.placeholder(answer)
        return AsyncTask(**TaskData.fields_from_json(raw), client=self, answer=answer)

    async def _read(self, call: calls.Call) -> Any:
        return calls.read_json(await self._send(call))

    def _task(self, raw: dict[str, Any]) -> AsyncTask:
        return AsyncTask(**TaskData.fields_from_json(raw), client=self)

    # ------------------------------------------------------------------ submits

    async def imagine(
        self,
        prompt: str,
        *,
        images: Iterable[ImageSource] = (),
        mode: str | None = None,
        notify_hook: str | None = None,
        state: str | None = None,
        bot_type: str | None = None,
    ) -> AsyncTask:
        return await self._submit(calls.imagine(prompt, images, mode, notify_hook, state, bot_type))

    async def blend(
        self,
        images: Sequence[ImageSource],
        *,
        dimensions: str | None = None,
        mode: str | None = None,
        notify_hook: str | None = None,
        state: str | None = None,
    ) -> AsyncTask:
        return await self._submit(calls.blend(images, dimensions, mode, notify_hook, state))

    async def describe(
        self,
        file: ImageSource | None = None,
        *,
        link: str | None = None,
        mode: str | None = None,
        notify_hook: str | None = None,
        state: str | None = None,
    ) -> AsyncTask:
        return await self._submit(calls.describe(file, link, mode, notify_hook, state))

    async def shorten(
        self,
        prompt: str,
        *,
        mode: str | None = None,
        notify_hook: str | None = None,
        state: str | None = None,
    ) -> AsyncTask:
        return await self._submit(calls.shorten(prompt, mode, notify_hook, state))

    async def video(
        self,
        prompt: str | None = None,
        *,
        image: ImageSource | None = None,
        task: str | TaskData | None = None,
        index: int | None = None,
        motion: str | None = None,
        loop: bool | None = None,
        batch_size: int | None = None,
        mode: str | None = None,
        notify_hook: str | None = None,
        state: str | None = None,
    ) -> AsyncTask:
        task_id = _id(task) if task is not None else None
        return await self._submit(
            calls.video(
                prompt, image, task_id, index, motion, loop, batch_size, mode, notify_hook, state
            )
        )

    async def action(
        self,
        task: str | TaskData,
        custom_id: str,
        *,
        enable_remix: bool = False,
        notify_hook: str | None = None,
        state: str | None = None,
    ) -> AsyncTask:
        """Press the button whose customId is ``custom_id`` on ``task``."""
        return await self._submit(
            calls.action(_id(task), custom_id, enable_remix, notify_hook, state)
        )

    async def press(
        self,
        task: str | TaskData,
        button: str,
        *,
        enable_remix: bool = False,
        notify_hook: str | None = None,
        state: str | None = None,
    ) -> AsyncTask:
        """Press a button by label, emoji or customId (a task id is fetched first)."""
        shown = task if isinstance(task, TaskData) else await self.fetch(task)
        custom_id = shown.button(button).custom_id
        return await self.action(
            shown, custom_id, enable_remix=enable_remix, notify_hook=notify_hook, state=state
        )

    async def modal(
        self, task: str | TaskData, prompt: str | None = None, *, mask: ImageSource | None = None
    ) -> AsyncTask:
        """Go on with a task waiting in MODAL (a press answered 21)."""
        return await self._submit(calls.modal(_id(task), prompt, mask))

    # ------------------------------------------------------------------ reads

    async def fetch(self, task: str | TaskData) -> AsyncTask:
        return self._task(await self._read(calls.fetch(_id(task))))

    async def list_by_ids(self, ids: Iterable[str | TaskData]) -> list[AsyncTask]:
        return [self._task(raw) for raw in await self._read(calls.list_by_ids(map(_id, ids)))]

    async def list_tasks(self, limit: int | None = None) -> list[AsyncTask]:
        return [self._task(raw) for raw in await self._read(calls.list_tasks(limit))]

    async def queue(self) -> list[AsyncTask]:
        return [self._task(raw) for raw in await self._read(calls.queue())]

    async def cancel(self, task: str | TaskData) -> None:
        await self._read(calls.cancel(_id(task)))

    async def image_seed(self, task: str | TaskData) -> str:
        return str((await self._read(calls.image_seed(_id(task))))["result"])

    # ------------------------------------------------------------------ waiting, files

    async def wait(
        self,
        task: str | TaskData,
        timeout: float = 600,  # noqa: ASYNC109  (the same call as the sync client's)
        *,
        poll_interval: float = 1.0,
        progress: Progress | bool | None = None,
    ) -> AsyncTask:
        """Fetch until the task is final (SUCCESS, FAILURE, CANCEL) or waits in MODAL; the
        last task seen. ``progress``: a callable given each task seen, or True for a bar on
        stderr. Raises ``WaitTimedOut`` after ``timeout`` seconds."""
        bar = ProgressBar() if progress is True else None
        report = bar or (progress if callable(progress) else None)
        deadline = time.monotonic() + timeout
        try:
            while True:
                current = await self.fetch(task)
                if report is not None:
                    report(current)
                if current.is_final or current.status is TaskStatus.MODAL:
                    return current
                if time.monotonic() >= deadline:
                    raise WaitTimedOut(current, timeout)
                await self._sleep(min(poll_interval, max(0.0, deadline - time.monotonic())))
        finally:
            if bar is not None:
                bar.close()

    async def download(self, task: TaskData, directory: str | Path) -> list[Path]:
        """Stream every result file of ``task`` (images, grid images, videos) into
        ``directory``; the paths written. No token is sent: result URLs need none."""
        folder = Path(directory)
        written = []
        for url, stem in downloads.targets(task):
            partial = downloads.partial_path(folder, stem)
            async with self._http.stream("GET", url) as response:
                if response.status_code != 200:
                    await response.aread()
                    raise calls.refusal(response)
                with partial.open("wb") as out:
                    async for chunk in response.aiter_bytes():
                        out.write(chunk)
                suffix = downloads.extension(url, response.headers.get("content-type"))
            written.append(downloads.finish(partial, folder, stem, suffix))
        return written


def _id(task: str | TaskData) -> str:
    return task.id if isinstance(task, TaskData) else str(task)
