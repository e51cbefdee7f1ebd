"""What a simulation database records about itself, beside dbt's tables.

``orch_simulation_inputs`` holds the inputs that produced the stored years (one row per input,
the value as JSON) and ``orch_completed_years`` the years whose whole build succeeded: the dbt
worker records a year right after its ``dbt build`` returns, so a year with rows but no record
was interrupted between its marts and is removed before the next run writes. Values only ever
reach SQL as bind parameters; table names come from DuckDB's own catalog and are quoted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb

from orch_assets.dbt.lock import DatabaseLockedError, connect_waiting
from orch_assets.simulation.inputs import SimulationInputs
from orch_assets.simulation.results import SUMMARY_QUERIES, simulation_fingerprint

INPUTS_TABLE = "orch_simulation_inputs"
COMPLETED_TABLE = "orch_completed_years"
YEAR_COLUMN = "simulation_year"
# Run by the dbt worker on its own connection: a year is incomplete from the moment its build
# starts until the build has succeeded, and so is every later year (each is computed from the one
# before), in the same statement: the completed years are always a prefix.
UNMARK_YEAR_SQL = f"delete from {COMPLETED_TABLE} where {YEAR_COLUMN} >= $year"
RECORD_COMPLETED_YEAR_SQL = (
    f"insert or replace into {COMPLETED_TABLE} ({YEAR_COLUMN}, completed_at) values ($year, now())"
)
_CREATE = (
    f"create table if not exists {INPUTS_TABLE} (input varchar primary key, value varchar)",
    (
        f"create table if not exists {COMPLETED_TABLE} "
        f"({YEAR_COLUMN} integer primary key, completed_at timestamp)"
    ),
)


def connect(path: Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(path), read_only=read_only)


def connect_waiting_for_readers(
    path: Path, wait_seconds: float, log: Callable[[str], None]
) -> duckdb.DuckDBPyConnection:
    """Read-write (creating the file), waiting up to ``wait_seconds`` for a reader's lock."""

    def on_wait(pid: int | None, program: str, waited: float) -> None:
        log(f"Database held by pid {pid} ({program}), e.g. a reader; waiting up to "
            f"{wait_seconds:g} s (waited {waited:.1f} s)")  # fmt: skip

    try:
        return connect_waiting(str(path), wait_seconds, on_wait)
    except DatabaseLockedError as error:
        raise dg.Failure(str(error)) from None


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    for statement in _CREATE:
        con.execute(statement)


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _has_table(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    row = con.execute(
        "select count(*) from information_schema.tables where table_name = ?", [table]
    ).fetchone()
    return bool(row and row[0])


def year_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Every base table with a ``simulation_year`` column, the bookkeeping tables aside."""
    rows = con.execute(
        """
        select t.table_name
        from information_schema.tables t
        join information_schema.columns c using (table_catalog, table_schema, table_name)
        where t.table_type = 'BASE TABLE' and c.column_name = ? and t.table_schema = 'main'
        order by 1
        """,
        [YEAR_COLUMN],
    ).fetchall()
    return [name for (name,) in rows if name not in (INPUTS_TABLE, COMPLETED_TABLE)]


def stored_years(con: duckdb.DuckDBPyConnection) -> set[int]:
    """Years with rows in any year table, complete or not."""
    years: set[int] = set()
    for table in year_tables(con):
        rows = con.execute(f"select distinct {YEAR_COLUMN} from {_quoted(table)}").fetchall()
        years.update(year for (year,) in rows if year is not None)
    return years


def completed_years(con: duckdb.DuckDBPyConnection) -> list[int]:
    if not _has_table(con, COMPLETED_TABLE):
        return []
    rows = con.execute(f"select {YEAR_COLUMN} from {COMPLETED_TABLE} order by 1").fetchall()
    return [year for (year,) in rows]


def stored_inputs(con: duckdb.DuckDBPyConnection) -> SimulationInputs | None:
    if not _has_table(con, INPUTS_TABLE):
        return None
    rows = con.execute(f"select input, value from {INPUTS_TABLE}").fetchall()
    return SimulationInputs.from_rows(rows) if rows else None


def record_inputs(con: duckdb.DuckDBPyConnection, inputs: SimulationInputs) -> None:
    con.execute(f"delete from {INPUTS_TABLE}")
    con.executemany(f"insert into {INPUTS_TABLE} (input, value) values (?, ?)", inputs.rows())


def mark_completed(con: duckdb.DuckDBPyConnection, years: Iterable[int]) -> None:
    con.executemany(
        f"insert or replace into {COMPLETED_TABLE} ({YEAR_COLUMN}, completed_at) values (?, now())",
        [[y] for y in years],
    )


def unmark_years(con: duckdb.DuckDBPyConnection, years: Iterable[int]) -> None:
    con.executemany(f"delete from {COMPLETED_TABLE} where {YEAR_COLUMN} = ?", [[y] for y in years])


def remove_years(con: duckdb.DuckDBPyConnection, years: Iterable[int]) -> None:
    """Deletes every row of ``years`` from every year table, and their completion records.

    The only function that removes results, so that anything published from the database can
    follow it.
    """
    params = [[year] for year in sorted(set(years))]
    if not params:
        return
    for table in year_tables(con):
        con.executemany(f"delete from {_quoted(table)} where {YEAR_COLUMN} = ?", params)
    if _has_table(con, COMPLETED_TABLE):
        unmark_years(con, [year for (year,) in params])


def fingerprint_rows(
    con: duckdb.DuckDBPyConnection, years: Iterable[int]
) -> dict[int, list[dict[str, Any]]]:
    """Per year, the rows the worker's fingerprint query returns for it."""
    per_year = {}
    for year in years:
        cursor = con.execute(SUMMARY_QUERIES["fingerprint"], {"year": year})
        columns = [d[0] for d in cursor.description or []]
        per_year[year] = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    return per_year


def database_fingerprint(path: Path) -> tuple[str, list[int]]:
    """The fingerprint of every completed year stored in ``path``, and those years."""
    con = connect(path, read_only=True)
    try:
        years = completed_years(con)
        return simulation_fingerprint(fingerprint_rows(con, years)), years
    finally:
        con.close()
