"""The workforce_simulation job end to end: real Dagster instance, real dbt, real DuckDB files."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from tests.test_simulation.helpers import (
    census_csv,
    database,
    query,
    run_simulation,
    table_fingerprint,
)


def _materialized_years(result: dg.JobExecutionResult, asset: str) -> list[int]:
    return sorted(
        event.materialization.metadata["simulation_year"].value
        for event in result.get_asset_materialization_events()
        if event.asset_key == dg.AssetKey(asset)
    )


@dataclass(frozen=True)
class ThreeYears:
    instance: dg.DagsterInstance
    data_dir: Path
    result: dg.JobExecutionResult


@pytest.fixture(scope="module")
def three_years(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreeYears]:
    """One 2025-2027 run that the tests below read; the rerun test rewrites 2026 of it in place,
    to the same rows (which that test asserts)."""
    data_dir = tmp_path_factory.mktemp("three_years")
    with dg.instance_for_test() as instance:
        result = run_simulation(instance, data_dir, start_year=2025, end_year=2027, threads=2)
        yield ThreeYears(instance, data_dir, result)


def _metadata_by_year(result: dg.JobExecutionResult, asset: str) -> dict[int, dict]:
    return {
        int((m := event.materialization.metadata)["simulation_year"].value): {  # type: ignore[arg-type]
            key: value.value for key, value in m.items()
        }
        for event in result.get_asset_materialization_events()
        if event.asset_key == dg.AssetKey(asset)
    }


def test_each_model_reports_its_own_row_count_and_marts_the_year_and_the_table_total(
    three_years: ThreeYears,
) -> None:
    """fct_workforce_summary reported the snapshot's row count; marts reported one year's rows
    as the table's."""
    db = database(three_years.data_dir)
    for mart in ("fct_workforce_summary", "fct_workforce_snapshot", "fct_yearly_events"):
        per_year = dict(query(db, f"select simulation_year, count(*) from {mart} group by 1"))
        for year, metadata in _metadata_by_year(three_years.result, mart).items():
            assert metadata["orch/year_row_count"] == per_year[year], (mart, year)
            total = sum(n for y, n in per_year.items() if y <= year)
            assert metadata["dagster/row_count"] == total, (mart, year)
            assert metadata["orch/row_counts"] == (
                f"{per_year[year]:,} rows for {year}; {total:,} in the table"
            )
    [(state_rows,)] = query(db, "select count(*) from int_employee_state_by_year")
    final_state = _metadata_by_year(three_years.result, "int_employee_state_by_year")[2027]
    assert final_state["dagster/row_count"] == state_rows
    assert "orch/year_row_count" not in final_state, "a table rebuilt each year has no year count"


def test_the_models_dbt_threads_are_lanes_1_to_threads_the_same_every_year(
    three_years: ThreeYears,
) -> None:
    """The lanes were dbt's thread names, which run on from year to year (a new pair each)."""
    lanes: dict[int, set[int]] = {}
    for event in three_years.result.get_asset_materialization_events():
        metadata = event.materialization.metadata
        if "orch/dbt_thread" in metadata:
            year = metadata["simulation_year"].value
            lanes.setdefault(year, set()).add(metadata["orch/dbt_thread"].value)

    assert sorted(lanes) == [2025, 2026, 2027]
    assert all(used <= {1, 2} for used in lanes.values()), lanes
    assert set().union(*lanes.values()) == {1, 2}


