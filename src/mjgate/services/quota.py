"""Quota for operators and users: balances, top-ups, the ledger, and prices."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mjgate.db.repos import UnitOfWork
from mjgate.domain.accounts import LedgerEntry, User, amount_in_range, balance_in_range
from mjgate.errors import AccountError, AmountOutOfRange, UserNotFound
from mjgate.services.billing import top_up
from mjgate.services.runtime import Runtime


@dataclass(frozen=True)
class QuotaReport:
    user: User
    ledger: Sequence[LedgerEntry]
    ledger_sum: int
    spent: int


async def add_quota(rt: Runtime, user_name: str, amount: int, reason: str) -> int:
    """Grant (or, negative, take back) quota; answers the new balance."""
    if amount == 0:
        raise AccountError("The amount must not be 0.")
    if not amount_in_range(amount):
        raise AmountOutOfRange()
    async with rt.db.write() as uow:
        user = await _user(uow, user_name)
        assert user.id is not None
        await top_up(uow, user.id, amount, reason or "operator grant", rt.clock())
        refreshed = await uow.user_by_id(user.id, fresh=True)
        assert refreshed is not None
        # Checked on the balance as written, inside the transaction: raising rolls it back,
        # and a concurrent grant cannot slip between a check and the write.
        if not balance_in_range(refreshed.balance):
            raise AmountOutOfRange(f"The balance would be {refreshed.balance}, beyond 10^15.")
        return refreshed.balance


async def quota_report(rt: Runtime, user_name: str, limit: int = 20) -> QuotaReport:
    async with rt.db.read() as uow:
        user = await _user(uow, user_name)
        assert user.id is not None
        return QuotaReport(
            user=user,
            ledger=await uow.ledger_of(user.id, limit),
            ledger_sum=await uow.ledger_sum(user.id),
            spent=await uow.spent_by(user.id),
        )


async def _user(uow: UnitOfWork, name: str) -> User:
    user = await uow.user_by_name(name)
    if user is None:
        raise UserNotFound(f"No user {name!r}.")
    return user
