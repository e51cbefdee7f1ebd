"""A year whose build fails with CPython's known thread race is built once more; others are not.

The fixture project (tests/test_dbt/retry_project) fails its first build with the message given
as a var, through the real dbt worker.
"""

import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest

from orch_assets.dbt.runner import DbtWorkerError, WorkerProcess, WorkerRequest

PROJECT = Path(__file__).resolve().with_name("retry_project")
RACE = "AST constructor recursion depth mismatch (before=210, after=208)"


@pytest.fixture(scope="module", autouse=True)
def _parsed() -> None:
    subprocess.run(
        [str(Path(sys.executable).with_name("dbt")), "parse", "--project-dir", str(PROJECT),
         "--profiles-dir", str(PROJECT), "--quiet"],
        check=True,
    )  # fmt: skip


def _build(tmp_path: Path, first_failure: str) -> list[dict[str, Any]]:
    request = WorkerRequest(
        project_dir=PROJECT,
        profiles_dir=PROJECT,
        partial_parse_seed=PROJECT / "target" / "partial_parse.msgpack",
        database_path=tmp_path / "workforce.duckdb",
        target_path=tmp_path / "dbt_target",
        log_path=tmp_path / "dbt_logs",
        years=[2025],
        threads=2,
        vars={"first_failure": first_failure},
    )
    messages: list[dict[str, Any]] = []
    try:
        messages.extend(WorkerProcess(request).messages())
    except DbtWorkerError as error:
        messages.append({"type": "worker_error", "msg": str(error)})
    return messages


def test_a_year_failing_with_the_cpython_ast_race_is_built_again_and_succeeds(
    tmp_path: Path,
) -> None:
    messages = _build(tmp_path, RACE)

    retries = [m for m in messages if m["type"] == "log" and "known CPython race" in m["msg"]]
    assert len(retries) == 1, messages
    year_end = next(m for m in messages if m["type"] == "year_end")
    assert year_end["success"], year_end
    con = duckdb.connect(str(tmp_path / "workforce.duckdb"), read_only=True)
    try:
        assert con.execute("select simulation_year from year_rows").fetchall() == [(2025,)]
    finally:
        con.close()


def test_a_year_failing_for_any_other_reason_is_not_built_again(tmp_path: Path) -> None:
    messages = _build(tmp_path, "a model of the project is wrong")

    assert not [m for m in messages if m["type"] == "log" and "known CPython race" in m["msg"]]
    year_end = next(m for m in messages if m["type"] == "year_end")
    assert not year_end["success"]
    assert "a model of the project is wrong" in " ".join(year_end["failures"]), year_end
    assert messages[-1]["type"] == "worker_error", "the worker exits non-zero after a failed year"
