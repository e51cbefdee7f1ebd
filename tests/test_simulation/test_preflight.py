"""Checks before anything is written: census rows named by line and id, the data dir, the pool.

The job-level tests fail before the dbt worker starts, so they run no simulation.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from orch_assets.simulation.census import CensusError, check_census
from tests.test_simulation.helpers import census_csv, database, run_simulation

ROW = "line 302 (employee_id 'E9999999'): "


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [({"hire_date": "2025-01-02"}, "hire_date 2025-01-02 is after the census date 2025-01-01 (start_year-01-01)"),
     ({"termination_date": "2014-12-31"}, "termination_date 2014-12-31 is before hire_date 2015-03-01"),
     ({"birth_date": "2016-01-01"}, "birth_date 2016-01-01 is not before hire_date 2015-03-01"),
     ({"employee_id": ""}, "employee_id is missing"),
     ({"employee_id": "E0000007"}, "employee_id is also on line 8"),
     ({"annual_salary": "0"}, "annual_salary 0 is not positive"),
     ({"annual_salary": "lots"}, "annual_salary 'lots' is not a number"),
     ({"hire_date": "03/01/2015"}, "hire_date '03/01/2015' is not a date (YYYY-MM-DD)"),
     ({"level_id": "9"}, "level_id '9' is not one of 1, 2, 3, 4, 5"),
     ({"department": "R&D"}, "department 'R&D' is not one of ENG, OPS, SAL, FIN, HR, MKT")],
    ids=["future-hire", "terminated-before-hired", "born-after-hired", "missing-id", "duplicate-id",
         "zero-salary", "salary-not-a-number", "date-not-iso", "unknown-level", "unknown-department"],
)  # fmt: skip
def test_a_bad_census_row_is_named_by_line_and_employee_id_in_one_line(
    tmp_path: Path, corrupt: dict[str, str], message: str
) -> None:
    census = census_csv(tmp_path / "census.csv", [corrupt])

    with pytest.raises(CensusError) as raised:
        check_census(census, start_year=2025)

    text = str(raised.value)
    assert "\n" not in text
    expected_id = (
        "None" if corrupt.get("employee_id") == "" else repr(corrupt.get("employee_id", "E9999999"))
    )
    assert text == f"census_file {census}: line 302 (employee_id {expected_id}): {message}"


def test_a_valid_census_passes_and_many_bad_rows_are_counted_after_the_first_three(
    tmp_path: Path,
) -> None:
    assert check_census(census_csv(tmp_path / "good.csv"), start_year=2025) == 300
    bad = census_csv(tmp_path / "bad.csv", [{"hire_date": f"2026-01-0{d}"} for d in range(1, 6)])

    with pytest.raises(CensusError, match=r"line 304 .*; and 2 more offending rows$"):
        check_census(bad, start_year=2025)


@pytest.mark.parametrize(
    ("content", "message"),
    [("employee_id,hire_date\nE1,2015-01-01\n", r"lacks the columns birth_date, level_id, department, annual_salary"),
     ("employee_id,birth_date,hire_date,level_id,department,annual_salary\n", r"has no rows"),
     ("", r"is empty; a census has a header line with the columns employee_id, "),
     ("\n \n\n", r"is empty; a census has a header line")],
    ids=["missing-columns", "header-only", "empty", "blank-lines"],
)  # fmt: skip
def test_a_census_without_the_columns_or_rows_is_refused(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "census.csv"
    path.write_text(content)

    with pytest.raises(CensusError, match=message):
        check_census(path, start_year=2025)


def test_an_empty_census_file_is_refused_at_launch_as_empty(
    instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    census = tmp_path / "census.csv"
    census.touch()

    with pytest.raises(Exception, match=rf"census_file '{census}' is empty \(0 bytes\)$"):
        run_simulation(instance, tmp_path / "data", census_file=str(census))

    assert instance.get_runs() == []


def _step_failure(result: dg.JobExecutionResult) -> str:
    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
    return failure.step_failure_data.error.message


def test_a_future_hire_date_fails_the_run_before_the_dbt_worker_starts(
    instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    census = census_csv(tmp_path / "census.csv", [{"hire_date": "2030-06-01"}])

    result = run_simulation(instance, tmp_path / "data", census_file=str(census))

    assert not result.success
    assert _step_failure(result).splitlines()[0] == (
        f"dagster._core.definitions.events.Failure: census_file {census}: {ROW}"
        "hire_date 2030-06-01 is after the census date 2025-01-01 (start_year-01-01)"
    )
    logs = [e.user_message for e in instance.all_logs(result.run_id)]
    assert not any("dbt worker" in m for m in logs)
    assert not (tmp_path / "data").exists(), "nothing is written"
    # The reason once with its traceback (the step's failure), once more as the run's one line.
    step_failure, run_failure = (
        _error_text(instance, result.run_id, kind)
        for kind in (dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.RUN_FAILURE)
    )
    assert step_failure.startswith("dagster._core.definitions.events.Failure: census_file ")
    assert step_failure.count("Stack Trace:") == 1
    assert run_failure == step_failure.splitlines()[0] + "\n", "no second traceback"


def _error_text(instance: dg.DagsterInstance, run_id: str, kind: dg.DagsterEventType) -> str:
    (entry,) = instance.get_records_for_run(run_id, of_type=kind).records
    event = entry.event_log_entry.dagster_event
    assert event is not None
    data = (
        event.step_failure_data
        if kind == dg.DagsterEventType.STEP_FAILURE
        else event.job_failure_data
    )
    assert data.error is not None
    return data.error.to_string()


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory nobody can write, root included (root ignores modes: use the immutable flag)."""
    directory = tmp_path / "read_only"
    directory.mkdir()
    as_root = os.geteuid() == 0
    if as_root:
        if (
            not shutil.which("chattr")
            or subprocess.run(["chattr", "+i", str(directory)], check=False).returncode
        ):
            pytest.skip("running as root without chattr +i: cannot make a read-only directory")
    else:
        directory.chmod(0o555)
    try:
        yield directory
    finally:
        if as_root:
            subprocess.run(["chattr", "-i", str(directory)], check=True)
        else:
            directory.chmod(0o755)