def test_three_year_simulation_reconciles_every_year(three_years: ThreeYears) -> None:
    instance, result = three_years.instance, three_years.result

    assert result.success
    db = database(three_years.data_dir)
    reconciliation = query(
        db,
        """
        with events as (
            select simulation_year,
                   count(*) filter (where event_type = 'hire') as hires,
                   count(*) filter (where event_type in ('termination', 'new_hire_termination')) as exits
            from fct_yearly_events group by all
        ),
        snapshot as (
            select simulation_year,
                   count(*) filter (where not is_new_hire) as active_start,
                   count(*) filter (where status = 'active') as active_end
            from fct_workforce_snapshot group by all
        )
        select e.simulation_year, n.active_start, e.hires, e.exits, n.active_end
        from events e join snapshot n using (simulation_year)
        order by 1
        """,
    )
    assert [row[0] for row in reconciliation] == [2025, 2026, 2027]
    assert reconciliation[0][1] == 1500, "year one starts from the whole census"
    for (year, start, hires, exits, end), previous in zip(
        reconciliation, [None, *reconciliation], strict=False
    ):
        assert start + hires - exits == end, f"year {year} does not reconcile"
        if previous is not None:
            assert start == previous[4], f"year {year} starts from the {year - 1} snapshot"
    headcounts = [row[4] for row in reconciliation]
    assert headcounts[0] < headcounts[1] < headcounts[2], "default growth_rate grows the workforce"
    assert _materialized_years(result, "fct_workforce_snapshot") == [2025, 2026, 2027]
    assert _materialized_years(result, "int_termination_events") == [2025, 2026, 2027]
    tags = instance.get_run_by_id(result.run_id).tags
    assert tags["orch/dbt_threads"] == "2"
    assert len(tags["orch/fingerprint"]) == 64
    (year_one,) = [
        e.user_message
        for e in instance.all_logs(result.run_id)
        if e.user_message.startswith("Year 2025 done in")
    ]
    assert "test:pass" in year_one, year_one
    assert "unit_test" not in year_one, "unit tests run in CI (test_unit_tests.py), not per run"


def test_rerunning_a_year_replaces_its_rows_and_leaves_other_years_untouched(
    three_years: ThreeYears,
) -> None:
    instance, data_dir = three_years.instance, three_years.data_dir
    assert three_years.result.success
    before = table_fingerprint(database(data_dir))

    rerun = run_simulation(instance, data_dir, start_year=2025, end_year=2026, from_year=2026)

    assert rerun.success
    assert _materialized_years(rerun, "fct_workforce_snapshot") == [2026], "only 2026 recomputed"
    # Same inputs: 2026 is recomputed to the same rows (no duplicates), 2025 and 2027 kept.
    assert table_fingerprint(database(data_dir)) == before
    tags = [instance.get_run_by_id(r.run_id).tags for r in (three_years.result, rerun)]
    assert tags[0]["orch/fingerprint"] == tags[1]["orch/fingerprint"], "covers every stored year"


def test_a_table_model_is_replaced_by_one_create_or_replace_statement(
    three_years: ThreeYears,
) -> None:
    """The project's table materialization (dbt_project/macros/materializations/table.sql), not
    dbt-duckdb's build-beside, rename, rename, drop."""
    target = database(three_years.data_dir).parent / "dbt_target" / "run"
    run_sql = next(target.rglob("int_workforce_needs.sql")).read_text()

    assert "create or replace table" in run_sql
    assert "__dbt_tmp" not in run_sql


