"""The statements written once (``db/statements.py``) behave the same on either executor:
the unit of work's ORM session and the submit's bare driver (sqlite3 / asyncpg)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import pytest

from mjgate.domain.accounts import LedgerEntry, LedgerKind
from mjgate.domain.tasks import ACTIVE_STATUSES
from mjgate.services.runtime import Runtime
from support import add_user, admin_caller, imagine, quota

Executor = Callable[[Runtime], contextlib.AbstractAsyncContextManager[Any]]
EXECUTORS: dict[str, Executor] = {
    "orm": lambda rt: rt.db.write(),
    "bare": lambda rt: rt.db.submit_write(),
}


@pytest.fixture(params=sorted(EXECUTORS))
def transaction(request: pytest.FixtureRequest) -> Executor:
    return EXECUTORS[request.param]


async def test_the_debit_takes_what_is_there_and_never_more(
    rt: Runtime, transaction: Executor
) -> None:
    caller, _token = await add_user(rt, "payer", balance=10)
    async with transaction(rt) as uow:
        assert await uow.debit(caller.user_id, 7) is True
        assert await uow.debit(caller.user_id, 4) is False  # 3 left
        assert await uow.debit(caller.user_id, 3) is True
    async with rt.db.read() as uow:
        user = await uow.user_by_id(caller.user_id, fresh=True)
    assert user is not None and user.balance == 0


async def test_the_token_cap_and_the_ledger_unique_kind_hold(
    rt: Runtime, transaction: Executor
) -> None:
    caller, _token = await add_user(rt, "capped", balance=100)
    assert caller.token_id is not None
    async with rt.db.write() as uow:
        token = await uow.token_by_id(caller.token_id)
        assert token is not None
        token.spend_cap = 5
    entry = LedgerEntry(caller.user_id, -3, LedgerKind.CHARGE, "t", 1, "task-1", caller.token_id)
    async with transaction(rt) as uow:
        assert await uow.charge_token(caller.token_id, 3) is True
        assert await uow.charge_token(caller.token_id, 3) is False  # 6 would pass the cap
        assert await uow.record_ledger(entry) is True
        assert await uow.record_ledger(entry) is False  # task-1 is charged once
    async with rt.db.read() as uow:
        kinds = [(e.kind, e.amount) for e in await uow.ledger_for_task("task-1")]
    assert kinds == [(LedgerKind.CHARGE, -3)]


async def test_lock_and_load_read_the_same_channel(rt: Runtime, transaction: Executor) -> None:
    admin = await admin_caller(rt)
    first = await imagine(rt, admin)
    second = await imagine(rt, admin)
    assert first.code == second.code == 1
    async with rt.db.read() as uow:
        [channel] = await uow.channels(enabled_only=True)
        assert channel.id is not None
        active = await uow.count_by_status(channel.id, ACTIVE_STATUSES)
        next_seq = await uow.next_queue_seq(channel.id)
    assert active == 2 and next_seq == 3
    async with transaction(rt) as uow:
        locked = await uow.lock_channel(channel.id)
        assert locked is not None and locked.name == channel.name
        assert locked.config == channel.config and locked.enabled is True
        prices = await uow.price_overrides()
    assert prices == {}
    assert (await rt.db.reads.active_counts([channel.id, 999])) == {channel.id: 2}
    before, ledger = await quota(rt, admin.user_id)
    assert before == ledger
