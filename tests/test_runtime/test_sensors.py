"""The orch_runtime_recorder sensor on a real instance with real runs (see conftest.py)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import dagster as dg

from orch_assets.definitions import defs
from orch_assets.runtime.observation import RUNTIME_HISTORY_KEY
from orch_assets.runtime.records import FINISHED_STATUSES
from orch_assets.runtime.store import RuntimeStore
from orch_assets.sensors import orch_runtime_recorder
from tests.test_runtime.conftest import Swept
from tests.test_runtime.jobs import self_observing_job


def _evaluate(
    instance: dg.DagsterInstance, store: RuntimeStore, cursor: str | None
) -> dg.SensorResult:
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, definitions=defs, resources={"runtime_store": store}
    )
    result = orch_runtime_recorder(context)
    assert isinstance(result, dg.SensorResult)
    return result


def _finished_run_ids(instance: dg.DagsterInstance) -> set[str]:
    return {r.run_id for r in instance.get_runs(dg.RunsFilter(statuses=list(FINISHED_STATUSES)))}


def test_repeated_and_restarted_evaluations_record_exactly_one_row_per_run(
    swept: Swept, tmp_path: Path
) -> None:
    store = RuntimeStore(directory=str(tmp_path / "runtime"))
    finished = _finished_run_ids(swept.instance)
    assert len(finished) >= 4, "two sweep runs, the report run, the failed run"

    first = _evaluate(swept.instance, store, None)
    cursor = first.cursor
    for _ in range(3):
        again = _evaluate(swept.instance, store, cursor)
        assert not again.asset_events, "nothing new to observe"
        cursor = again.cursor
    restarted = _evaluate(swept.instance, store, None)

    table = store.table(swept.instance)
    with table.connect() as con:
        per_run = Counter(r[0] for r in con.execute("select run_id from runs").fetchall())
    assert set(per_run) == finished
    assert set(per_run.values()) == {1}
    assert {e.asset_key for e in first.asset_events} == {RUNTIME_HISTORY_KEY}
    assert sorted(e.metadata["run_id"].value for e in first.asset_events) == sorted(finished)
    assert not restarted.asset_events, "a reset cursor re-reads history but records nothing twice"


def test_rows_recorded_by_the_sensor_match_those_the_sweep_recorded(
    swept: Swept, tmp_path: Path
) -> None:
    store = RuntimeStore(directory=str(tmp_path / "runtime"))
    _evaluate(swept.instance, store, None)

    by_sensor = {r.run_id: r for r in store.table(swept.instance).rows("sweep_id is not null")}
    by_sweep = {
        r.run_id: r for r in RuntimeStore().table(swept.instance).rows("sweep_id is not null")
    }

    assert set(by_sensor) == set(by_sweep) and len(by_sweep) == 2
    for run_id, row in by_sweep.items():
        other = by_sensor[run_id]
        assert (other.inputs_key, other.fingerprint, other.wall_seconds, other.dbt_threads) == (
            row.inputs_key, row.fingerprint, row.wall_seconds, row.dbt_threads,
        )  # fmt: skip


def test_a_failed_run_is_recorded_as_failed_with_missing_tags_as_null(
    swept: Swept, tmp_path: Path
) -> None:
    store = RuntimeStore(directory=str(tmp_path / "runtime"))
    _evaluate(swept.instance, store, None)

    (row,) = store.table(swept.instance).rows("run_id = ?", [swept.failed_run_id])

    assert row.status == "failure"
    assert row.job_name == "workforce_simulation"
    assert row.wall_seconds is not None and row.wall_seconds > 0
    assert row.n_steps == 1 and row.step_seconds is not None
    assert row.fingerprint is None, "the simulation never finished"
    tags = swept.instance.get_run_by_id(swept.failed_run_id).tags
    assert "orch/dbt_threads" not in tags, "the run failed before the step tagged its threads"
    assert row.dbt_threads == 2 and row.configuration.startswith("threads=2"), "from run config"
    assert (row.executor_mode is None) == ("orch/mode" not in tags)
    assert (row.peak_rss_bytes is None) == ("orch/peak_rss_bytes" not in tags)


def test_a_successful_simulation_row_carries_workload_threads_and_fingerprint(
    swept: Swept, tmp_path: Path
) -> None:
    store = RuntimeStore(directory=str(tmp_path / "runtime"))
    _evaluate(swept.instance, store, None)

    rows = store.table(swept.instance).rows(
        "job_name = 'workforce_simulation' and status = 'success'"
    )

    assert sorted(r.dbt_threads for r in rows) == [1, 2]
    for row in rows:
        tags = swept.instance.get_run_by_id(row.run_id).tags
        assert (row.n_employees, row.start_year, row.end_year, row.n_years) == (1000, 2025, 2025, 1)
        assert row.fingerprint == tags["orch/fingerprint"]
        assert row.wall_seconds > row.step_seconds > 0
        assert 0 < row.parallel_efficiency <= 1
        if "orch/mode" in tags:
            assert row.executor_mode == tags["orch/mode"]
            assert row.max_concurrent == int(tags["orch/max_concurrent"])


def test_executor_tags_when_present_are_recorded(
    instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    from tests.test_runtime.jobs import toy_simulation_job

    executor_tags = {
        "orch/mode": "thread", "orch/max_concurrent": "4", "orch/peak_rss_bytes": "123456789",
        "orch/mean_cpu_percent": "150.5", "orch/peak_concurrency": "3",
    }  # fmt: skip
    run_id = toy_simulation_job.execute_in_process(instance=instance, tags=executor_tags).run_id
    store = RuntimeStore(directory=str(tmp_path / "runtime"))
    _evaluate(instance, store, None)

    (row,) = store.table(instance).rows("run_id = ?", [run_id])
    assert (row.executor_mode, row.max_concurrent, row.peak_concurrency) == ("thread", 4, 3)
    assert (row.peak_rss_bytes, row.mean_cpu_percent, row.metrics_source) == (
        123456789,
        150.5,
        "executor",
    )
    assert row.configuration == "threads=1 thread/4"
    assert row.parallel_efficiency == row.step_seconds / (row.wall_seconds * 4)


def test_a_run_still_going_is_not_recorded_until_it_ends(
    instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    runtime_dir = str(tmp_path / "runtime")
    result = self_observing_job.execute_in_process(
        instance=instance,
        run_config={"ops": {"evaluate_recorder_mid_run": {"config": {"runtime_dir": runtime_dir}}}},
    )
    assert result.output_for_node("evaluate_recorder_mid_run") is False, "recorded while running"

    store = RuntimeStore(directory=runtime_dir)
    _evaluate(instance, store, None)

    (row,) = store.table(instance).rows("run_id = ?", [result.run_id])
    assert row.status == "success"
