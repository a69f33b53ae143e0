"""The adapter that compiles a Core statement once per dialect for the bare drivers: the
placeholders each driver takes, parameters in the right order, constants and enums turned
into stored values, one shape per length of an expanding list."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, bindparam, select

from mjgate.db.compiled import Statement, same_on_both
from mjgate.db.statements import DEBIT, SUPERSEDE_DELIVERIES
from mjgate.db.tables import tasks
from mjgate.domain.tasks import TaskStatus

things = Table(
    "things",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("name", String(20)),
    Column("size", Integer),
)


def test_a_parameter_used_twice_is_passed_twice_to_sqlite_and_once_to_asyncpg() -> None:
    sql, args = DEBIT.bare("sqlite", {"user_id": 7, "amount": 5})
    assert sql.count("?") == 3 and args == (5, 7, 5)
    sql, args = DEBIT.bare("postgresql", {"user_id": 7, "amount": 5})
    assert "$1" in sql and "$2" in sql and "$3" not in sql and args == (5, 7)


def test_constants_in_the_statement_are_sent_as_their_stored_values() -> None:
    _sql, args = SUPERSEDE_DELIVERIES.bare("postgresql", {"of_task": "t", "now": 9})
    # status (set), worker_id, lease_until, task_id, status (pending), now
    assert args == ("superseded", None, None, "t", "pending", 9)


def test_an_enum_parameter_is_sent_as_its_stored_value() -> None:
    statement = same_on_both(select(tasks.c.id).where(tasks.c.status == bindparam("status")))
    for dialect in ("sqlite", "postgresql"):
        assert statement.bare(dialect, {"status": TaskStatus.FAILURE})[1] == ("FAILURE",)


def test_an_expanding_list_gets_one_shape_per_length_on_sqlite() -> None:
    statement = same_on_both(
        select(things.c.name)
        .where(things.c.id.in_(bindparam("ids", expanding=True)), things.c.size > bindparam("n"))
        .order_by(things.c.id)
    )
    one_sql, one_args = statement.bare("sqlite", {"ids": [2], "n": 0})
    three_sql, three_args = statement.bare("sqlite", {"ids": [1, 2, 3], "n": 0})
    assert one_sql.count("?") == 2 and one_args == (2, 0)
    assert three_sql.count("?") == 4 and three_args == (1, 2, 3, 0)
    assert statement.bare("sqlite", {"ids": [5, 6, 7], "n": 1}) == (three_sql, (5, 6, 7, 1))

    connection = sqlite3.connect(":memory:")
    connection.execute("CREATE TABLE things (id INTEGER PRIMARY KEY, name TEXT, size INTEGER)")
    connection.executemany("INSERT INTO things VALUES (?, ?, ?)", [(1, "a", 1), (2, "b", 0)])
    sql, args = statement.bare("sqlite", {"ids": [1, 2, 3], "n": 0})
    assert connection.execute(sql, args).fetchall() == [("a",)]
    sql, args = statement.bare("sqlite", {"ids": [], "n": 0})
    assert connection.execute(sql, args).fetchall() == [] and args == (0,)
    connection.close()


def test_a_statement_may_differ_by_dialect() -> None:
    statement = Statement(
        lambda dialect: select(things.c.id).where(
            things.c.name == bindparam("name") if dialect == "sqlite" else things.c.size > 1
        )
    )
    assert statement.bare("sqlite", {"name": "x"})[1] == ("x",)
    assert statement.bare("postgresql", {})[1] == (1,)


def test_a_missing_parameter_is_refused() -> None:
    with pytest.raises(KeyError):
        DEBIT.bare("sqlite", {"user_id": 1})


def test_no_update_parameter_is_named_like_a_column_it_could_set() -> None:
    from sqlalchemy import Update

    from mjgate.db import statements

    updates = [
        value.construct(dialect)
        for value in vars(statements).values()
        if isinstance(value, Statement)
        for dialect in ("sqlite", "postgresql")
    ]
    checked = 0
    for construct in updates:
        if isinstance(construct, Update):
            columns = set(construct.table.columns.keys())
            binds = construct.compile().binds.values()
            names = {bind.key for bind in binds if bind.required}  # the caller's parameters
            assert not names & columns, names & columns
            checked += 1
    assert checked >= 6  # debit, charge, supersede, on both dialects