def test_a_read_only_data_dir_fails_naming_simulation_store_data_dir(
    instance: dg.DagsterInstance, read_only_dir: Path
) -> None:
    result = run_simulation(instance, read_only_dir)

    assert not result.success
    first_line = _step_failure(result).splitlines()[0]
    assert f"simulation_store.data_dir {read_only_dir} is not writable" in first_line
    assert "dbt worker" not in _step_failure(result)
    assert not database(read_only_dir).exists()


def _pool_warnings(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    return [m for e in instance.all_logs(run_id) if "not queued by pool" in (m := e.user_message)]


def test_a_run_on_an_instance_without_pool_limits_says_runs_are_not_queued_but_locked(
    instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    # from_year without a stored previous year fails right after the pool: no simulation runs.
    result = run_simulation(instance, tmp_path, start_year=2025, end_year=2026, from_year=2026)

    assert "continues from the 2025 snapshot" in _step_failure(result)
    assert _pool_warnings(instance, result.run_id) == [
        (
            "Runs are not queued by pool duckdb/baseline: it has no limit on this instance (set "
            "concurrency.pools.default_limit in dagster.yaml, e.g. DAGSTER_HOME=$PWD/dagster_home, "
            "to see writers queue in the UI); the database's writer lock still lets one run "
            "write it at a time"
        )
    ]


def test_a_run_on_an_instance_with_pool_limits_does_not_warn(tmp_path: Path) -> None:
    overrides = {"concurrency": {"pools": {"default_limit": 1}}}
    with dg.instance_for_test(overrides=overrides) as instance:
        result = run_simulation(instance, tmp_path, start_year=2025, end_year=2026, from_year=2026)

        assert "continues from the 2025 snapshot" in _step_failure(result)
        assert _pool_warnings(instance, result.run_id) == []
