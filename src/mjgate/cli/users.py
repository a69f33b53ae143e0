"""``mjgate user`` and ``mjgate token``: accounts and their API tokens."""

from __future__ import annotations

from typing import Annotated

import typer

from mjgate.cli.operator import run, when
from mjgate.cli.tables import JsonOption, print_rows

user_app = typer.Typer(
    help="Users: the accounts that own tokens, tasks and quota.", no_args_is_help=True
)
token_app = typer.Typer(help="API tokens: shown once, stored only as hashes.", no_args_is_help=True)


@user_app.command("create")
def user_create(
    name: Annotated[str, typer.Argument(help="A unique user name.")],
    admin: Annotated[bool, typer.Option("--admin", help="May read every user's tasks.")] = False,
) -> None:
    """Create a user (then give it a token with `mjgate token create NAME`)."""
    from mjgate.services import accounts

    user = run(lambda rt: accounts.create_user(rt, name, is_admin=admin))
    typer.echo(f"created user {user.name!r} (id {user.id}{', admin' if user.is_admin else ''})")


@user_app.command("list")
def user_list(as_json: JsonOption = False) -> None:
    """List users with their balance."""
    from mjgate.services import accounts

    rows = [
        {
            "id": user.id,
            "name": user.name,
            "admin": user.is_admin,
            "enabled": user.enabled,
            "balance": user.balance,
            "created": when(user.created_at),
        }
        for user in run(accounts.list_users)
    ]
    print_rows(("id", "name", "admin", "enabled", "balance", "created"), rows, as_json=as_json)


@user_app.command("disable")
def user_disable(name: Annotated[str, typer.Argument(help="The user.")]) -> None:
    """Refuse the user's tokens (403) from their next request on; tasks and quota stay."""
    from mjgate.services import accounts

    run(lambda rt: accounts.set_user_enabled(rt, name, False))
    typer.echo(f"disabled user {name!r}")


@user_app.command("enable")
def user_enable(name: Annotated[str, typer.Argument(help="The user.")]) -> None:
    """Accept a disabled user's tokens again."""
    from mjgate.services import accounts

    run(lambda rt: accounts.set_user_enabled(rt, name, True))
    typer.echo(f"enabled user {name!r}")


@token_app.command("create")
def token_create(
    user: Annotated[str, typer.Argument(help="The user the token acts for.")],
    label: Annotated[str, typer.Option(help="A note to recognise the token by.")] = "",
    spend_cap: Annotated[
        int | None, typer.Option(min=0, help="Most quota this token may spend (none: no cap).")
    ] = None,
) -> None:
    """Create an API token. The token is printed once, alone on the last line."""
    from mjgate.services import accounts

    row, token = run(lambda rt: accounts.create_token(rt, user, label, spend_cap=spend_cap))
    typer.echo(f"token {row.prefix}… for user {user!r} (shown once):")
    typer.echo(token)


@token_app.command("list")
def token_list(
    user: Annotated[
        str | None, typer.Argument(help="Only this user's tokens (all: leave out).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """List tokens by their prefix (never the token): label, cap, spent, enabled.

    When a token was last used is not recorded (a write on every request would cost the
    polled reads); `mjgate quota show USER` shows what it charged.
    """
    from mjgate.services import accounts

    rows = [
        {
            "id": token.id,
            "prefix": token.prefix,
            "user": owner,
            "label": token.label,
            "spend_cap": token.spend_cap,
            "spent": token.spent,
            "enabled": token.enabled,
            "created": when(token.created_at),
        }
        for token, owner in run(lambda rt: accounts.list_tokens(rt, user))
    ]
    columns = ("id", "prefix", "user", "label", "spend_cap", "spent", "enabled", "created")
    print_rows(columns, rows, as_json=as_json)


@token_app.command("revoke")
def token_revoke(
    token: Annotated[str, typer.Argument(help="The token, or the prefix that lists show.")],
) -> None:
    """Disable a token: requests with it are refused (401) from now on."""
    from mjgate.services import accounts

    row = run(lambda rt: accounts.revoke_token(rt, token))
    typer.echo(f"revoked token {row.prefix}…")
