"""GatedDbtCliResource in the stock dagster-dbt idiom, on a copy of the shop project that declares
no execution class at all (every model gets the default, parallel_safe), under Dagster's own
in-process executor, so the resource's settings govern. (No ``from __future__ import annotations``:
@dbt_assets reads the context annotation.)"""

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import psutil
import pytest
from dagster_dbt import DagsterDbtTranslator, DbtCliInvocation, DbtCliResource, dbt_assets

from orch_assets.dbt import ExecutionClassTranslator, GatedDbtCliResource
from orch_assets.dbt.gated_main import write_cap
from orch_assets.dbt.invocation import GatedDbtCliInvocation
from orch_assets.dbt.node_metadata import EXECUTION_CLASS_KEY
from tests.test_dbt.gate_support import table_contents
from tests.test_examples.shop_support import (
    BIN,
    STAGING,
    any_overlap,
    copy_without_classes,
    execute_intervals,
)

Body = Callable[[dg.AssetExecutionContext, DbtCliResource], Iterator[Any]]


@pytest.fixture(scope="module")
def plain_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_without_classes(tmp_path_factory.mktemp("plain") / "shop")


def _materialize(
    project: Path,
    resource: DbtCliResource,
    translator: DagsterDbtTranslator,
    database: Path,
    monkeypatch: pytest.MonkeyPatch,
    body: Body | None = None,
) -> tuple[dg.ExecuteInProcessResult, list[DbtCliInvocation], list[str]]:
    """The run's result, its invocations and its log messages."""
    invocations: list[DbtCliInvocation] = []

    @dbt_assets(manifest=project / "target" / "manifest.json", dagster_dbt_translator=translator)
    def shop_models(context: dg.AssetExecutionContext, dbt: DbtCliResource) -> Iterator[Any]:
        if body is not None:
            yield from body(context, dbt)
            return
        invocation = dbt.cli(["build"], context=context)
        invocations.append(invocation)
        yield from invocation.stream()

    monkeypatch.setenv("SHOP_DUCKDB_PATH", str(database))
    with dg.instance_for_test() as instance:
        result = dg.materialize([shop_models], resources={"dbt": resource}, instance=instance)
        messages = [entry.user_message for entry in instance.all_logs(result.run_id)]
    return result, invocations, messages


