"""Core statements compiled once per dialect, for the bare drivers (sqlite3 and asyncpg).

A statement of ``db/statements.py`` is written once, as SQLAlchemy Core. The unit of work
runs it on the ORM session as it is; the hot paths run the same statement on the bare
driver, and for them this module compiles it once per dialect (on first use) into the SQL
text and the order of its parameters: ``?`` for sqlite3 (qmark, one value per mark, so a
parameter used twice is passed twice), ``$n`` for asyncpg (numbered, each passed once).

What SQLAlchemy would do per execution is done here once per statement: the constants in
the statement (an ``IN`` list of statuses, a status to set) are taken from it and run
through their types' bind processors at compile time; a caller's values run through the
processors their types have (enums to their stored values, JSON to text, booleans to
integers on SQLite), and none at all for the plain ints and strings most parameters are.
An expanding parameter (``column.in_(bindparam(name, expanding=True))``, a list of ids on
SQLite) gets one compiled shape per list length, cached too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.dialects.sqlite.pysqlite import dialect as pysqlite_dialect
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement

DialectName = Literal["sqlite", "postgresql"]

# The dialects of the drivers the statements run on: sqlite3 takes qmark parameters,
# asyncpg numbered ones (SQLAlchemy's asyncpg dialect also casts them, e.g. ``$1::INTEGER``).
_DIALECTS: dict[DialectName, Dialect] = {
    "sqlite": pysqlite_dialect(),
    "postgresql": asyncpg_dialect(),  # type: ignore[no-untyped-call]  # untyped constructor
}

Processor = Callable[[Any], Any]
# How to fill the parameter list, in order: a constant (already processed), a caller's
# value by name, or all the items of a caller's list (an expanding parameter).
_Slot = (
    tuple[Literal["constant"], Any]
    | tuple[Literal["value"], str, Processor | None]
    | tuple[Literal["items"], str, Processor | None]
)


@dataclass(frozen=True, slots=True)
class Shape:
    """One compiled form: the SQL text and how to build its positional parameters."""

    sql: str
    slots: tuple[_Slot, ...]

    def args(self, params: Mapping[str, Any]) -> tuple[Any, ...]:
        values: list[Any] = []
        for slot in self.slots:
            if slot[0] == "constant":
                values.append(slot[1])
            elif slot[0] == "value":
                value = params[slot[1]]
                values.append(value if slot[2] is None or value is None else slot[2](value))
            elif slot[2] is None:
                values.extend(params[slot[1]])
            else:
                process = slot[2]
                values.extend(v if v is None else process(v) for v in params[slot[1]])
        return tuple(values)


class Statement:
    """One statement, written once: ``build(dialect)`` returns its Core construct.

    Most statements are the same construct on both databases (a Core construct renders per
    dialect by itself); ``build`` receives the dialect for the few spots that differ (a
    list of ids as ``= ANY($n)`` on PostgreSQL, one prepared text for any length).
    """

    def __init__(self, build: Callable[[DialectName], Executable]) -> None:
        self._build = build
        self._constructs: dict[DialectName, Executable] = {}
        # Per dialect: the compiled statement and the names of its expanding parameters.
        self._compiled: dict[DialectName, tuple[SQLCompiler, tuple[str, ...]]] = {}
        self._shapes: dict[tuple[DialectName, tuple[int, ...]], Shape] = {}

    def construct(self, dialect: DialectName) -> Executable:
        """The Core construct, for the ORM session (``session.execute(construct, params)``)."""
        construct = self._constructs.get(dialect)
        if construct is None:
            construct = self._constructs[dialect] = self._build(dialect)
        return construct

    def bare(self, dialect: DialectName, params: Mapping[str, Any]) -> tuple[str, tuple[Any, ...]]:
        """The SQL text and positional parameters for sqlite3 or asyncpg."""
        found = self._compiled.get(dialect)
        if found is None:
            found = self._compiled[dialect] = self._compile(dialect)
        compiled, expanding = found
        lengths = tuple(len(params[name]) for name in expanding) if expanding else ()
        shape = self._shapes.get((dialect, lengths))
        if shape is None:
            shape = self._shapes[(dialect, lengths)] = _shape(compiled, params)
        return shape.sql, shape.args(params)

    def sql(self, dialect: DialectName) -> str:
        """The SQL text as compiled, before any list is expanded (to read, and for tests)."""
        return self._compile(dialect)[0].string

    def _compile(self, dialect: DialectName) -> tuple[SQLCompiler, tuple[str, ...]]:
        construct = self.construct(dialect)
        assert isinstance(construct, ClauseElement)
        compiled = construct.compile(dialect=_DIALECTS[dialect])
        assert isinstance(compiled, SQLCompiler)
        expanding = tuple(b.key for b in compiled.binds.values() if b.expanding and b.required)
        return compiled, expanding


def _shape(compiled: SQLCompiler, sample: Mapping[str, Any]) -> Shape:
    """Expand the statement for the lengths of ``sample``'s lists; map each position."""
    dialect = compiled.dialect
    callers = {b.key: b for b in compiled.binds.values() if b.required}
    lists = {key for key, b in callers.items() if b.expanding}
    missing = set(callers) - set(sample)
    if missing:
        raise KeyError(f"parameters missing: {sorted(missing)}")
    state = compiled.construct_expanded_state({key: sample[key] for key in callers})
    assert state.positiontup is not None
    # SQLAlchemy names a list's items key_1, key_2, …, in a row where the list stood.
    item_names = {f"{key}_{n + 1}": (key, n) for key in lists for n in range(len(sample[key]))}
    slots: list[_Slot] = []
    for position, name in enumerate(state.positiontup):
        if name in item_names:
            key, n = item_names[name]
            if n == 0:
                following = state.positiontup[position : position + len(sample[key])]
                assert [item_names[f][0] for f in following] == [key] * len(following)
                slots.append(("items", key, state.processors.get(name)))
        elif name in callers:
            bind = callers[name]
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            slots.append(("value", name, processor))
        else:
            value = state.parameters[name]
            processor = state.processors.get(name)
            if processor is None and name in compiled.binds:
                bind_type = compiled.binds[name].type
                processor = bind_type.dialect_impl(dialect).bind_processor(dialect)
            slots.append(("constant", value if processor is None else processor(value)))
    return Shape(state.statement, tuple(slots))


def statement(build: Callable[[DialectName], Executable]) -> Statement:
    """Decorator form: ``@statement`` over a function of the dialect."""
    return Statement(build)


def same_on_both(construct: Executable) -> Statement:
    """A statement whose construct is the same on both databases."""
    return Statement(lambda _dialect: construct)


__all__ = ["DialectName", "Shape", "Statement", "same_on_both", "statement"]
