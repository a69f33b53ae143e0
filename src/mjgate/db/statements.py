"""The statements that both the unit of work and the hot paths run, each written once.

Each is SQLAlchemy Core (``db/compiled.py``): the unit of work executes it on the ORM
session (cold paths: admin, engine, webhooks), the submit's transaction and the polled
reads execute the same statement on the bare driver, compiled once per dialect
(``db/submit_writes.py``, ``db/polled_reads.py``). The row readers here turn the bare
drivers' tuples into domain values; they read the columns in the order the statement
selects them.

A parameter of an UPDATE never bears the name of one of its table's columns: executed on
a session, a parameter named like a column would also be SET (SQLAlchemy's rule for
``execute(update, params)``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import ARRAY, JSON, ColumnElement, String, any_, bindparam, func, or_, select
from sqlalchemy import Insert as CoreInsert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql import Select

from mjgate.db.compiled import DialectName, Statement, same_on_both, statement
from mjgate.db.tables import channels, ledger, prices, tasks, tokens, users, webhook_deliveries
from mjgate.domain.accounts import TokenHolder
from mjgate.domain.channels import Channel
from mjgate.domain.tasks import (
    BotType,
    Mode,
    TaskAction,
    TaskRecord,
    TaskStatus,
    TaskVersion,
)
from mjgate.domain.webhooks import DeliveryStatus

Row = Sequence[Any]


def _insert(dialect: DialectName) -> Any:
    """``INSERT … ON CONFLICT`` is spelled by each dialect's own insert construct."""
    return sqlite_insert if dialect == "sqlite" else pg_insert


def _among(column: ColumnElement[Any], name: str, dialect: DialectName) -> ColumnElement[bool]:
    """``column`` is one of the list parameter ``name``: on PostgreSQL ``= ANY($n)``, one
    prepared text whatever the list's length; on SQLite ``IN (?, …)``, one shape per length."""
    if dialect == "sqlite":
        return column.in_(bindparam(name, expanding=True))
    return column == any_(bindparam(name, type_=ARRAY(column.type)))


# -- quota -------------------------------------------------------------------------------

# Take ``amount`` from the balance only if it is there: never below zero.
DEBIT = same_on_both(
    users.update()
    .where(users.c.id == bindparam("user_id"), users.c.balance >= bindparam("amount"))
    .values(balance=users.c.balance - bindparam("amount"))
)

# Count spend on a token; refuse when it would pass the token's cap.
CHARGE_TOKEN = same_on_both(
    tokens.update()
    .where(
        tokens.c.id == bindparam("token_id"),
        or_(
            tokens.c.spend_cap.is_(None),
            tokens.c.spent + bindparam("amount") <= tokens.c.spend_cap,
        ),
    )
    .values(spent=tokens.c.spent + bindparam("amount"))
)

LEDGER_COLUMNS = ("user_id", "token_id", "task_id", "amount", "kind", "reason", "created_at")


@statement
def RECORD_LEDGER(dialect: DialectName) -> CoreInsert:  # noqa: N802  # a statement, not a verb
    """Insert the entry unless the task already has one of that kind (the unique
    (task_id, kind)): a task is charged at most once and refunded at most once."""
    values = {name: bindparam(name, type_=ledger.c[name].type) for name in LEDGER_COLUMNS}
    insert: CoreInsert = _insert(dialect)(ledger).values(values).on_conflict_do_nothing()
    return insert.inline()


PRICE_OVERRIDES = same_on_both(select(prices.c.key, prices.c.price))

# -- channels ----------------------------------------------------------------------------

CHANNEL_COLUMNS = tuple(column.name for column in channels.columns)
_CHANNEL_JSON = frozenset(c.name for c in channels.columns if isinstance(c.type, JSON))

# The per-channel lock under which load is counted and slots are taken (on PostgreSQL;
# SQLite's writers already hold the whole file, and SQLite renders no FOR UPDATE).
# NO KEY UPDATE: inserting a task that references the channel takes KEY SHARE on it, which
# this lock leaves free, so foreign-key checks never wait on the lock.
LOCK_CHANNEL = same_on_both(
    select(channels).where(channels.c.id == bindparam("channel_id")).with_for_update(key_share=True)
)

