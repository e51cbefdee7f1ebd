"""Reading a simulation's results: its database when free, else the published Parquet years.

DuckDB refuses every other process while a run writes a database, so readers fall back to the
Parquet copies the run publishes after each finished year (:mod:`orch_assets.simulation.publish`),
using only the years listed in ``results/_published.json``.

This module is the one place outside Dagster's resources that opens a simulation database
(:func:`read_only` for the CLI and for the quick "is it being written?" probe); assets and ops
read through ``SimulationStore.reader()``, a ``dagster_duckdb.DuckDBResource``. Connections are
read-only and closed at once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from orch_assets.dbt.lock import is_lock_conflict, lock_holder
from orch_assets.simulation.publish import PART_FILE, read_published, year_dir
from orch_assets.simulation.published import results_dir

READ_ATTEMPTS = 3


@dataclass(frozen=True)
class Writer:
    """The process holding a database, and the run it belongs to when the results name it."""

    pid: int | None
    program: str
    run_id: str | None = None

    def describe(self) -> str:
        if self.run_id:
            return f"run {self.run_id} (pid {self.pid})"
        return f"another process (pid {self.pid}, {self.program})"


class DatabaseBusyError(Exception):
    """Another process writes the database; ``writer`` says which."""

    def __init__(self, database: Path, writer: Writer) -> None:
        super().__init__(f"database {database} is being written by {writer.describe()}")
        self.writer = writer


def _writer(database: Path, error: BaseException) -> Writer:
    pid, program = lock_holder(error)
    recorded = read_published(results_dir(database))["writer"] or {}
    run_id = recorded.get("run_id") if recorded.get("pid") == pid else None
    return Writer(pid=pid, program=program, run_id=run_id)


@contextmanager
def read_only(database: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short-lived read-only connection; :class:`DatabaseBusyError` if a process writes it.

    For code without a Dagster context (the CLI). Holding it delays a run that starts meanwhile
    (the run waits for readers, bounded by ``SimulationStore.reader_wait_seconds``).
    """
    try:
        con = duckdb.connect(str(database), read_only=True)
    except duckdb.IOException as error:
        if is_lock_conflict(error):
            raise DatabaseBusyError(database, _writer(database, error)) from None
        raise
    try:
        yield con
    finally:
        con.close()


def writer_of(database: Path) -> Writer | None:
    """The process writing ``database`` now, or None (probes with a read-only open)."""
    try:
        with read_only(database):
            return None
    except DatabaseBusyError as busy:
        return busy.writer


def fetch_rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    cursor = con.execute(sql)
    columns = [d[0] for d in cursor.description or []]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


@dataclass(frozen=True)
class Published:
    """Rows read from the published results, and the years they cover."""

    rows: list[dict[str, Any]]
    years: list[int]


def read_published_rows(database: Path, tables: Sequence[str], sql: str) -> Published:
    """Runs ``sql`` over views named like ``tables`` on the published years (in memory).

    A year can be unpublished between reading the listing and opening its files (a run starting
    over it); the read is then retried with a fresh listing.
    """
    directory = results_dir(database)
    attempts = 0
    while True:
        years = read_published(directory)["years"]
        if not years:
            return Published(rows=[], years=[])
        con = duckdb.connect()
        try:
            for table in tables:
                files = [str(year_dir(directory, table, year) / PART_FILE) for year in years]
                con.read_parquet(files).create_view(table)
            return Published(rows=fetch_rows(con, sql), years=years)
        except (duckdb.IOException, FileNotFoundError):
            attempts += 1
            if attempts == READ_ATTEMPTS:
                raise
        finally:
            con.close()
