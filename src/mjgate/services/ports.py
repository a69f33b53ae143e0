"""What the services need of a transaction, declared here where they are used.

``mjgate.db`` implements these (the unit of work on the ORM session, ``UnitOfWork``, and the
submit's transaction on the bare driver, ``SubmitWork``) without importing them: a protocol
is satisfied by shape. A service that takes one of these runs in either transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from mjgate.domain.accounts import LedgerEntry


class QuotaWork(Protocol):
    """What a charge needs: the guarded debit, the token's cap, the ledger row."""

    async def debit(self, user_id: int, amount: int) -> bool: ...

    async def charge_token(self, token_id: int, amount: int) -> bool: ...

    async def record_ledger(self, entry: LedgerEntry) -> bool: ...


class BalanceWork(QuotaWork, Protocol):
    """What a refund or an operator's top-up needs besides: giving quota back."""

    async def credit(self, user_id: int, amount: int) -> None: ...

    async def uncharge_token(self, token_id: int, amount: int) -> None: ...


class PriceWork(Protocol):
    """The operator's price overrides, read in the caller's transaction."""

    async def price_overrides(self) -> dict[str, int]: ...


class OutboxWork(Protocol):
    """What queueing a webhook needs of a transaction."""

    async def supersede_deliveries(self, task_id: str, now: int) -> None: ...

    def add(self, obj: object) -> None: ...

    def after_commit(self, callback: Callable[[], None]) -> None: ...