ENABLED_CHANNELS = same_on_both(
    select(channels).where(channels.c.enabled.is_(True)).order_by(channels.c.id)
)


def _count_by_status() -> Select[Any]:
    return (
        select(func.count())
        .select_from(tasks)
        .where(
            tasks.c.channel_id == bindparam("channel_id"),
            tasks.c.status.in_(bindparam("statuses", expanding=True)),
        )
    )


def _next_queue_seq() -> Select[Any]:
    return select(func.coalesce(func.max(tasks.c.queue_seq), 0) + 1).where(
        tasks.c.channel_id == bindparam("channel_id")
    )


# The channel's tasks in ``statuses`` (on the (channel_id, status) index).
COUNT_BY_STATUS = same_on_both(_count_by_status())
# The next place in the channel's queue; run it under the channel lock.
NEXT_QUEUE_SEQ = same_on_both(_next_queue_seq())
# Both at once, for the submit: one statement under the lock instead of two.
LOAD_AND_NEXT_SEQ = same_on_both(
    select(_count_by_status().scalar_subquery(), _next_queue_seq().scalar_subquery())
)


@statement
def ACTIVE_COUNTS_AMONG(dialect: DialectName) -> Select[Any]:  # noqa: N802
    """Tasks in ``statuses`` per channel among ``channel_ids``, on the (channel_id, status)
    index: never a scan of finished tasks."""
    return (
        select(tasks.c.channel_id, func.count())
        .where(
            _among(tasks.c.channel_id, "channel_ids", dialect),
            tasks.c.status.in_(bindparam("statuses", expanding=True)),
        )
        .group_by(tasks.c.channel_id)
    )


def channel_from_row(row: Row) -> Channel:
    """A ``Channel`` (not attached to any session) from a row of ``select(channels)``."""
    values = {
        name: (_json(value) if name in _CHANNEL_JSON else value)
        for name, value in zip(CHANNEL_COLUMNS, row, strict=False)
    }
    values["enabled"] = bool(values["enabled"])
    return Channel(**values)


# -- tasks -------------------------------------------------------------------------------

TASK_COLUMNS = tuple(column.name for column in tasks.columns)
_TASK_JSON = frozenset(c.name for c in tasks.columns if isinstance(c.type, JSON))


@statement
def INSERT_TASK(dialect: DialectName) -> CoreInsert:  # noqa: N802
    """Insert a new task, or nothing when its id is taken already (0 rows)."""
    values = {name: bindparam(name, type_=tasks.c[name].type) for name in TASK_COLUMNS}
    insert: CoreInsert = (
        _insert(dialect)(tasks).values(values).on_conflict_do_nothing(index_elements=["id"])
    )
    return insert.inline()


# -- the polled reads: the token's holder, joined to the tasks it may read ---------------

_HOLDER = (
    tokens.c.id,
    tokens.c.enabled,
    users.c.id,
    users.c.is_admin,
    users.c.enabled,
    users.c.name,
)
_WIDTH = len(_HOLDER)
_RECORD = tuple(tasks.c[name] for name in TaskRecord._fields)
_VERSION = (tasks.c.id, tasks.c.status, tasks.c.updated_at, tasks.c.refunded)
_TOKEN_USER = tokens.join(users, users.c.id == tokens.c.user_id)

TOKEN_HOLDER = same_on_both(
    select(*_HOLDER).select_from(_TOKEN_USER).where(tokens.c.token_hash == bindparam("token_hash"))
)


def _holder_and(columns: Sequence[ColumnElement[Any]], dialect: DialectName) -> Select[Any]:
    """The token's holder, joined to the held tasks among ``task_ids``: one row per task
    found, or a single row with NULL task columns when none is (a LEFT JOIN keeps the
    holder). An admin reads every task; anyone else only their own (and never learns
    which is which)."""
    held = _among(tasks.c.id, "task_ids", dialect) & or_(
        users.c.is_admin, tasks.c.user_id == users.c.id
    )
    return (
        select(*_HOLDER, *columns)
        .select_from(_TOKEN_USER.outerjoin(tasks, held))
        .where(tokens.c.token_hash == bindparam("token_hash"))
    )


