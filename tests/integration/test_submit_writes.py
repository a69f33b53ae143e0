"""The submit's bare-driver transaction: the row it writes reads back through the ORM as the
ORM would have written it, and on SQLite it waits out another process's write lock."""

from __future__ import annotations

import asyncio
import sqlite3
import time

import pytest

from mjgate.domain.tasks import Mode, TaskAction, TaskStatus
from mjgate.services.runtime import Runtime
from support import admin_caller, imagine, quota, task_row


async def test_submitted_row_reads_back_through_the_orm(rt: Runtime) -> None:
    admin = await admin_caller(rt)
    before, _ = await quota(rt, admin.user_id)
    answer = await imagine(rt, admin, "a lighthouse --niji 6", state="s-1")

    task = await task_row(rt, answer.result)
    price = rt.prices.price_of(TaskAction.IMAGINE, task.mode)
    assert answer.code == 1
    assert task.action == TaskAction.IMAGINE and task.status == TaskStatus.NOT_START
    assert isinstance(task.mode, Mode) and task.state == "s-1"
    assert task.price == price > 0 and task.refunded is False
    assert task.properties["channelId"] == "sandbox" and task.buttons == [] and task.result == {}
    assert task.params["op"] == "imagine" and task.params["inputs"] == {}
    assert task.queue_seq == 1 and task.start_count == 0 and task.takeovers == 0
    after, ledger = await quota(rt, admin.user_id)
    assert before - after == price and after == ledger


async def test_sqlite_submit_waits_for_another_writer(rt: Runtime) -> None:
    if not rt.db.is_sqlite:
        pytest.skip("the file lock is SQLite's")
    admin = await admin_caller(rt)
    other = sqlite3.connect(rt.settings.resolved_database_url.removeprefix("sqlite:///"))
    other.isolation_level = None
    other.execute("BEGIN IMMEDIATE")  # another process writing
    try:
        started = time.monotonic()
        submit = asyncio.create_task(imagine(rt, admin))
        await asyncio.sleep(0.3)
        assert not submit.done()  # refused the lock, sleeping, the loop still free
        other.execute("COMMIT")
        answer = await asyncio.wait_for(submit, 5)
    finally:
        if other.in_transaction:
            other.execute("ROLLBACK")
        other.close()
    assert answer.code == 1 and time.monotonic() - started >= 0.3
    assert (await task_row(rt, answer.result)).status == TaskStatus.NOT_START
