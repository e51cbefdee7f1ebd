"""Several scenarios in one run: in parallel, each in its own database, equal to running alone,
and the class limits hold for the models of every simulation of the run together."""

from __future__ import annotations

import itertools
from itertools import pairwise
from pathlib import Path

import dagster as dg

from orch_assets.assets.scenario_comparison import scenario_comparison
from orch_assets.partitions import SCENARIOS
from orch_assets.resources import DATABASE_FILE_NAME, SimulationStore
from tests.conftest import AllScenariosRun
from tests.test_scenarios.helpers import run_one_scenario

SUMMARY_KEY = dg.AssetKey(["scenarios", "fct_workforce_summary"])
# One of the four runs alone here, to keep the test short on a 2-core machine; low_merit is
# compared in test_run_queue.py, beside an all_scenarios run on the same database.
RUN_ALONE = ("high_growth",)


def _step_windows(instance: dg.DagsterInstance, run_id: str) -> dict[str, tuple[float, float]]:
    starts: dict[str, float] = {}
    windows: dict[str, tuple[float, float]] = {}
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None or event.step_key is None:
            continue
        if event.event_type == dg.DagsterEventType.STEP_START:
            starts[event.step_key] = record.timestamp
        elif event.event_type == dg.DagsterEventType.STEP_SUCCESS:
            windows[event.step_key] = (starts[event.step_key], record.timestamp)
    return windows


def _materializations(run: AllScenariosRun) -> list[dg.AssetMaterialization]:
    records = run.instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
    return [r.asset_materialization for r in records if r.asset_materialization is not None]


def test_all_scenarios_run_in_parallel_and_equal_each_scenario_run_alone(
    all_scenarios_reference: AllScenariosRun, tmp_path: Path
) -> None:
    instance, data_dir = all_scenarios_reference.instance, all_scenarios_reference.data_dir
    run = instance.get_run_by_id(all_scenarios_reference.run_id)
    assert run is not None and run.status == dg.DagsterRunStatus.SUCCESS
    names = [s.name for s in SCENARIOS]

    fingerprints = {s.name: run.tags[f"orch/fingerprint/{s.simulation}"] for s in SCENARIOS}
    assert "orch/fingerprint" not in run.tags, "no single-simulation tag in a multi-scenario run"
    assert len(set(fingerprints.values())) == len(names), "scenarios differ from each other"
    for name in names:
        directory = data_dir / f"scenario_{name}"
        assert (directory / DATABASE_FILE_NAME).exists()
        assert (directory / "dbt_logs" / "dbt.log").exists(), "each simulation has its own dbt log"

    windows = sorted(_step_windows(instance, run.run_id).values())
    assert len(windows) == len(names)
    assert any(b[0] < a[1] for a, b in pairwise(windows)), f"no overlap: {windows}"

    materialized = instance.fetch_materializations(SUMMARY_KEY, limit=100).records
    partitions = {(r.partition_key, r.asset_materialization.metadata["simulation_year"].value)
                  for r in materialized}  # fmt: skip
    assert partitions == {(n, y) for n in names for y in (2025, 2026)}

    comparison = dg.materialize(
        [scenario_comparison],
        resources={"simulation_store": SimulationStore(data_dir=str(data_dir))},
    )
    metadata = comparison.asset_materializations_for_node("scenarios__scenario_comparison")[
        0
    ].metadata
    compared = {(r.data["scenario"], r.data["simulation_year"]): r.data
                for r in metadata["comparison"].value.records}  # fmt: skip
    assert set(compared) == {(n, y) for n in names for y in (2025, 2026)}
    assert compared[("high_growth", 2026)]["headcount"] > compared[("baseline", 2026)]["headcount"]
    assert metadata["not simulated"].value == "none"

    for name in RUN_ALONE:
        alone = run_one_scenario(instance, tmp_path / "alone", name)
        assert alone.success
        alone_tags = instance.get_run_by_id(alone.run_id).tags
        assert alone_tags["orch/fingerprint"] == fingerprints[name], name
        logs = [e.user_message for e in instance.all_logs(alone.run_id)]
        assert any(
            f"Runs are not queued by pool duckdb/scenario_{name}: it has no limit on this instance"
            in m
            for m in logs
        ), "an instance without pool limits is told that runs are not queued by the pool"


def test_sequential_models_never_overlap_across_the_simulations_of_one_run(
    all_scenarios_reference: AllScenariosRun,
) -> None:
    """(Moved from test_shared_model_gate.py, which ran all_scenarios once more for it.)"""
    timed = [
        (m["orch/started_at"].value, m["orch/ended_at"].value, m["orch/execution_class"].value,
         key, partition)
        for key, partition, m in (
            (m.asset_key, m.partition, m.metadata) for m in _materializations(all_scenarios_reference)
        )
        if "orch/started_at" in m
    ]  # fmt: skip
    sequential = sorted((s, e, key) for s, e, cls, key, _ in timed if cls == "sequential")
    scenarios = {partition for *_, cls, _, partition in timed if cls == "sequential"}
    assert len(scenarios) == len(SCENARIOS), "sequential models of every scenario"
    for (_, end, first), (start, _, second) in itertools.pairwise(sequential):
        assert start >= end, f"{first} and {second} ran at once"
    parallel = [(s, e) for s, e, cls, *_ in timed if cls != "sequential"]
    assert any(
        a[0] < b[1] and b[0] < a[1] for i, a in enumerate(parallel) for b in parallel[i + 1 :]
    ), "other models still ran side by side"