def test_a_later_from_year_without_the_previous_snapshot_fails_before_dbt_runs(
    instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    result = run_simulation(instance, tmp_path, start_year=2025, end_year=2026, from_year=2026)

    assert not result.success
    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
    assert "continues from the 2025 snapshot" in failure.step_failure_data.error.message
    assert not database(tmp_path).exists()


@pytest.mark.parametrize(
    "threads", [0, 17, -1, "abc"], ids=["zero", "seventeen", "negative", "text"]
)
def test_invalid_threads_are_rejected_at_launch_naming_the_field_and_range(
    instance: dg.DagsterInstance, tmp_path: Path, threads: object
) -> None:
    with pytest.raises(Exception, match=r"threads must be an integer from 1 to 16 or 'auto'"):
        run_simulation(instance, tmp_path, threads=threads)

    assert instance.get_runs() == [], "no run is created"
    assert not database(tmp_path).exists()


def test_an_invalid_orch_threads_environment_variable_is_rejected_at_launch(
    instance: dg.DagsterInstance, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORCH_THREADS", "99")

    with pytest.raises(Exception, match=r"ORCH_THREADS must be an integer from 1 to 16 or 'auto'"):
        run_simulation(instance, tmp_path)

    assert instance.get_runs() == []


def test_orch_threads_sets_dbt_threads_when_run_config_leaves_them_unset(
    instance: dg.DagsterInstance, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORCH_THREADS", "3")

    result = run_simulation(instance, tmp_path, start_year=2025, end_year=2025)

    assert result.success
    assert instance.get_run_by_id(result.run_id).tags["orch/dbt_threads"] == "3"


CORRUPT_ROWS = [
    ({"employee_id": ""}, "line 302 (employee_id None): employee_id is missing"),
    (
        {"annual_salary": "-100"},
        "line 302 (employee_id 'E9999999'): annual_salary -100 is not positive",
    ),
]


def test_a_corrupt_census_row_is_named_before_dbt_starts_and_nothing_is_written(
    instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    for corrupt, message in CORRUPT_ROWS:
        census = census_csv(tmp_path / "census.csv", [corrupt])
        result = run_simulation(
            instance, tmp_path, start_year=2025, end_year=2026, census_file=str(census)
        )

        assert not result.success
        failure = next(
            e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE
        )
        assert failure.step_failure_data.error.message.splitlines()[0].endswith(
            f"census_file {census}: {message}"
        )
        logs = [e.user_message for e in instance.all_logs(result.run_id)]
        assert not any("dbt worker" in m for m in logs), "dbt never started"
        assert _materialized_years(result, "fct_workforce_snapshot") == []
    assert not database(tmp_path).exists(), "nothing is written"


def test_auto_threads_use_the_recommendation_recorded_for_this_machine_and_workload(
    instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    from datetime import datetime

    from orch_assets.runtime.recommend import this_machine
    from orch_assets.runtime.store import RuntimeStore

    RuntimeStore().table(instance).save_recommendation(
        {"host": this_machine(), "n_employees": 1500, "n_years": 1, "dbt_threads": 3,
         "executor_mode": "thread", "max_concurrent": 8, "configuration": "threads=3",
         "median_wall_seconds": 9.0, "speedup": 1.2, "peak_rss_bytes": 1, "memory_budget_bytes": 2,
         "n_runs": 3, "source": "sweep test", "decided_at": datetime(2026, 1, 1)}
    )  # fmt: skip

    result = run_simulation(instance, tmp_path, start_year=2025, end_year=2025, threads="auto")

    assert result.success
    tags = instance.get_run_by_id(result.run_id).tags
    assert tags["orch/dbt_threads"] == "3"
    assert "recommendation for 1500 employees x 1 years" in tags["orch/dbt_threads_source"]


def test_adaptive_executor_results_equal_the_in_process_executor(
    three_years: ThreeYears, tmp_path: Path
) -> None:
    """Dagster's in_process executor and the adaptive one in process mode, against the module's
    thread-mode run (same census and dbt threads; its 2027 is left out of the comparison)."""
    instance = three_years.instance
    assert three_years.result.success
    assert instance.get_run_by_id(three_years.result.run_id).tags["orch/mode"] == "thread"
    threaded = table_fingerprint(database(three_years.data_dir), "fct_yearly_events")
    fingerprints = {"adaptive-thread": [row for row in threaded if row[0] <= 2026]}
    executions = {
        "in_process": None,
        "adaptive-process": {"config": {"mode": "process", "max_concurrent": 2}},
    }
    for label, execution in executions.items():
        result = run_simulation(
            instance, tmp_path / label, execution=execution, in_process=label == "in_process",
            start_year=2025, end_year=2026, threads=2,
        )  # fmt: skip
        assert result.success, label
        fingerprints[label] = table_fingerprint(database(tmp_path / label), "fct_yearly_events")
        mode = instance.get_run_by_id(result.run_id).tags.get("orch/mode")
        assert mode == (None if label == "in_process" else "process")

    assert [row[0] for row in fingerprints["in_process"]] == [2025, 2026]
    assert (
        fingerprints["in_process"]
        == fingerprints["adaptive-thread"]
        == fingerprints["adaptive-process"]
    )
