"""Quota: charge with the submit, refund a failed task exactly once (the ledger enforces it)."""

from __future__ import annotations

from mjgate.domain.accounts import LedgerEntry, LedgerKind
from mjgate.domain.tasks import Task
from mjgate.errors import QuotaNotEnough
from mjgate.services.ports import BalanceWork, QuotaWork


async def charge_task(uow: QuotaWork, task: Task, price: int, now: int) -> None:
    """Take the price in the transaction that creates the task: both happen or neither."""
    task.price = price
    if price <= 0:
        return
    if not await uow.debit(task.user_id, price):
        raise QuotaNotEnough(price=price)
    if task.token_id is not None and not await uow.charge_token(task.token_id, price):
        raise QuotaNotEnough("This token's spending cap does not cover the price.", price=price)
    await uow.record_ledger(
        LedgerEntry(
            user_id=task.user_id,
            token_id=task.token_id,
            task_id=task.id,
            amount=-price,
            kind=LedgerKind.CHARGE,
            reason=f"{task.action.value} {task.mode.value}",
            created_at=now,
        )
    )


async def refund_task(uow: BalanceWork, task: Task, reason: str, now: int) -> bool:
    """Give back what the task was charged, once. A task never charged gets nothing."""
    if task.price <= 0 or task.refunded:
        return False
    # Marked before the quota rows change, so the task row is written once, first. A second
    # UPDATE of a row this transaction already changed re-runs its foreign-key checks, which
    # lock the channel row after the user row: the reverse of a submit's order (deadlock).
    task.refunded = True
    recorded = await uow.record_ledger(
        LedgerEntry(
            user_id=task.user_id,
            token_id=task.token_id,
            task_id=task.id,
            amount=task.price,
            kind=LedgerKind.REFUND,
            reason=reason[:500],
            created_at=now,
        )
    )
    if not recorded:  # another process refunded it first
        return False
    await uow.credit(task.user_id, task.price)
    if task.token_id is not None:
        await uow.uncharge_token(task.token_id, task.price)
    return True


async def top_up(uow: BalanceWork, user_id: int, amount: int, reason: str, now: int) -> None:
    """Add (or, negative, take away) quota by an operator; a balance never goes below zero."""
    if amount < 0 and not await uow.debit(user_id, -amount):
        raise QuotaNotEnough("The balance is smaller than the amount to take away.")
    await uow.record_ledger(
        LedgerEntry(
            user_id=user_id,
            amount=amount,
            kind=LedgerKind.TOPUP,
            reason=reason,
            created_at=now,
        )
    )
    if amount > 0:
        await uow.credit(user_id, amount)
