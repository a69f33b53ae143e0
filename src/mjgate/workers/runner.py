"""The worker loops of one process: dispatcher, poller (with the lease heartbeat), sweeper
and webhook delivery.

A submit wakes the dispatcher at once: an in-memory signal within the process, and on
PostgreSQL a NOTIFY that the listener turns into the same signal in every worker process.
The dispatcher also ticks on its own, the fallback should a wake-up be lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable

from mjgate.db.wakes import WakeListener
from mjgate.domain.tasks import ACTIVE_STATUSES
from mjgate.services import engine
from mjgate.services.runtime import Runtime
from mjgate.workers.webhooks import WebhookDeliverer

log = logging.getLogger(__name__)


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Worker:
    def __init__(
        self,
        rt: Runtime,
        *,
        poll_interval: float = 0.5,
        dispatch_interval: float = 1.0,
        sweep_interval: float = 1.0,
    ) -> None:
        self.rt = rt
        self.worker_id = new_worker_id()
        self._poll_interval = poll_interval
        self._dispatch_interval = dispatch_interval
        self._sweep_interval = sweep_interval
        self._wake = asyncio.Event()
        # Set when an executor hears news of a task (a Discord message): poll at once.
        self._poll_now = asyncio.Event()
        self._stopping = asyncio.Event()
        self._starts: set[asyncio.Task[None]] = set()
        self._loops: list[asyncio.Task[None]] = []
        # On PostgreSQL: the connection that hears other processes announce work.
        self.listener: WakeListener | None = None
        self.webhooks = WebhookDeliverer(rt, self.worker_id)

    def wake(self) -> None:
        self._wake.set()

    def poll_soon(self) -> None:
        self._poll_now.set()

    def start(self) -> None:
        self.rt.wake = self.wake
        self.rt.poll_soon = self.poll_soon
        self.listener = self.rt.db.listen_for_work(self.wake)
        if self.listener is not None:
            self.listener.start()
        heard = "LISTEN/NOTIFY" if self.listener is not None else "this process only"
        log.info("worker %s started (wake-ups: %s)", self.worker_id, heard)
        self._loops = [
            asyncio.create_task(self._dispatch_loop(), name="mjgate-dispatch"),
            asyncio.create_task(
                self._every(self._poll_interval, self._poll, self._poll_now), name="mjgate-poll"
            ),
            asyncio.create_task(
                self._every(self._sweep_interval, self._sweep), name="mjgate-sweep"
            ),
        ]
        self.rt.wake_webhooks = self.webhooks.wake
        self._loops.append(
            asyncio.create_task(self.webhooks.run(self._stopping), name="mjgate-webhooks")
        )

    async def stop(self, grace_seconds: float = 15) -> None:
        """Stop claiming, let the steps and starts in hand finish, hand back the rest, end.

        The loops are not cancelled mid-step: a step cut off inside a transaction could leave
        its connection holding SQLite's write lock until it is collected, stalling every
        other writer. Each loop ends at its next check of the stop signal. The running tasks
        still held then get their leases ended, so a peer (or the next start) takes them
        over at its next poll rather than after a whole lease.
        """
        self._stopping.set()
        self._wake.set()
        pending = [*self._loops, *self._starts]
        if pending:
            _, late = await asyncio.wait(pending, timeout=grace_seconds)
            for straggler in late:
                straggler.cancel()
            for straggler in late:
                with contextlib.suppress(asyncio.CancelledError):
                    await straggler
        self._loops = []
        if self.listener is not None:
            await self.listener.close()
            self.listener = None
        try:
            released = await engine.release_leases(self.rt, self.worker_id)
        except Exception:  # the leases then simply run out: slower, never wrong
            log.exception("could not hand back the leases of %s", self.worker_id)
        else:
            if released:
                log.info("handed back %d running task(s)", released)

    async def run_until_idle(self, max_rounds: int = 1000) -> None:
        """Drain the work there is, for tests: no sleeping, no background loops."""
        for _ in range(max_rounds):
            await self.dispatch_once()
            await self._poll()
            await self._sweep()
            async with self.rt.db.read() as uow:
                busy = sum(
                    [
                        await uow.count_by_status(channel.id, ACTIVE_STATUSES)
                        for channel in await uow.channels()
                        if channel.id is not None
                    ]
                )
            if not busy:
                return
            await asyncio.sleep(0.01)
        raise RuntimeError("work did not drain")

    async def dispatch_once(self) -> None:
        for claimed in await engine.claim_tasks(self.rt, self.worker_id):
            await engine.start_claimed(self.rt, self.worker_id, claimed)

    async def _dispatch_loop(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._dispatch_interval)
            self._wake.clear()
            if self._stopping.is_set():
                return
            try:
                for claimed in await engine.claim_tasks(self.rt, self.worker_id):
                    start = asyncio.create_task(
                        engine.start_claimed(self.rt, self.worker_id, claimed)
                    )
                    self._starts.add(start)
                    start.add_done_callback(self._starts.discard)
            except Exception:
                log.exception("dispatch failed; retrying")
                await asyncio.sleep(self._dispatch_interval)

    async def _poll(self) -> None:
        await engine.renew_leases(self.rt, self.worker_id)
        await engine.poll_running(self.rt, self.worker_id)

    async def _sweep(self) -> None:
        await engine.sweep_overdue(self.rt)

    async def _every(
        self,
        interval: float,
        step: Callable[[], Awaitable[None]],
        sooner: asyncio.Event | None = None,
    ) -> None:
        """Run ``step`` every ``interval`` seconds, or as soon as ``sooner`` is set."""
        while not self._stopping.is_set():
            if sooner is not None:
                sooner.clear()
            try:
                await step()
            except Exception:
                log.exception("worker step failed; retrying")
            waits = [asyncio.ensure_future(self._stopping.wait())]
            if sooner is not None:
                waits.append(asyncio.ensure_future(sooner.wait()))
            try:
                await asyncio.wait(waits, timeout=interval, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiting in waits:
                    waiting.cancel()
