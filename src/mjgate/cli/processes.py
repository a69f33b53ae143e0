"""The long-running processes: ``serve``, ``worker`` and the ``discord-sim`` tool.

Only their options are declared here; what they run (uvicorn, the app, the workers, the
providers) is imported when one of them starts, from ``mjgate.cli.serving``.
"""

from __future__ import annotations

import logging
from typing import Annotated

import typer


def _log_to_stderr() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on [MJGATE_HOST].")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on [MJGATE_PORT].")] = None,
    no_workers: Annotated[
        bool, typer.Option("--no-workers", help="Serve HTTP only; run `mjgate worker` elsewhere.")
    ] = False,
) -> None:
    """Serve the /mj API (and, unless --no-workers, run the task workers in this process)."""
    _log_to_stderr()
    from mjgate.cli import serving

    serving.serve(host, port, with_workers=not no_workers)


def worker(
    metrics_port: Annotated[
        int | None,
        typer.Option(help="Serve this process's Prometheus metrics on this port (on MJGATE_HOST)."),
    ] = None,
) -> None:
    """Run only the task workers (dispatch, poll, sweep), without HTTP."""
    _log_to_stderr()
    from mjgate.cli import serving

    serving.work(metrics_port)


def discord_sim(
    host: Annotated[str, typer.Option(help="Address to listen on (loopback).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port; 0 picks a free one.")] = 0,
    token: Annotated[
        str, typer.Option(help="The user token the simulated Discord accepts.")
    ] = "sim-token",
    speed: Annotated[
        float,
        typer.Option(min=0.001, help="Time scale of the bot's jobs (0.1: ten times faster)."),
    ] = 1.0,
) -> None:
    """Simulate Discord and the Midjourney bot offline, for trying a discord channel.

    Prints one line `channel add options: ...`: give those options (and --token-env VAR with
    VAR=TOKEN) to `mjgate channel add NAME --kind discord`.
    """
    from mjgate.discord_sim.server import main  # a tool: not loaded by any other command

    main(host=host, port=port, token=token, speed=speed)
