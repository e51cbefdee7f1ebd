"""Runs the real scenario jobs through execute_job, as the other simulation tests do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg

from orch_assets.definitions import defs

RUN_SHAPE = {"n_employees": 500, "start_year": 2025, "end_year": 2026}


def all_scenarios_job() -> dg.JobDefinition:
    """Module-level so that ``reconstructable`` can rebuild it in any process."""
    return defs.resolve_job_def("all_scenarios")


def scenario_simulation_job() -> dg.JobDefinition:
    return defs.resolve_job_def("scenario_simulation")


def store_config(data_dir: Path) -> dict[str, Any]:
    return {"simulation_store": {"config": {"data_dir": str(data_dir)}}}


def run_all_scenarios(
    instance: dg.DagsterInstance, data_dir: Path, **options: Any
) -> dg.JobExecutionResult:
    run_config = {**RUN_SHAPE, **options, "resources": store_config(data_dir)}
    return dg.execute_job(
        dg.reconstructable(all_scenarios_job), instance=instance, run_config=run_config
    )


def run_one_scenario(
    instance: dg.DagsterInstance, data_dir: Path, scenario: str
) -> dg.JobExecutionResult:
    run_config = {
        "ops": {"scenario_models": {"config": RUN_SHAPE}},
        "resources": store_config(data_dir),
    }
    return dg.execute_job(
        dg.reconstructable(scenario_simulation_job),
        instance=instance,
        run_config=run_config,
        tags={"dagster/partition": scenario},
    )
