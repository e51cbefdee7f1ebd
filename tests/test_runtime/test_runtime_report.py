"""The runtime report asset and the determinism check, on real runs."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from pathlib import Path

import dagster as dg

from orch_assets.assets.runtime_report import materialize_runtime_report
from orch_assets.definitions import defs
from orch_assets.runtime.recommend import find_recommendation
from orch_assets.runtime.store import RuntimeStore
from orch_assets.sensors import orch_runtime_recorder
from tests.test_runtime.conftest import Swept
from tests.test_runtime.jobs import run_toy
from tests.test_runtime.rows import make_row
from tests.test_simulation.helpers import run_simulation

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _metadata(result: dg.ExecuteInProcessResult) -> Mapping[str, dg.MetadataValue]:
    (event,) = result.get_asset_materialization_events()
    return event.materialization.metadata


def _check(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    (evaluation,) = result.get_asset_check_evaluations()
    return evaluation


def test_a_sweep_of_one_run_each_shows_medians_and_chart_but_asks_for_more_runs(
    swept: Swept,
) -> None:
    result = materialize_runtime_report(swept.instance)

    assert result.success
    metadata = _metadata(result)
    report = metadata["report"].value
    assert "| threads=1" in report and "| threads=2" in report
    assert "Outputs identical across 2 configurations" in metadata["determinism"].value
    chart = Path(metadata["chart"].value)
    assert chart.read_bytes().startswith(PNG_MAGIC)
    assert chart.is_relative_to(swept.home)
    embedded = report.split("data:image/png;base64,")[1].split(")")[0]
    assert base64.b64decode(embedded) == chart.read_bytes()
    assert "recommended_threads" not in metadata and "(recommended)" not in report
    assert "not enough evidence" in metadata["evidence"].value
    command = (
        "orch-assets sweep --threads 1,2 --repeats 2 --n-employees 1000 --start-year 2025 "
        "--end-year 2025 --random-seed 42 --config params.yaml  # params.yaml: {merit_pct: 0.04}"
    )
    assert metadata["sweep_command"].value == command
    assert command in report
    assert find_recommendation(swept.instance, n_employees=1000, n_years=1) is None
    assert _check(result).passed


def test_the_report_on_one_ordinary_run_says_not_enough_evidence_and_the_sweep_to_run(
    instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    run = run_simulation(instance, tmp_path, n_employees=300, start_year=2025, end_year=2025)
    assert run.success
    _record(instance)

    metadata = _metadata(materialize_runtime_report(instance))

    threads = instance.get_run_by_id(run.run_id).tags["orch/dbt_threads"]
    assert f"recorded: threads={threads}" in metadata["evidence"].value
    assert "not enough evidence" in metadata["report"].value
    assert "(recommended)" not in metadata["report"].value and "chart" not in metadata
    pair = ",".join(sorted({"1", threads}, key=int)) if threads != "1" else "1,2"
    assert metadata["sweep_command"].value == (
        f"orch-assets sweep --threads {pair} --repeats 2 --n-employees 300 --start-year 2025 "
        "--end-year 2025 --random-seed 42"
    )


def _two_runs_each(instance: dg.DagsterInstance, walls: dict[int, float]) -> None:
    rows = [
        make_row(f"t{threads}-{repeat}", threads, wall, host="this-host", n_employees=2000)
        for threads, wall in walls.items()
        for repeat in range(2)
    ]
    RuntimeStore().table(instance).upsert(rows)


def test_two_configurations_with_two_runs_each_are_recommended_and_stored_for_threads_auto(
    instance: dg.DagsterInstance,
) -> None:
    _two_runs_each(instance, {1: 10.0, 2: 6.0})

    metadata = _metadata(materialize_runtime_report(instance))

    assert metadata["recommended_threads"].value == 2
    assert metadata["evidence"].value == "enough" and "sweep_command" not in metadata
    assert "threads=2 **(recommended)**" in metadata["report"].value
    found = find_recommendation(instance, n_employees=2000, n_years=1, host="this-host (2 CPUs)")
    assert found is not None and found.dbt_threads == 2
    assert find_recommendation(instance, 2000, 1, host="this-host (64 CPUs)") is None, (
        "a recommendation is for the CPUs the runs had, not for the host name"
    )


def test_a_configuration_with_one_run_does_not_compete(instance: dg.DagsterInstance) -> None:
    _two_runs_each(instance, {1: 10.0, 2: 8.0})
    RuntimeStore().table(instance).upsert([make_row("t4-0", 4, 2.0, host="this-host")])

    metadata = _metadata(materialize_runtime_report(instance))

    assert metadata["recommended_threads"].value == 2, "threads=4 was fastest, once"
    assert "too few runs to compete: threads=4" in metadata["report"].value


def _record(instance: dg.DagsterInstance) -> None:
    context = dg.build_sensor_context(
        instance=instance, definitions=defs, resources={"runtime_store": RuntimeStore()}
    )
    orch_runtime_recorder(context)


def test_a_non_deterministic_job_fails_the_check_naming_its_runs(
    instance: dg.DagsterInstance,
) -> None:
    one = run_toy(instance, threads=1, use_random=True)
    two = run_toy(instance, threads=2, use_random=True)
    _record(instance)

    result = materialize_runtime_report(instance)

    evaluation = _check(result)
    assert not evaluation.passed
    assert sorted(evaluation.metadata["mismatched_runs"].value) == sorted([one, two])
    statement = evaluation.metadata["statement"].value
    assert (
        one in statement
        and two in statement
        and "threads=1" in statement
        and "threads=2" in statement
    )
    assert "DIFFER" in _metadata(result)["determinism"].value


def test_the_same_job_made_deterministic_passes_the_check(instance: dg.DagsterInstance) -> None:
    run_toy(instance, threads=1, use_random=False)
    run_toy(instance, threads=2, use_random=False)
    _record(instance)

    evaluation = _check(materialize_runtime_report(instance))

    assert evaluation.passed
    assert "identical across 2 configurations" in evaluation.metadata["statement"].value


def test_without_recorded_runs_the_report_fails_saying_how_to_get_some(
    instance: dg.DagsterInstance,
) -> None:
    result = materialize_runtime_report(instance)

    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    assert "orch-assets sweep" in failure.step_failure_data.error.message