def _events(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    """What a user sees of a run: materialized keys with their metadata keys, and checks."""
    materialized = {
        e.asset_key.to_user_string(): sorted(
            k
            for k in e.step_materialization_data.materialization.metadata
            if not k.startswith("orch/")
        )
        for e in result.get_asset_materialization_events()
    }
    checks = sorted(
        (e.asset_check_key.asset_key.to_user_string(), e.asset_check_key.name, e.passed)
        for e in result.get_asset_check_evaluations()
    )
    outputs = sorted(
        e.step_output_data.output_name for e in result.all_events if e.is_successful_output
    )
    return {"materialized": materialized, "checks": checks, "outputs": outputs}


def test_a_project_without_classes_yields_the_events_and_tables_of_dbtcliresource_with_models_overlapping(
    plain_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stock, _, _ = _materialize(
        plain_project,
        DbtCliResource(project_dir=plain_project, dbt_executable=str(BIN / "dbt")),
        DagsterDbtTranslator(),
        tmp_path / "stock.duckdb",
        monkeypatch,
    )
    gated, (invocation,), _ = _materialize(
        plain_project,
        GatedDbtCliResource(project_dir=plain_project),
        ExecutionClassTranslator(),
        tmp_path / "gated.duckdb",
        monkeypatch,
    )
    assert stock.success and gated.success
    assert isinstance(invocation, GatedDbtCliInvocation)
    assert _events(gated) == _events(stock)
    assert len(_events(gated)["checks"]) == 20  # the singular test has two parents: not a check
    assert table_contents(tmp_path / "gated.duckdb") == table_contents(tmp_path / "stock.duckdb")
    # Holding the latest materialization back (for the timeline) never puts a check before it.
    materialized: set[dg.AssetKey] = set()
    for event in gated.all_events:
        if event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION:
            materialized.add(event.step_materialization_data.materialization.asset_key)
        elif event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            assert event.asset_check_evaluation_data.asset_key in materialized
    # No class limit applies to the default class: dbt's threads run the staging models at once.
    intervals = execute_intervals(invocation.get_artifact("run_results.json"))
    assert any_overlap([intervals[uid] for uid in STAGING])
    classes = {
        e.asset_key.to_user_string(): e.step_materialization_data.materialization.metadata[
            EXECUTION_CLASS_KEY
        ].value
        for e in gated.get_asset_materialization_events()
        if e.asset_key.to_user_string().startswith(("stg_", "fct_", "dim_"))
    }
    assert set(classes.values()) == {"parallel_safe"} and len(classes) == 6
    assert json.loads((invocation.target_path / "run_results.json").read_text())["results"]


def test_the_resources_class_limits_hold_and_a_cap_dropped_mid_build_serialises_the_rest(
    plain_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[GatedDbtCliInvocation] = []

    def drop_the_cap_after_the_first_event(
        context: dg.AssetExecutionContext, dbt: DbtCliResource
    ) -> Iterator[Any]:
        invocation = dbt.cli(["build", "--threads", "4"], context=context)
        assert isinstance(invocation, GatedDbtCliInvocation)
        seen.append(invocation)
        for index, event in enumerate(invocation.stream()):
            if index == 0:
                write_cap(invocation.target_path, 1)
            yield event

    result, _, messages = _materialize(
        plain_project,
        GatedDbtCliResource(project_dir=plain_project, class_limits={"parallel_safe": 1}),
        ExecutionClassTranslator(),
        tmp_path / "capped.duckdb",
        monkeypatch,
        drop_the_cap_after_the_first_event,
    )
    assert result.success
    (invocation,) = seen
    intervals = execute_intervals(invocation.get_artifact("run_results.json"))
    assert not any_overlap([intervals[uid] for uid in STAGING])
    ((applied, previous, cap),) = invocation.cap_changes
    assert (previous, cap) == (4, 1)
    after = [t for t in invocation.node_timings if t["admitted"] and t["admitted"] >= applied]
    assert len(after) >= 10
    assert not any_overlap([(t["start"], t["end"]) for t in after])
    assert sum("dbt models: live cap 4 -> 1" in m for m in messages) == 1


def test_seed_run_with_full_refresh_and_test_each_run_gated_through_the_resource(
    plain_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    commands = (["seed"], ["run", "--full-refresh"], ["test"])
    seen: list[GatedDbtCliInvocation] = []

    def seed_run_test(context: dg.AssetExecutionContext, dbt: DbtCliResource) -> Iterator[Any]:
        for args in commands:
            invocation = dbt.cli(args, context=context)
            assert isinstance(invocation, GatedDbtCliInvocation)
            seen.append(invocation)
            yield from invocation.stream()

    result, _, _ = _materialize(
        plain_project,
        GatedDbtCliResource(project_dir=plain_project, class_limits={"parallel_safe": 1}),
        ExecutionClassTranslator(),
        tmp_path / "commands.duckdb",
        monkeypatch,
        seed_run_test,
    )
    assert result.success
    # One dbt worker ran the step's three commands (one dbt start-up), and it ended with the step.
    (worker,) = {invocation.worker_pid for invocation in seen}
    assert worker is not None and not psutil.pid_exists(worker)
    runs = [invocation.get_artifact("run_results.json") for invocation in seen]
    kinds = [{r["unique_id"].split(".")[0] for r in run["results"]} for run in runs]
    assert kinds == [{"seed"}, {"model"}, {"test"}]
    assert runs[1]["args"]["full_refresh"] is True
    # Every node went through the gate, and the run's models kept their class limit.
    for invocation, run in zip(seen, runs, strict=True):
        assert len(invocation.node_timings) == len(run["results"])
    assert {t["execution_class"] for t in seen[1].node_timings} == {"parallel_safe"}
    intervals = execute_intervals(runs[1])
    assert not any_overlap([intervals[uid] for uid in STAGING])
    events = _events(result)
    assert len(events["materialized"]) == 9  # 3 seeds, 6 models
    assert len(events["checks"]) == 20
