"""A year whose build fails with CPython's known thread race is built once more; others are not.

The fixture project (tests/test_dbt/retry_project) fails its first build with the message given
as a var, run the simulation's way (years.py) in a real Dagster step.
"""

import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from tests.test_simulation.years_jobs import log_messages, run_years, step_failure

PROJECT = Path(__file__).resolve().parents[1] / "test_dbt" / "retry_project"
RACE = "AST constructor recursion depth mismatch (before=210, after=208)"


@pytest.fixture(scope="module", autouse=True)
def _parsed() -> None:
    subprocess.run(
        [str(Path(sys.executable).with_name("dbt")), "parse", "--project-dir", str(PROJECT),
         "--profiles-dir", str(PROJECT), "--quiet"],
        check=True,
    )  # fmt: skip


def test_a_year_failing_with_the_cpython_ast_race_is_built_again_and_succeeds(
    instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    result = run_years(instance, PROJECT, tmp_path / "workforce.duckdb", [2025],
                       vars={"first_failure": RACE})  # fmt: skip

    logs = log_messages(instance, result.run_id)
    assert result.success, logs
    assert len([m for m in logs if "known CPython race" in m]) == 1, logs
    con = duckdb.connect(str(tmp_path / "workforce.duckdb"), read_only=True)
    try:
        assert con.execute("select simulation_year from year_rows").fetchall() == [(2025,)]
    finally:
        con.close()


def test_a_year_failing_for_any_other_reason_is_not_built_again(
    instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    result = run_years(instance, PROJECT, tmp_path / "workforce.duckdb", [2025, 2026],
                       vars={"first_failure": "a model of the project is wrong"})  # fmt: skip

    assert not result.success
    logs = log_messages(instance, result.run_id)
    assert not [m for m in logs if "known CPython race" in m], logs
    assert not [m for m in logs if m.startswith("Year 2026")], "later years were not run"
    message = step_failure(result)
    assert "dbt build failed for simulation year 2025" in message, message
    assert "a model of the project is wrong" in message, message
