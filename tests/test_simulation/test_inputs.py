"""A database records the inputs that produced it and never mixes them (real dbt, DuckDB, Dagster)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from orch_assets.config import SimulationConfig
from orch_assets.project import workforce_dbt_project
from orch_assets.simulation.database import database_fingerprint
from orch_assets.simulation.inputs import SimulationInputs
from orch_assets.simulation.selection import load_project_vars
from tests.test_simulation.helpers import (
    database,
    materialize_with_empty_config,
    query,
    run_simulation,
    table_fingerprint,
)

SMALL = {"n_employees": 300, "start_year": 2025}


def _failure_message(result: dg.JobExecutionResult) -> str:
    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
    return failure.step_failure_data.error.message


def _stored_inputs(db: Path) -> dict[str, str]:
    return dict(query(db, "select input, value from orch_simulation_inputs"))


def _whole_database(db: Path) -> tuple[object, ...]:
    return tuple(
        table_fingerprint(db, table)
        for table in ("fct_workforce_snapshot", "fct_yearly_events", "fct_workforce_summary")
    )


def test_a_run_with_other_inputs_is_refused_before_anything_is_written_naming_both_values(
    instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    assert run_simulation(instance, tmp_path, **SMALL, end_year=2025).success
    db = database(tmp_path)
    before, inputs_before = _whole_database(db), _stored_inputs(db)
    assert inputs_before["n_employees"] == "300" and inputs_before["merit_pct"] == "0.03"

    result = run_simulation(
        instance, tmp_path, **{**SMALL, "n_employees": 400}, end_year=2027, merit_pct=0.09
    )

    assert not result.success
    message = _failure_message(result)
    assert "inputs differ from those of the years 2025 stored in" in message
    assert "merit_pct: stored 0.03, this run 0.09" in message
    assert "n_employees: stored 300, this run 400" in message
    assert "random_seed" not in message, "only differing inputs are named"
    assert _whole_database(db) == before
    assert _stored_inputs(db) == inputs_before


def test_unset_parameters_and_their_dbt_project_defaults_are_the_same_inputs() -> None:
    project = workforce_dbt_project.project_dir
    project_vars = load_project_vars(project)
    unset = SimulationInputs.of(SimulationConfig(), project_vars, project)
    defaults = SimulationInputs.of(
        SimulationConfig(merit_pct=0.03, growth_rate=0.03, enable_cola=False), project_vars, project
    )
    other = SimulationInputs.of(SimulationConfig(merit_pct=0.04), project_vars, project)

    assert unset.differences(defaults) == []
    assert other.differences(unset) == ["merit_pct: stored 0.03, this run 0.04"]
    assert unset.values["retirement_age"] == 65, "parameters outside the run options count too"


def test_rebuild_recomputes_from_start_year_and_drops_the_years_it_no_longer_covers(
    instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    assert run_simulation(instance, tmp_path / "old", **SMALL, end_year=2026).success
    changed = {**SMALL, "n_employees": 400, "end_year": 2025}

    rebuilt = run_simulation(instance, tmp_path / "old", **changed, on_input_change="rebuild")
    fresh = run_simulation(instance, tmp_path / "fresh", **changed)

    assert rebuilt.success and fresh.success
    db = database(tmp_path / "old")
    assert _whole_database(db) == _whole_database(database(tmp_path / "fresh"))
    assert [r[0] for r in table_fingerprint(db, "fct_workforce_summary")] == [2025]
    assert query(db, "select simulation_year from orch_completed_years") == [(2025,)]
    assert _stored_inputs(db)["n_employees"] == "400"
    tags = [instance.get_run_by_id(r.run_id).tags["orch/fingerprint"] for r in (rebuilt, fresh)]
    assert tags[0] == tags[1] == database_fingerprint(db)[0]


def test_an_unknown_on_input_change_is_rejected_at_launch_naming_the_allowed_values(
    instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    with pytest.raises(Exception, match=r"on_input_change must be one of refuse, rebuild, got 'x'"):
        run_simulation(instance, tmp_path, on_input_change="x")

    assert instance.get_runs() == []


def test_materializing_one_model_with_empty_config_reuses_the_stored_inputs_and_needed_models(
    dagster_home: Path, cli_env: dict[str, str], tmp_path: Path
) -> None:
    data_dir = Path(cli_env["ORCH_DATA_DIR"])
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        full = run_simulation(instance, data_dir, **SMALL, end_year=2026, merit_pct=0.05)
    assert full.success
    db = database(data_dir)
    before = _whole_database(db)

    subset = materialize_with_empty_config(cli_env, "fct_workforce_snapshot")

    assert subset.returncode == 0, subset.stderr[-3000:]
    assert _whole_database(db) == before, "the stored inputs, not the defaults, were used"
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        run = instance.get_runs(limit=1)[0]
        tags = (instance.get_run_by_id(full.run_id).tags, run.tags)
        logs = "\n".join(r.user_message for r in instance.all_logs(run.run_id))
        materialized = {
            r.dagster_event.asset_key.to_user_string()
            for r in instance.all_logs(
                run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
            )
        }
    assert run.job_name == "__ASSET_JOB" and run.status == dg.DagsterRunStatus.SUCCESS
    assert materialized == {"fct_workforce_snapshot"}, "upstream models run but do not report"
    assert tags[1]["orch/fingerprint"] == tags[0]["orch/fingerprint"]
    assert tags[1]["orch/database"] == "baseline"
    assert "Nothing configured: reusing the inputs stored in" in logs
    assert "subset fct_workforce_snapshot with the models they need" in logs


def test_a_subset_for_years_the_database_does_not_hold_is_refused(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    result = materialize_with_empty_config(cli_env, "fct_workforce_summary")

    assert result.returncode != 0
    assert "holds no simulation yet: materialize every asset first" in result.stderr + result.stdout
