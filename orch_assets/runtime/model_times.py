"""Per-model times of every simulation, in the runtime database (table ``model_times``).

The simulation step records one row per dbt node and year when it ends; the history says where
a year's time goes as threads change, and the median seconds per node of earlier runs of the
same workload order the next build (longest remaining critical path first).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb

from orch_assets.runtime.store import DATABASE_NAME, RUNTIME_DIR_NAME, RuntimeTable

MODEL_TIMES_TYPES: dict[str, str] = {
    "run_id": "varchar not null",
    "simulation": "varchar not null",
    "n_employees": "integer not null",
    "dbt_threads": "integer not null",
    "simulation_year": "integer not null",
    "unique_id": "varchar not null",
    "execution_class": "varchar",
    "thread": "varchar not null",
    "started_at": "double not null",
    "ended_at": "double not null",
    "seconds": "double not null",
    "wait_seconds": "double not null",
}
_CREATE = (
    "create table if not exists model_times ("
    + ", ".join(f"{name} {kind}" for name, kind in MODEL_TIMES_TYPES.items())
    + ")"
)
LOOKUP_LOCK_RETRY_SECONDS = 2.0


def model_times_table(instance: dg.DagsterInstance, retry_s: float = 30.0) -> RuntimeTable:
    return RuntimeTable(Path(instance.root_directory) / RUNTIME_DIR_NAME / DATABASE_NAME, retry_s)


def record_model_times(
    table: RuntimeTable,
    run_id: str,
    simulation: str,
    n_employees: int,
    dbt_threads: int,
    per_year: Mapping[int, Sequence[Mapping[str, Any]]],
) -> int:
    """Replaces this run's rows for ``simulation`` with the given timings; returns the count."""
    rows = [
        (
            run_id,
            simulation,
            n_employees,
            dbt_threads,
            year,
            t["unique_id"],
            t["execution_class"],
            t["thread"],
            t["start"],
            t["end"],
            t["end"] - t["start"],
            t["wait_s"],
        )
        for year, timings in per_year.items()
        for t in timings
    ]
    with table.connect() as con:
        con.execute(_CREATE)
        con.execute(
            "delete from model_times where run_id = ? and simulation = ?",
            [run_id, simulation],
        )
        if rows:
            con.executemany(
                f"insert into model_times values ({', '.join('?' for _ in MODEL_TIMES_TYPES)})",
                rows,
            )
    return len(rows)


def median_node_seconds(table: RuntimeTable, n_employees: int) -> dict[str, float]:
    """Median seconds per dbt node over earlier runs with this census size; {} if none.

    Never raises: a missing or busy runtime database means no history (dbt's order is used).
    """
    if not table.path.exists():
        return {}
    try:
        with table.connect() as con:
            con.execute(_CREATE)
            found = con.execute(
                "select unique_id, median(seconds) from model_times "
                "where n_employees = ? group by unique_id",
                [n_employees],
            ).fetchall()
    except duckdb.Error:
        return {}
    return {uid: float(seconds) for uid, seconds in found}
