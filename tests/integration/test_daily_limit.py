"""A channel's daily limit: it starts that many tasks per UTC day, then rests until midnight
while new work goes to other channels."""

from __future__ import annotations

from mjgate.domain.channels import DAY_MS
from mjgate.domain.tasks import TaskStatus
from mjgate.services import accounts
from mjgate.settings import Settings
from mjgate.workers.runner import Worker
from support import FakeClock, admin_caller, imagine, runtime_with, task_row, update_channel

LONG = 3600.0
NOON = 1_750_000_000_000 // DAY_MS * DAY_MS + DAY_MS // 2


async def test_the_limit_holds_for_the_day_and_new_work_moves_on(settings: Settings) -> None:
    async with runtime_with(settings) as rt:
        rt.clock = clock = FakeClock(start=NOON)
        await update_channel(rt, core_size=3, queue_size=5, duration=LONG)
        async with rt.db.write() as uow:
            channel = await uow.channel_by_name("sandbox")
            assert channel is not None
            channel.config = {**channel.config, "daily_limit": 2}
        admin = await admin_caller(rt)
        ids = [(await imagine(rt, admin, f"task {n}")).result for n in range(3)]
        worker = Worker(rt)
        await worker.dispatch_once()
        statuses = [(await task_row(rt, i)).status for i in ids]
        assert statuses == [TaskStatus.SUBMITTED, TaskStatus.SUBMITTED, TaskStatus.NOT_START]

        rows = {c.name: c for c, _ in await accounts.list_channels(rt)}
        resting = rows["sandbox"]
        assert resting.resting_until == NOON + DAY_MS // 2  # the next UTC midnight
        assert resting.health_reason == "daily limit of 2 tasks reached"
        assert resting.failures == 0  # a limit is not a failure

        # New work goes to another channel while this one rests.
        await accounts.add_channel(rt, "spare", "sandbox", config={"duration": LONG})
        moved = await imagine(rt, admin, "after the limit")
        assert (await task_row(rt, moved.result)).properties["channelId"] == "spare"

        # After midnight the waiting task starts on its own channel.
        clock.advance(DAY_MS // 2 + 1)
        await worker.dispatch_once()
        assert (await task_row(rt, ids[2])).status == TaskStatus.SUBMITTED
