"""Runs the real workforce_simulation job through execute_job and reads its DuckDB output."""

from __future__ import annotations

import csv
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb

from orch_assets.definitions import defs
from orch_assets.resources import DATABASE_FILE_NAME


def workforce_simulation_job() -> dg.JobDefinition:
    """Module-level so that ``reconstructable`` can rebuild it in any process."""
    return defs.resolve_job_def("workforce_simulation")


def in_process_workforce_simulation_job() -> dg.JobDefinition:
    """The same job on Dagster's in_process executor, to compare executors."""
    from orch_assets.assets.simulation import workforce_models
    from orch_assets.jobs import workforce_simulation

    return dg.Definitions(
        assets=[workforce_models],
        jobs=[workforce_simulation],
        resources=defs.resources,
        executor=dg.in_process_executor,
    ).resolve_job_def("workforce_simulation")


def run_simulation(
    instance: dg.DagsterInstance,
    data_dir: Path,
    execution: dict[str, Any] | None = None,
    in_process: bool = False,
    **config: Any,
) -> dg.JobExecutionResult:
    run_config: dict[str, Any] = {
        "n_employees": 1500,
        **config,
        "resources": {"simulation_store": {"config": {"data_dir": str(data_dir)}}},
    }
    if execution is not None:
        run_config["execution"] = execution
    job = in_process_workforce_simulation_job if in_process else workforce_simulation_job
    return dg.execute_job(dg.reconstructable(job), instance=instance, run_config=run_config)


def database(data_dir: Path, simulation: str = "baseline") -> Path:
    return data_dir / simulation / DATABASE_FILE_NAME


def query(db_path: Path, sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def table_fingerprint(
    db_path: Path, table: str = "fct_workforce_snapshot"
) -> list[tuple[Any, ...]]:
    """Per year: row count and an order-independent hash of every row (computed here, not by the job)."""
    return query(
        db_path,
        f"select simulation_year, count(*), sum(hash(t)) from {table} t group by all order by 1",
    )


def materialize_with_empty_config(
    env: dict[str, str], *assets: str
) -> subprocess.CompletedProcess[str]:
    """As the UI's Materialize button: the implicit asset job, selected assets, no run config
    (the database's directory comes from ``ORCH_DATA_DIR`` in ``env``)."""
    return subprocess.run(
        [str(Path(sys.executable).with_name("dagster")), "asset", "materialize",
         "-m", "orch_assets.definitions", "--select", ",".join(assets)],
        env=env, cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True,
        timeout=600, check=False,
    )  # fmt: skip


CENSUS_COLUMNS = [
    "employee_id",
    "birth_date",
    "hire_date",
    "level_id",
    "department",
    "annual_salary",
]


def census_csv(path: Path, extra_rows: Sequence[Mapping[str, str]] = ()) -> Path:
    """300 valid employees (lines 2-301), then ``extra_rows``: each a valid row (employee_id
    E9999999) with the given fields replaced, on lines 302, 303, ..."""
    rows = [
        {"employee_id": f"E{i:07d}", "birth_date": "1980-05-01", "hire_date": "2015-03-01",
         "level_id": str(1 + i % 5), "department": "ENG", "annual_salary": "65000"}
        for i in range(1, 301)
    ]  # fmt: skip
    rows += [{**rows[0], "employee_id": "E9999999", **extra} for extra in extra_rows]
    columns = CENSUS_COLUMNS + sorted({k for r in rows for k in r} - set(CENSUS_COLUMNS))
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path
