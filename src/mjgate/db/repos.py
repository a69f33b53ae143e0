"""The unit of work: every query the services need, behind plain methods.

The statements the hot paths also run (debit, token charge, ledger, prices, channel lock,
load and queue place, supersede, the wake) are written once in ``db/statements.py`` and
executed here on the ORM session; the rest are written here, once.

Services never see SQLAlchemy; they call these methods inside ``Database.write()`` or
``Database.read()``, and the transaction commits when the block ends without an error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import CursorResult, Result, Select, delete, exists, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from mjgate.db.compiled import DialectName, Statement
from mjgate.db.statements import (
    ANNOUNCE_WORK,
    CHARGE_TOKEN,
    COUNT_BY_STATUS,
    DEBIT,
    ENABLED_CHANNELS,
    LEDGER_COLUMNS,
    LOCK_CHANNEL,
    NEXT_QUEUE_SEQ,
    PRICE_OVERRIDES,
    RECORD_LEDGER,
    SUPERSEDE_DELIVERIES,
)
from mjgate.db.tables import channels, ledger, prices, tasks, tokens, users, webhook_deliveries
from mjgate.db.wakes import WAKE_CHANNEL
from mjgate.domain.accounts import ApiToken, LedgerEntry, User
from mjgate.domain.channels import Channel
from mjgate.domain.tasks import ACTIVE_STATUSES, RUNNING_STATUSES, Task, TaskStatus
from mjgate.domain.webhooks import DeliveryStatus, WebhookDelivery

_deliveries = webhook_deliveries


def _rowcount(result: Result[Any]) -> int:
    assert isinstance(result, CursorResult)
    return int(result.rowcount)


class UnitOfWork:
    def __init__(self, session: AsyncSession, *, dialect: DialectName) -> None:
        self._session = session
        self._dialect = dialect
        # Row locks (FOR UPDATE) on PostgreSQL; SQLite's writers already hold the whole file.
        self._locking = dialect != "sqlite"
        self.committed_callbacks: list[Callable[[], None]] = []

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once this transaction has committed (not if it rolls back)."""
        if callback not in self.committed_callbacks:
            self.committed_callbacks.append(callback)

    async def ping(self) -> None:
        await self._session.execute(text("SELECT 1"))

    async def _run(self, statement: Statement, params: dict[str, Any]) -> Result[Any]:
        """Execute one of ``db/statements.py``'s statements in this transaction."""
        return await self._session.execute(statement.construct(self._dialect), params)

    async def announce_work(self) -> None:
        """Tell the other processes' dispatchers that work may start (a task queued, a slot
        freed). PostgreSQL delivers it when this transaction commits, and not at all if it
        rolls back. On SQLite another process finds the work at its dispatcher's next tick."""
        if self._dialect != "sqlite":
            await self._run(ANNOUNCE_WORK, {"channel": WAKE_CHANNEL})

    def add(self, obj: object) -> None:
        self._session.add(obj)

    async def flush(self) -> None:
        await self._session.flush()

    # -- users and tokens -------------------------------------------------------------

    async def count_users(self) -> int:
        return int(await self._session.scalar(select(func.count()).select_from(User)) or 0)

    async def user_by_name(self, name: str) -> User | None:
        if "\x00" in name:
            return None  # no name holds NUL (PostgreSQL text cannot), and asking is an error
        return (await self._session.scalars(select(User).where(users.c.name == name))).first()

    async def user_by_id(self, user_id: int, *, fresh: bool = False) -> User | None:
        """``fresh`` reloads the row: balances change by UPDATE statements, not the object."""
        return await self._session.get(User, user_id, populate_existing=fresh)

    async def users(self) -> Sequence[User]:
        return (await self._session.scalars(select(User).order_by(users.c.id))).all()

    async def token_with_user(self, token_hash: str) -> tuple[ApiToken, User] | None:
        row = (
            await self._session.execute(
                select(ApiToken, User)
                .join(User, users.c.id == tokens.c.user_id)
                .where(tokens.c.token_hash == token_hash)
            )
        ).first()
        return None if row is None else (row[0], row[1])

    async def tokens_of(self, user_id: int) -> Sequence[ApiToken]:
        query = select(ApiToken).where(tokens.c.user_id == user_id).order_by(tokens.c.id)
        return (await self._session.scalars(query)).all()

    async def tokens_with_owners(
        self, user_id: int | None = None
    ) -> Sequence[tuple[ApiToken, str]]:
        """Tokens (one user's, or everyone's) with their user's name, oldest first."""
        query = (
            select(ApiToken, users.c.name)
            .join(User, users.c.id == tokens.c.user_id)
            .order_by(tokens.c.id)
        )
        if user_id is not None:
            query = query.where(tokens.c.user_id == user_id)
        return [(row[0], row[1]) for row in (await self._session.execute(query)).all()]

    async def token_by_id(self, token_id: int) -> ApiToken | None:
        return await self._session.get(ApiToken, token_id)

    async def token_by_prefix(self, prefix: str) -> Sequence[ApiToken]:
        query = select(ApiToken).where(tokens.c.prefix.startswith(prefix))
        return (await self._session.scalars(query)).all()

    # -- quota ------------------------------------------------------------------------

    async def debit(self, user_id: int, amount: int) -> bool:
        """Take ``amount`` from the balance only if it is there: never below zero."""
        return _rowcount(await self._run(DEBIT, {"user_id": user_id, "amount": amount})) == 1

    async def credit(self, user_id: int, amount: int) -> None:
        await self._session.execute(
            update(User)
            .where(users.c.id == user_id)
            .values(balance=users.c.balance + amount)
            .execution_options(synchronize_session=False)
        )

    async def charge_token(self, token_id: int, amount: int) -> bool:
        """Count spend on a token; refuse when it would pass the token's cap."""
        result = await self._run(CHARGE_TOKEN, {"token_id": token_id, "amount": amount})
        return _rowcount(result) == 1

    async def uncharge_token(self, token_id: int, amount: int) -> None:
        await self._session.execute(
            update(ApiToken)
            .where(tokens.c.id == token_id)
            .values(spent=tokens.c.spent - amount)
            .execution_options(synchronize_session=False)
        )

    async def record_ledger(self, entry: LedgerEntry) -> bool:
        """Insert the entry unless the task already has one of that kind (then False)."""
        values = {name: getattr(entry, name) for name in LEDGER_COLUMNS}
        return _rowcount(await self._run(RECORD_LEDGER, values)) == 1

    async def ledger_of(self, user_id: int, limit: int = 20) -> Sequence[LedgerEntry]:
        query = (
            select(LedgerEntry)
            .where(ledger.c.user_id == user_id)
            .order_by(ledger.c.id.desc())
            .limit(limit)
        )
        return (await self._session.scalars(query)).all()

    async def ledger_sum(self, user_id: int) -> int:
        query = select(func.coalesce(func.sum(ledger.c.amount), 0)).where(
            ledger.c.user_id == user_id
        )
        return int(await self._session.scalar(query) or 0)

    async def spent_by(self, user_id: int) -> int:
        """Quota charged and not refunded: what the user has really spent."""
        query = select(func.coalesce(func.sum(ledger.c.amount), 0)).where(
            ledger.c.user_id == user_id, ledger.c.kind.in_(["charge", "refund"])
        )
        return -int(await self._session.scalar(query) or 0)

    async def ledger_for_task(self, task_id: str) -> Sequence[LedgerEntry]:
        query = select(LedgerEntry).where(ledger.c.task_id == task_id)
        return (await self._session.scalars(query.order_by(ledger.c.id))).all()

    async def delete_task_entries(self, task_id: str) -> None:
        """Forget a task's ledger rows and unsent pushes, with a task that is being voided
        (it never existed: no one may be charged for it or told about it)."""
        await self._session.execute(delete(ledger).where(ledger.c.task_id == task_id))
        await self._session.execute(
            delete(webhook_deliveries).where(webhook_deliveries.c.task_id == task_id)
        )

    async def price_overrides(self) -> dict[str, int]:
        rows: Sequence[Any] = (await self._run(PRICE_OVERRIDES, {})).all()
        return {str(key): int(price) for key, price in rows}

    async def set_price_override(self, key: str, price: int | None, now: int) -> None:
        """Set (or, with None, remove) one operator price override."""
        await self._session.execute(prices.delete().where(prices.c.key == key))
        if price is not None:
            await self._session.execute(
                prices.insert().values(key=key, price=price, updated_at=now)
            )

    # -- channels ---------------------------------------------------------------------

    async def channels(self, *, enabled_only: bool = False) -> Sequence[Channel]:
        if enabled_only:
            return await self._channels(ENABLED_CHANNELS, {}, reload=False)
        return (await self._session.scalars(select(Channel).order_by(channels.c.id))).all()

    async def _channels(
        self, statement: Statement, params: dict[str, Any], *, reload: bool
    ) -> Sequence[Channel]:
        """Channels loaded into this session (tracked; ``reload``: the row's values win over
        those already loaded) from one of the statements that ``select(channels)``."""
        construct = statement.construct(self._dialect)
        assert isinstance(construct, Select)
        query = select(Channel).from_statement(construct)
        options = {"populate_existing": reload}
        return (await self._session.scalars(query, params, execution_options=options)).all()

    async def channel_by_id(self, channel_id: int) -> Channel | None:
        return await self._session.get(Channel, channel_id)

    async def channel_by_name(self, name: str) -> Channel | None:
        query = select(Channel).where(channels.c.name == name)
        return (await self._session.scalars(query)).first()

    async def lock_channel(self, channel_id: int) -> Channel | None:
        """The per-channel lock under which load is counted and slots are taken."""
        found = await self._channels(LOCK_CHANNEL, {"channel_id": channel_id}, reload=True)
        return found[0] if found else None

    async def count_tasks_on(self, channel_id: int) -> int:
        query = select(func.count()).select_from(Task).where(tasks.c.channel_id == channel_id)
        return int(await self._session.scalar(query) or 0)

    async def count_by_status(self, channel_id: int, statuses: Iterable[TaskStatus]) -> int:
        params = {"channel_id": channel_id, "statuses": list(statuses)}
        return int((await self._run(COUNT_BY_STATUS, params)).scalar_one())

    async def active_counts(self) -> dict[int, int]:
        """Each channel's tasks that hold or wait for a slot."""
        query = (
            select(tasks.c.channel_id, func.count())
            .where(tasks.c.status.in_(list(ACTIVE_STATUSES)))
            .group_by(tasks.c.channel_id)
        )
        return {int(cid): int(n) for cid, n in (await self._session.execute(query)).all() if cid}

    async def task_counts(self) -> dict[tuple[int, TaskStatus], int]:
        """Tasks counted by channel and status (the metrics' gauges)."""
        query = select(tasks.c.channel_id, tasks.c.status, func.count()).group_by(
            tasks.c.channel_id, tasks.c.status
        )
        rows = (await self._session.execute(query)).all()
        return {(int(cid), TaskStatus(status)): int(n) for cid, status, n in rows if cid}

    # -- tasks ------------------------------------------------------------------------

    async def delete_task(self, task: Task) -> None:
        await self._session.delete(task)

    async def task(self, task_id: str, *, for_update: bool = False) -> Task | None:
        query = select(Task).where(tasks.c.id == task_id)
        if for_update and self._locking:
            query = query.with_for_update()
        query = query.execution_options(populate_existing=True)
        return (await self._session.scalars(query)).first()

    async def tasks_by_ids(self, ids: Sequence[str], user_id: int | None) -> Sequence[Task]:
        query = select(Task).where(tasks.c.id.in_(list(ids)))
        if user_id is not None:
            query = query.where(tasks.c.user_id == user_id)
        return (await self._session.scalars(query)).all()

    async def newest_tasks(self, user_id: int | None, limit: int) -> Sequence[Task]:
        query = select(Task).order_by(tasks.c.submit_time.desc(), tasks.c.id.desc()).limit(limit)
        if user_id is not None:
            query = query.where(tasks.c.user_id == user_id)
        return (await self._session.scalars(query)).all()

    async def unfinished_tasks(self, user_id: int | None) -> Sequence[Task]:
        query = (
            select(Task)
            .where(tasks.c.status.in_([s for s in TaskStatus if not s.is_final]))
            .order_by(tasks.c.submit_time, tasks.c.id)
        )
        if user_id is not None:
            query = query.where(tasks.c.user_id == user_id)
        return (await self._session.scalars(query)).all()

    async def waiting_tasks(self, channel_id: int, limit: int) -> Sequence[Task]:
        """The channel's queued tasks, oldest first, locked against other dispatchers."""
        query = (
            select(Task)
            .where(tasks.c.channel_id == channel_id, tasks.c.status == TaskStatus.NOT_START)
            .order_by(tasks.c.queue_seq, tasks.c.submit_time, tasks.c.id)
            .limit(limit)
        )
        if self._locking:
            query = query.with_for_update(skip_locked=True)
        return (await self._session.scalars(query)).all()

    async def next_queue_seq(self, channel_id: int) -> int:
        """The next place in the channel's queue; call it under the channel lock."""
        return int((await self._run(NEXT_QUEUE_SEQ, {"channel_id": channel_id})).scalar_one())

    async def running_count(self, channel_id: int) -> int:
        return await self.count_by_status(channel_id, RUNNING_STATUSES)

    async def started_since(self, channel_id: int, since: int) -> int:
        """Tasks the channel took since ``since`` (epoch ms), whatever became of them."""
        query = (
            select(func.count())
            .select_from(Task)
            .where(tasks.c.channel_id == channel_id, tasks.c.start_time >= since)
        )
        return int(await self._session.scalar(query) or 0)

    async def running_tasks(
        self, worker_id: str, now: int, limit: int, after_id: str = ""
    ) -> Sequence[Task]:
        """Running tasks this worker holds, or whose lease ran out (their worker died or
        handed them back), in id order after ``after_id`` so a caller can page through all."""
        query = (
            select(Task)
            .where(
                tasks.c.status.in_(list(RUNNING_STATUSES)),
                or_(
                    tasks.c.worker_id == worker_id,
                    tasks.c.lease_until < now,
                    tasks.c.lease_until.is_(None),
                ),
                tasks.c.id > after_id,
            )
            .order_by(tasks.c.id)
            .limit(limit)
        )
        if self._locking:
            query = query.with_for_update(skip_locked=True)
        return (await self._session.scalars(query)).all()

    async def renew_leases(self, worker_id: str, until: int) -> int:
        """The heartbeat: extend every running task's lease this worker still holds."""
        result = await self._session.execute(
            update(Task)
            .where(tasks.c.worker_id == worker_id, tasks.c.status.in_(list(RUNNING_STATUSES)))
            .values(lease_until=until)
            .execution_options(synchronize_session=False)
        )
        return _rowcount(result)

    async def release_leases(self, worker_id: str) -> int:
        """Hand this worker's running tasks back: their leases end now, so a peer takes
        them over at its next poll instead of after a whole lease."""
        result = await self._session.execute(
            update(Task)
            .where(tasks.c.worker_id == worker_id, tasks.c.status.in_(list(RUNNING_STATUSES)))
            .values(lease_until=0)
            .execution_options(synchronize_session=False)
        )
        return _rowcount(result)

    async def overdue_tasks(self, now: int, limit: int) -> Sequence[Task]:
        query = (
            select(Task)
            .where(
                tasks.c.status.in_([s for s in TaskStatus if not s.is_final]),
                tasks.c.deadline_at < now,
            )
            .limit(limit)
        )
        if self._locking:
            query = query.with_for_update(skip_locked=True)
        return (await self._session.scalars(query)).all()

    # -- webhook outbox ---------------------------------------------------------------

    async def supersede_deliveries(self, task_id: str, now: int) -> None:
        """Retire the task's queued progress steps that are not on their way right now.

        A row under a live lease is being sent: it stays, and the next row of the task
        waits for it, so pushes of one task never overtake each other.
        """
        await self._run(SUPERSEDE_DELIVERIES, {"of_task": task_id, "now": now})

    async def due_deliveries(
        self, now: int, limit: int, after: tuple[int, int] | None = None
    ) -> Sequence[WebhookDelivery]:
        """Due rows that are free to send: unleased, and the oldest still owed of their task,
        in (next_attempt_at, id) order; ``after``: only those past that key (the next page)."""
        older = _deliveries.alias("older")
        earlier_owed = exists().where(
            older.c.task_id == _deliveries.c.task_id,
            older.c.status == DeliveryStatus.PENDING,
            older.c.id < _deliveries.c.id,
        )
        query = (
            select(WebhookDelivery)
            .where(
                _deliveries.c.status == DeliveryStatus.PENDING,
                _deliveries.c.next_attempt_at <= now,
                or_(_deliveries.c.lease_until.is_(None), _deliveries.c.lease_until < now),
                ~earlier_owed,
            )
            .order_by(_deliveries.c.next_attempt_at, _deliveries.c.id)
            .limit(limit)
        )
        if after is not None:
            query = query.where(
                or_(
                    _deliveries.c.next_attempt_at > after[0],
                    (_deliveries.c.next_attempt_at == after[0]) & (_deliveries.c.id > after[1]),
                )
            )
        if self._locking:
            query = query.with_for_update(skip_locked=True, of=_deliveries)
        return (await self._session.scalars(query)).all()

    async def delivery(
        self, delivery_id: int, *, for_update: bool = False
    ) -> WebhookDelivery | None:
        query = select(WebhookDelivery).where(_deliveries.c.id == delivery_id)
        if for_update and self._locking:
            query = query.with_for_update()
        query = query.execution_options(populate_existing=True)
        return (await self._session.scalars(query)).first()

    async def deliveries_by_ids(
        self, ids: Sequence[int], *, for_update: bool = False
    ) -> Sequence[WebhookDelivery]:
        """The rows of ``ids`` that exist, in id order (locks are taken in one order, so two
        workers recording overlapping batches cannot deadlock)."""
        query = (
            select(WebhookDelivery)
            .where(_deliveries.c.id.in_(list(ids)))
            .order_by(_deliveries.c.id)
            .execution_options(populate_existing=True)
        )
        if for_update and self._locking:
            query = query.with_for_update()
        return (await self._session.scalars(query)).all()

    async def has_later_delivery(self, delivery: WebhookDelivery) -> bool:
        """Whether a later state of the same task is queued (still pending) after this row."""
        query = select(
            exists().where(
                _deliveries.c.task_id == delivery.task_id,
                _deliveries.c.status == DeliveryStatus.PENDING,
                _deliveries.c.id > (delivery.id or 0),
            )
        )
        return bool(await self._session.scalar(query))

    async def newer_deliveries_sent_or_owed(self, delivery: WebhookDelivery) -> int:
        """Later rows of the task that were delivered or are still owed."""
        query = (
            select(func.count())
            .select_from(WebhookDelivery)
            .where(
                _deliveries.c.task_id == delivery.task_id,
                _deliveries.c.id > (delivery.id or 0),
                _deliveries.c.status.in_([DeliveryStatus.PENDING, DeliveryStatus.DELIVERED]),
            )
        )
        return int(await self._session.scalar(query) or 0)

    async def deliveries(
        self, *, failed_only: bool, task_id: str | None, limit: int
    ) -> Sequence[WebhookDelivery]:
        """Newest first; ``failed_only``: dead rows and rows waiting to be retried."""
        query = select(WebhookDelivery).order_by(_deliveries.c.id.desc()).limit(limit)
        if failed_only:
            query = query.where(
                or_(
                    _deliveries.c.status == DeliveryStatus.DEAD,
                    (_deliveries.c.status == DeliveryStatus.PENDING) & (_deliveries.c.attempts > 0),
                )
            )
        if task_id is not None:
            query = query.where(_deliveries.c.task_id == task_id)
        return (await self._session.scalars(query)).all()

    async def deliveries_of(self, task_id: str) -> Sequence[WebhookDelivery]:
        query = select(WebhookDelivery).where(_deliveries.c.task_id == task_id)
        return (await self._session.scalars(query.order_by(_deliveries.c.id))).all()
