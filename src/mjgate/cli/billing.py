"""``mjgate quota`` and ``mjgate price``: balances, the ledger, and what actions cost."""

from __future__ import annotations

from typing import Annotated

import typer

from mjgate.cli.operator import run, when
from mjgate.cli.tables import JsonOption, print_rows

quota_app = typer.Typer(
    help="Quota: balances in whole units; every grant, charge and refund is a ledger row.",
    no_args_is_help=True,
)
price_app = typer.Typer(
    help="Prices per action and mode, charged when a task is created, refunded if it fails.",
    no_args_is_help=True,
)


@quota_app.command("add")
def quota_add(
    user: Annotated[str, typer.Argument(help="The user.")],
    amount: Annotated[int, typer.Argument(help="Units to grant; negative takes back.")],
    reason: Annotated[str, typer.Option(help="Shown in the ledger.")] = "operator grant",
) -> None:
    """Grant quota to a user (a ledger row of kind topup)."""
    from mjgate.services import quota

    balance = run(lambda rt: quota.add_quota(rt, user, amount, reason))
    typer.echo(f"{user}: balance {balance}")


@quota_app.command("show")
def quota_show(
    user: Annotated[str, typer.Argument(help="The user.")],
    limit: Annotated[int, typer.Option(min=1, help="Ledger rows to show.")] = 20,
) -> None:
    """A user's balance, spend, and newest ledger rows."""
    from mjgate.services import quota

    report = run(lambda rt: quota.quota_report(rt, user, limit))
    typer.echo(f"{user}: balance {report.user.balance}, spent {report.spent}")
    for entry in report.ledger:
        task = entry.task_id or "-"
        typer.echo(
            f"{when(entry.created_at)}\t{entry.kind.value}\t{entry.amount:+d}\t{task}\t{entry.reason}"
        )


@price_app.command("list")
def price_list(as_json: JsonOption = False) -> None:
    """Every action's price in every mode, overrides applied."""
    from mjgate.services import pricing

    rows = [
        {"action": action.value, "mode": mode.value, "price": price}
        for action, mode, price in run(pricing.price_table)
    ]
    print_rows(("action", "mode", "price"), rows, as_json=as_json)


@price_app.command("set")
def price_set(
    key: Annotated[
        str, typer.Argument(help="ACTION (all modes) or ACTION:MODE, e.g. VIDEO:RELAX.")
    ],
    price: Annotated[
        int | None, typer.Argument(min=0, help="Whole quota units; leave out to reset.")
    ] = None,
) -> None:
    """Override a price for every process on this database (leave PRICE out to reset it)."""
    from mjgate.services import pricing

    canonical = run(lambda rt: pricing.set_price(rt, key, price))
    shown = "the default" if price is None else str(price)
    typer.echo(f"{canonical}: {shown}")
