"""The ``mjgate`` command: the composition root for processes and operator commands.

Each command group lives in its own small module, and none of them imports the web stack
(FastAPI, uvicorn, the providers' HTTP clients, Pillow, PyAV) or the database layer at module
level: `mjgate --help` and the operator commands start in a fraction of a second, and only
`serve`, `worker` and `discord-sim` pay for what they run (README, "Operator CLI").
"""

from __future__ import annotations

import typer

from mjgate.cli import billing, channels, database, processes, users, webhooks

app = typer.Typer(
    help="mjgate: a Midjourney task gateway speaking the midjourney-proxy /mj protocol.",
    no_args_is_help=True,
    add_completion=False,
)
app.command()(processes.serve)
app.command()(processes.worker)
app.command("discord-sim")(processes.discord_sim)
app.add_typer(database.app, name="db")
app.add_typer(users.user_app, name="user")
app.add_typer(users.token_app, name="token")
app.add_typer(channels.app, name="channel")
app.add_typer(billing.quota_app, name="quota")
app.add_typer(billing.price_app, name="price")
app.add_typer(webhooks.app, name="webhooks")

__all__ = ["app"]
