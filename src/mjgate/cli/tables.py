"""How list commands print: a header row over aligned columns, or (``--json``) a JSON list
of objects with the same keys, for scripts."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Annotated

import typer

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print a JSON list of objects (one per row) for scripts.")
]


def print_rows(
    columns: Sequence[str], rows: Sequence[Mapping[str, object]], *, as_json: bool
) -> None:
    """``columns`` are the rows' keys in order; the header shows them upper-cased."""
    if as_json:
        typer.echo(json.dumps([dict(row) for row in rows], indent=2, ensure_ascii=False))
        return
    table = [[name.upper() for name in columns]]
    table += [[_cell(row.get(name)) for name in columns] for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
    for line in table:
        cells = [cell.ljust(width) for cell, width in zip(line[:-1], widths, strict=False)]
        typer.echo("  ".join([*cells, line[-1]]).rstrip())


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ",".join(str(item) for item in value) or "-"
    if isinstance(value, Mapping):
        return " ".join(f"{key}={_cell(item)}" for key, item in value.items()) or "-"
    return str(value)
