"""What ``mjgate serve`` and ``mjgate worker`` run: the web stack and the workers.

Imported only by those two commands (``mjgate.cli.processes``): everything here is heavy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator

import typer
import uvicorn
from prometheus_client import start_http_server
from uvicorn.loops.auto import auto_loop_factory

# A process that runs tasks loads every executor at start (Runtime imports them only when
# a channel first needs one, for the operator commands' sake): importing Pillow or PyAV at
# the first dispatch would stall the event loop, and every request with it, for ~0.1 s.
import mjgate.providers.discord.provider
import mjgate.providers.relay
import mjgate.providers.sandbox  # noqa: F401
from mjgate.api.app import create_app
from mjgate.db.migrate import upgrade_database
from mjgate.services import accounts
from mjgate.services.runtime import Runtime
from mjgate.settings import Settings, load_settings
from mjgate.workers.runner import Worker

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def serve(host: str | None, port: int | None, *, with_workers: bool) -> None:
    settings = load_settings()
    if not settings.public_url:
        logging.getLogger(__name__).warning(
            "MJGATE_PUBLIC_URL is not set: image and callback URLs will use the request's Host "
            "only when it is in MJGATE_ALLOWED_HOSTS (%s), else this server's own address "
            "(http://%s:%s). Set MJGATE_PUBLIC_URL to the address clients reach.",
            ", ".join(settings.allowed_hosts) or "none",
            host or settings.host,
            port or settings.port,
        )
    upgrade_database(settings.resolved_database_url)
    # The event loop uvicorn itself would pick (uvloop when installed): asyncio.run's default
    # loop costs a good share of the requests per second on the polled reads.
    with asyncio.Runner(loop_factory=auto_loop_factory()) as runner:
        runner.run(_serve(settings, host or settings.host, port or settings.port, with_workers))


def work(metrics_port: int | None) -> None:
    settings = load_settings()
    upgrade_database(settings.resolved_database_url)
    exporter = None
    if metrics_port is not None:
        # A worker's own instruments (starts, run times, provider errors) live only in this
        # process; the task counts are served by any `mjgate serve` from the database.
        exporter, _thread = start_http_server(metrics_port, addr=settings.host)
    try:
        asyncio.run(_work(settings))
    finally:
        if exporter is not None:
            exporter.shutdown()


class _GracefulServer(uvicorn.Server):
    """uvicorn, minus its habit of raising the stop signal again once it has shut down.

    That re-raise kills the process with the default handler before the workers in it
    have finished their steps and handed back their tasks; this server takes SIGTERM or
    SIGINT, shuts down, and returns, and ``_serve`` stops the workers after it.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        for signum in _STOP_SIGNALS:
            loop.add_signal_handler(signum, self.handle_exit, signum, None)
        try:
            yield
        finally:
            for signum in _STOP_SIGNALS:
                loop.remove_signal_handler(signum)


async def _serve(settings: Settings, host: str, port: int, with_workers: bool) -> None:
    rt = Runtime.from_settings(settings)
    await _announce_bootstrap(rt)
    worker = Worker(rt) if with_workers else None
    config = uvicorn.Config(
        create_app(rt),
        host=host,
        port=port,
        log_level="info",
        access_log=False,
        # The peer must stay the real socket: rate limits count per client address, and
        # only MJGATE_TRUSTED_PROXIES may speak for others (api.client_address).
        proxy_headers=False,
    )
    server = _GracefulServer(config)
    if worker is not None:
        worker.start()
    try:
        await server.serve()
    finally:
        if worker is not None:
            await worker.stop()
        await rt.close_providers()
        await rt.db.dispose()


async def _work(settings: Settings) -> None:
    """Run the loops until SIGTERM or SIGINT; then stop claiming, finish or hand back."""
    rt = Runtime.from_settings(settings)
    runner = Worker(rt)
    runner.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in _STOP_SIGNALS:
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    logging.getLogger(__name__).info("stopping: finishing or handing back the work in hand")
    await runner.stop()
    await rt.close_providers()
    await rt.db.dispose()


async def _announce_bootstrap(rt: Runtime) -> None:
    done = await accounts.bootstrap(rt)
    if done.admin_token:
        typer.echo("Created user 'admin'. Its API token (shown once, keep it):")
        typer.echo(done.admin_token)
    if done.created_channel:
        typer.echo(
            "Created channel 'sandbox': it simulates Midjourney offline (it is not Midjourney)."
        )