HOLDER_AND_TASKS = Statement(lambda dialect: _holder_and(_RECORD, dialect))
HOLDER_AND_VERSIONS = Statement(lambda dialect: _holder_and(_VERSION, dialect))
# The tasks among ``task_ids``, whoever holds them: for ids already checked.
TASK_RECORDS = Statement(
    lambda dialect: select(*_RECORD).where(_among(tasks.c.id, "task_ids", dialect))
)

# Enum members by stored value: a dict lookup, cheaper than calling the enum class per row.
_ACTIONS = {member.value: member for member in TaskAction}
_STATUSES = {member.value: member for member in TaskStatus}
_MODES = {member.value: member for member in Mode}
_BOT_TYPES = {member.value: member for member in BotType}


def _json(value: Any) -> Any:
    # SQLite hands JSON columns back as text, asyncpg hands `json` back as text too.
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def token_holder(row: Row) -> TokenHolder:
    return TokenHolder(
        token_id=int(row[0]),
        token_enabled=bool(row[1]),
        user_id=int(row[2]),
        user_is_admin=bool(row[3]),
        user_enabled=bool(row[4]),
        user_name=str(row[5]),
    )


def task_record(row: Row) -> TaskRecord:
    """A ``TaskRecord`` from the task columns of a row, in ``TaskRecord._fields`` order."""
    (
        task_id,
        user_id,
        action,
        status,
        mode,
        bot_type,
        prompt,
        prompt_en,
        description,
        state,
        custom_id,
        public_base,
        submit_time,
        start_time,
        finish_time,
        progress,
        fail_reason,
        buttons,
        properties,
        result,
        price,
        refunded,
    ) = row
    return TaskRecord(
        task_id,
        user_id,
        _ACTIONS[action],
        _STATUSES[status],
        _MODES[mode],
        _BOT_TYPES[bot_type],
        prompt,
        prompt_en,
        description,
        state,
        custom_id,
        public_base,
        submit_time,
        start_time,
        finish_time,
        progress,
        fail_reason,
        _json(buttons),
        _json(properties),
        _json(result),
        price,
        bool(refunded),
    )


def holder_and_tasks(rows: Sequence[Row]) -> tuple[TokenHolder | None, list[TaskRecord]]:
    if not rows:
        return None, []
    records = [task_record(row[_WIDTH:]) for row in rows if row[_WIDTH] is not None]
    return token_holder(rows[0]), records


def holder_and_versions(rows: Sequence[Row]) -> tuple[TokenHolder | None, list[TaskVersion]]:
    if not rows:
        return None, []
    versions = [
        TaskVersion(row[_WIDTH], _STATUSES[row[_WIDTH + 1]], row[_WIDTH + 2], bool(row[_WIDTH + 3]))
        for row in rows
        if row[_WIDTH] is not None
    ]
    return token_holder(rows[0]), versions


# -- webhook outbox ----------------------------------------------------------------------

_deliveries = webhook_deliveries

# Retire the task's queued progress steps that are not on their way right now. A row under
# a live lease is being sent: it stays, and the next row of the task waits for it, so
# pushes of one task never overtake each other.
SUPERSEDE_DELIVERIES = same_on_both(
    _deliveries.update()
    .where(
        _deliveries.c.task_id == bindparam("of_task"),
        _deliveries.c.status == DeliveryStatus.PENDING,
        _deliveries.c.is_final.is_(False),
        or_(_deliveries.c.lease_until.is_(None), _deliveries.c.lease_until < bindparam("now")),
    )
    .values(status=DeliveryStatus.SUPERSEDED, worker_id=None, lease_until=None)
)

DELIVERY_COLUMNS = tuple(c.name for c in _deliveries.columns if c.name != "id")
INSERT_DELIVERY = same_on_both(
    _deliveries.insert()
    .values({name: bindparam(name, type_=_deliveries.c[name].type) for name in DELIVERY_COLUMNS})
    .inline()
)

# Tell other processes' dispatchers that work may start (PostgreSQL's NOTIFY, delivered at
# commit and not at all on rollback). PostgreSQL only.
ANNOUNCE_WORK = same_on_both(select(func.pg_notify(bindparam("channel", type_=String), "")))
