"""A one-op job that runs a fixture dbt project's years the simulation's way
(:class:`~orch_assets.simulation.years.SimulationYears` on ``GatedDbtCliResource``), for tests of
the year loop without the workforce project: retries, publishing, failures."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator

from orch_assets.dbt import GatedDbtCliResource
from orch_assets.simulation.years import SimulationYears, YearPlan


@dg.op(
    out={},
    config_schema={
        "project_dir": str,
        "database_path": str,
        "years": [int],
        "vars": dg.Field(dg.Permissive(), default_value={}),
        "publish": dg.Field(dg.Permissive(), is_required=False),
    },
)
def simulate_years(context: dg.OpExecutionContext) -> Iterator[dg.AssetMaterialization]:
    config = context.op_config
    project = Path(config["project_dir"])
    manifest = json.loads((project / "target" / "manifest.json").read_text())
    database = Path(config["database_path"])
    dbt = GatedDbtCliResource(
        project_dir=str(project), profiles_dir=str(project), worker_cwd=str(database.parent),
        reparse_on_vars=False, record_history=False,
    )  # fmt: skip
    plan = YearPlan(
        years=list(config["years"]), threads=2, vars=dict(config["vars"]), database_path=database,
        lock_wait_seconds=10.0, publish=config.get("publish"),
    )  # fmt: skip
    try:
        for event in SimulationYears(context, dbt, plan, manifest, DagsterDbtTranslator()).events():
            if isinstance(event, dg.AssetMaterialization):
                yield event
    finally:
        dbt.stop_workers()


@dg.job
def years_job() -> None:
    simulate_years()


def run_years(
    instance: dg.DagsterInstance, project: Path, database: Path, years: list[int], **extra: Any
) -> dg.JobExecutionResult:
    """Runs the job in a step process of Dagster's default executor; never raises."""
    config = {"project_dir": str(project), "database_path": str(database), "years": years, **extra}
    return dg.execute_job(
        dg.reconstructable(years_job), instance=instance,
        run_config={"ops": {"simulate_years": {"config": config}}}, raise_on_error=False,
    )  # fmt: skip


def log_messages(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    return [e.user_message for e in instance.all_logs(run_id) if not e.is_dagster_event]


def step_failure(result: dg.JobExecutionResult) -> str:
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    error, messages = failure.step_failure_data.error, []
    while error is not None:
        messages.append(error.message)
        error = error.cause
    return "\n".join(messages)
