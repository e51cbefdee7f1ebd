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

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _metadata(result: dg.ExecuteInProcessResult) -> Mapping[str, dg.MetadataValue]:
    (event,) = result.get_asset_materialization_events()
    return event.materialization.metadata


def _check(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    (evaluation,) = result.get_asset_check_evaluations()
    return evaluation


def test_the_sweep_report_shows_medians_chart_recommendation_and_identical_outputs(
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
    assert metadata["recommended_threads"].value in (1, 2)
    assert _check(result).passed


def test_the_report_stores_the_recommendation_for_threads_auto(swept: Swept) -> None:
    result = materialize_runtime_report(swept.instance)
    recommended = _metadata(result)["recommended_threads"].value

    found = find_recommendation(swept.instance, n_employees=1000, n_years=1)

    assert found is not None and found.dbt_threads == recommended
    assert found.source.startswith("sweep ")


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
