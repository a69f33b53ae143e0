"""``mjgate db``: the database schema."""

from __future__ import annotations

import typer

from mjgate.cli.operator import load

app = typer.Typer(help="Database schema.", no_args_is_help=True)


@app.command("upgrade")
def db_upgrade() -> None:
    """Apply schema migrations up to the newest (serve does this on start too)."""
    from mjgate.db.migrate import upgrade_database

    upgrade_database(load().resolved_database_url)
    typer.echo("database is up to date")
