"""``mjgate webhooks``: the notifyHook pushes owed to receivers."""

from __future__ import annotations

from typing import Annotated

import typer

from mjgate.cli.operator import load, run, when
from mjgate.cli.tables import JsonOption, print_rows

app = typer.Typer(
    help="Webhooks: the notifyHook pushes owed to receivers, their retries and failures.",
    no_args_is_help=True,
)


@app.command("list")
def webhooks_list(
    failed: Annotated[
        bool, typer.Option("--failed", help="Only dead deliveries and those awaiting a retry.")
    ] = False,
    task: Annotated[str | None, typer.Option(help="Only this task's deliveries.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Rows to show, newest first.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """List webhook deliveries, newest first: status, attempts, task, URL, last error."""
    from mjgate.services import deliveries

    found = run(
        lambda rt: deliveries.list_deliveries(rt, failed_only=failed, task_id=task, limit=limit)
    )
    rows = [
        {
            "id": row.id,
            "status": row.status.value,
            "attempts": row.attempts,
            "task": row.task_id,
            "kind": "final" if row.is_final else "step",
            "created": when(row.created_at),
            "url": row.url,
            "last_error": row.last_error,
        }
        for row in found
    ]
    columns = ("id", "status", "attempts", "task", "kind", "created", "url", "last_error")
    print_rows(columns, rows, as_json=as_json)


@app.command("retry")
def webhooks_retry(
    delivery_id: Annotated[int, typer.Argument(help="The delivery's ID, as `list` shows it.")],
) -> None:
    """Send a dead delivery again now, with a fresh retry window."""
    from mjgate.services import deliveries

    row = run(lambda rt: deliveries.retry_delivery(rt, delivery_id))
    typer.echo(f"delivery {row.id} of task {row.task_id} is queued again")


@app.command("secret")
def webhooks_secret() -> None:
    """Print the secret that signs webhooks (receivers check X-Mjgate-Signature with it)."""
    typer.echo(load().webhook_secret)
