"""The runtime table: one row per finished run, in a DuckDB file under the Dagster home.

The file is separate from the simulation databases, so recording never contends for their lock.
Connections are short-lived (one per call, closed at once); DuckDB lets one process at a time
write a file, so :meth:`RuntimeTable.connect` (writes) retries a lock conflict for a while instead
of failing at the first one (the sensor, a sweep and the report asset may overlap), and reads go
through :meth:`RuntimeTable.read`, a read-only ``dagster_duckdb.DuckDBResource`` connection (which
retries too).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource
from pydantic import Field

RUNTIME_DIR_NAME = "orch_runtime"
DATABASE_NAME = "runtime.duckdb"
LOCK_RETRY_SECONDS = 30.0


@dataclass(frozen=True)
class RuntimeRow:
    """One finished run. Times are UTC; ``None`` is SQL NULL (a tag or a figure that is absent)."""

    run_id: str
    job_name: str
    status: str
    started_at: datetime | None
    ended_at: datetime | None
    wall_seconds: float | None
    executor_mode: str | None
    max_concurrent: int | None
    dbt_threads: int | None
    threads_source: str | None
    configuration: str
    step_seconds: float | None
    n_steps: int
    peak_concurrency: int | None
    parallel_efficiency: float | None
    peak_rss_bytes: int | None
    mean_cpu_percent: float | None
    metrics_source: str | None
    simulation: str | None
    n_employees: int | None
    start_year: int | None
    end_year: int | None
    n_years: int | None
    inputs_key: str
    inputs_json: str
    fingerprint: str | None
    sweep_id: str | None
    host: str
    cpu_count: int | None
    run_updated_at: datetime
    recorded_at: datetime


COLUMN_TYPES: dict[str, str] = {
    "run_id": "varchar primary key",
    "job_name": "varchar not null",
    "status": "varchar not null",
    "started_at": "timestamp",
    "ended_at": "timestamp",
    "wall_seconds": "double",
    "executor_mode": "varchar",
    "max_concurrent": "integer",
    "dbt_threads": "integer",
    "threads_source": "varchar",
    "configuration": "varchar not null",
    "step_seconds": "double",
    "n_steps": "integer not null",
    "peak_concurrency": "integer",
    "parallel_efficiency": "double",
    "peak_rss_bytes": "bigint",
    "mean_cpu_percent": "double",
    "metrics_source": "varchar",
    "simulation": "varchar",
    "n_employees": "integer",
    "start_year": "integer",
    "end_year": "integer",
    "n_years": "integer",
    "inputs_key": "varchar not null",
    "inputs_json": "varchar not null",
    "fingerprint": "varchar",
    "sweep_id": "varchar",
    "host": "varchar not null",
    "cpu_count": "integer",
    "run_updated_at": "timestamp not null",
    "recorded_at": "timestamp not null",
}
COLUMNS = tuple(COLUMN_TYPES)

RECOMMENDATION_TYPES: dict[str, str] = {
    "host": "varchar not null",
    "n_employees": "integer not null",
    "n_years": "integer not null",
    "dbt_threads": "integer not null",
    "executor_mode": "varchar",
    "max_concurrent": "integer",
    "configuration": "varchar not null",
    "median_wall_seconds": "double not null",
    "speedup": "double",
    "peak_rss_bytes": "bigint",
    "memory_budget_bytes": "bigint",
    "n_runs": "integer not null",
    "source": "varchar not null",
    "decided_at": "timestamp not null",
}


def _create_sql(table: str, types: dict[str, str], key: str = "") -> str:
    columns = ", ".join(f"{name} {kind}" for name, kind in types.items())
    return f"create table if not exists {table} ({columns}{key})"


SCHEMA_SQL = (
    _create_sql("runs", COLUMN_TYPES),
    _create_sql(
        "recommendations", RECOMMENDATION_TYPES, ", primary key (host, n_employees, n_years)"
    ),
)


def _add_missing_columns(con: duckdb.DuckDBPyConnection, table: str, types: dict[str, str]) -> None:
    """Columns added to the schema after a file was created are added to it (nullable)."""
    present = {
        row[0]
        for row in con.execute(
            "select column_name from information_schema.columns where table_name = ?", [table]
        ).fetchall()
    }
    for name, kind in types.items():
        if name not in present:
            bare = kind.replace("primary key", "").replace("not null", "").strip()
            con.execute(f"alter table {table} add column {name} {bare}")


def _is_lock_conflict(error: duckdb.Error) -> bool:
    return "lock" in str(error).lower()


class RuntimeTable:
    """The runtime DuckDB file at ``path``; every method opens and closes its own connection."""

    def __init__(
        self,
        path: Path,
        lock_retry_seconds: float = LOCK_RETRY_SECONDS,
        reader: DuckDBResource | None = None,
    ) -> None:
        self.path = path
        self.lock_retry_seconds = lock_retry_seconds
        self.reader = reader

    @property
    def directory(self) -> Path:
        return self.path.parent

    def _connect_retrying(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        deadline, delay = time.monotonic() + self.lock_retry_seconds, 0.05
        while True:
            try:
                return duckdb.connect(str(self.path), read_only=read_only)
            except duckdb.IOException as error:
                if not _is_lock_conflict(error) or time.monotonic() >= deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 1.0)

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-write connection with the schema in place; waits out other processes' locks."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = self._connect_retrying(read_only=False)
        try:
            for statement in SCHEMA_SQL:
                con.execute(statement)
            _add_missing_columns(con, "runs", COLUMN_TYPES)
            _add_missing_columns(con, "recommendations", RECOMMENDATION_TYPES)
            yield con
        finally:
            con.close()

    @contextmanager
    def read(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection; a missing file is created with the schema first.

        Through ``reader`` (a read-only ``DuckDBResource``, which retries another process's lock
        for ~100 s) when given, as the resources of assets and sensors do; else with this table's
        own bounded retry (the thread lookup at a run's start must not wait).
        """
        if not self.path.exists():
            with self.connect():
                pass
        if self.reader is not None:
            with self.reader.get_connection() as con:
                try:
                    yield con
                finally:
                    con.close()
            return
        con = self._connect_retrying(read_only=True)
        try:
            yield con
        finally:
            con.close()

    def upsert(self, rows: Sequence[RuntimeRow]) -> None:
        """Inserts or replaces rows by run id: one row per run, however often a run is recorded."""
        if not rows:
            return
        placeholders = ", ".join("?" for _ in COLUMNS)
        sql = f"insert or replace into runs ({', '.join(COLUMNS)}) values ({placeholders})"
        with self.connect() as con:
            con.executemany(sql, [dataclasses.astuple(row) for row in rows])

    def recorded_versions(self, run_ids: Sequence[str]) -> dict[str, datetime]:
        """``run_updated_at`` of the given runs that are already recorded."""
        if not run_ids:
            return {}
        with self.read() as con:
            found = con.execute(
                "select run_id, run_updated_at from runs where list_contains(?, run_id)",
                [list(run_ids)],
            ).fetchall()
        return dict(found)

    def rows(self, where: str = "true", params: Sequence[Any] = ()) -> list[RuntimeRow]:
        """Rows matching a SQL condition, oldest first."""
        with self.read() as con:
            found = con.execute(
                f"select {', '.join(COLUMNS)} from runs where {where} "
                "order by started_at nulls first, run_id",
                list(params),
            ).fetchall()
        return [RuntimeRow(*values) for values in found]

    def count(self) -> int:
        with self.read() as con:
            (count,) = con.execute("select count(*) from runs").fetchall()[0]
            return count

    def latest_sweep_id(self) -> str | None:
        with self.read() as con:
            found = con.execute(
                "select sweep_id from runs where sweep_id is not null "
                "order by ended_at desc nulls last limit 1"
            ).fetchone()
        return found[0] if found else None

    def save_recommendation(self, values: dict[str, Any]) -> None:
        names = list(RECOMMENDATION_TYPES)
        sql = (
            f"insert or replace into recommendations ({', '.join(names)}) "
            f"values ({', '.join('?' for _ in names)})"
        )
        with self.connect() as con:
            con.execute(sql, [values.get(name) for name in names])

    def recommendations(self, host: str) -> list[dict[str, Any]]:
        with self.read() as con:
            cursor = con.execute("select * from recommendations where host = ?", [host])
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def runtime_dir_for(instance: dg.DagsterInstance) -> Path:
    """``<instance root>/orch_runtime``: beside the instance's own storage, never in the repo."""
    return Path(instance.root_directory) / RUNTIME_DIR_NAME


class RuntimeStore(dg.ConfigurableResource):
    """Where the runtime history, the recommendations and the report charts live."""

    directory: str | None = Field(
        default=None,
        description="Directory of runtime.duckdb and the report charts. Unset: orch_runtime/ in "
        "the Dagster instance's root directory ($DAGSTER_HOME).",
    )

    def runtime_dir(self, instance: dg.DagsterInstance) -> Path:
        if self.directory:
            return Path(self.directory).expanduser().resolve()
        return runtime_dir_for(instance)

    def table(self, instance: dg.DagsterInstance) -> RuntimeTable:
        """The table; its reads go through a read-only ``DuckDBResource``."""
        path = self.runtime_dir(instance) / DATABASE_NAME
        reader = DuckDBResource(database=str(path), connection_config={"access_mode": "READ_ONLY"})
        return RuntimeTable(path, reader=reader)
