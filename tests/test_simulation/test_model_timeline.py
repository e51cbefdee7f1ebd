"""Models under execution classes in the real simulation job: per-model timing metadata, the
timeline chart with each year's critical path, the runtime history, and identical outputs."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import dagster as dg
import pytest

from orch_assets.runtime.model_times import model_times_table
from tests.test_simulation.helpers import database, run_simulation, table_fingerprint

YEARS = {"start_year": 2025, "end_year": 2026, "n_employees": 300}


def _final_metadata(result: dg.JobExecutionResult) -> dict:
    events = [
        e.materialization.metadata
        for e in result.get_asset_materialization_events()
        if e.asset_key == dg.AssetKey("fct_workforce_summary")
    ]
    return dict(next(m for m in events if m["simulation_year"].value == 2026))


# Four 2-year runs: about 150 s on an idle 2-core machine, over 300 s under load.
@pytest.mark.timeout(900)
def test_outputs_are_identical_at_threads_1_2_and_8_gated_and_ungated_and_across_runs(
    instance: dg.DagsterInstance, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """(Moved from test_workforce_job.py, which compared threads 1 and 4.)"""
    fingerprints = {}
    runs = [("t1", 1, "on"), ("t2", 2, "on"), ("t8", 8, "on"), ("t8-ungated", 8, "off")]
    for label, threads, gate in runs:
        monkeypatch.setenv("ORCH_MODEL_GATE", gate)
        result = run_simulation(instance, tmp_path / label, threads=threads, **YEARS)
        assert result.success
        db = database(tmp_path / label)
        fingerprints[label] = (
            table_fingerprint(db, "fct_workforce_snapshot"),
            table_fingerprint(db, "fct_yearly_events"),
            instance.get_run_by_id(result.run_id).tags["orch/fingerprint"],
        )
        if label == "t2":
            _assert_timing_metadata_timeline_and_history(instance, result)
    assert len(set(map(repr, fingerprints.values()))) == 1, fingerprints
    assert [row[0] for row in fingerprints["t1"][0]] == [2025, 2026]


def _assert_timing_metadata_timeline_and_history(
    instance: dg.DagsterInstance, result: dg.JobExecutionResult
) -> None:

    sequential = [
        e.materialization.metadata
        for e in result.get_asset_materialization_events()
        if e.asset_key == dg.AssetKey("int_employee_state_by_year")
    ]
    assert sorted(m["simulation_year"].value for m in sequential) == [2025, 2026]
    for metadata in sequential:
        assert metadata["orch/execution_class"].value == "sequential"
        assert metadata["orch/started_at"].value <= metadata["orch/ended_at"].value
        assert metadata["orch/dbt_thread"].value
        assert metadata["orch/slot_wait_s"].value >= 0

    final = _final_metadata(result)
    assert Path(final["orch/timeline_path"].value).stat().st_size > 10_000
    assert "data:image/png;base64," in final["orch/timeline"].value
    lines = final["orch/critical_path"].value.splitlines()
    assert len(lines) == 2
    for line in lines:
        # "- 2025: critical path X s of Y s"
        words = line.split()
        critical, wall = float(words[4]), float(words[7])
        assert 0 < critical <= wall

    with model_times_table(instance).connect() as con:
        rows = con.execute(
            "select simulation_year, count(*) from model_times where run_id = ? group by 1 order by 1",
            [result.run_id],
        ).fetchall()
    assert [r[0] for r in rows] == [2025, 2026]
    assert rows[1][1] < rows[0][1], "year-independent inputs are built and tested in year one only"


def test_memory_pressure_caps_the_models_of_the_build_at_one_and_the_step_says_so(
    instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    below_the_live_reading = {"config": {"memory_pause_percent": 1.0, "memory_resume_percent": 0.5}}
    result = run_simulation(
        instance, tmp_path, execution=below_the_live_reading, threads=4,
        start_year=2025, end_year=2025, n_employees=300,
    )  # fmt: skip
    assert result.success
    messages = [entry.user_message for entry in instance.all_logs(result.run_id)]
    said = [m for m in messages if re.search(r"dbt models.*live cap (\d+ -> )?1\b", m)]
    assert said, [m for m in messages if "cap" in m]
    intervals = sorted(
        (m["orch/started_at"].value, m["orch/ended_at"].value)
        for m in (e.materialization.metadata for e in result.get_asset_materialization_events())
        if "orch/started_at" in m
    )
    assert len(intervals) > 10
    for (_, end), (start, _) in itertools.pairwise(intervals):
        assert start >= end, "no two models ran at once under a cap of 1"
