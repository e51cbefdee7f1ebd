"""Never half a year: an interrupted year is removed, and a resume reaches the uninterrupted result.

The real path: `dagster job execute` in its own process on a temporary DAGSTER_HOME, a real
SIGKILL of its dbt worker right after the worker reported the first mart of the second year,
then a `from_year` resume or Dagster's re-execution from failure on the same instance.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orch_assets.config import SimulationConfig
from orch_assets.project import workforce_dbt_project
from orch_assets.simulation import database as db
from orch_assets.simulation.inputs import SimulationInputs
from orch_assets.simulation.prepare import prepare_database
from orch_assets.simulation.selection import load_project_vars
from tests.conftest import REPO_ROOT
from tests.test_simulation.helpers import (
    database,
    query,
    run_simulation,
    workforce_simulation_job,
)

SHAPE = {"n_employees": 200, "start_year": 2025, "end_year": 2026, "threads": 1}
MARTS = ("fct_yearly_events", "fct_workforce_snapshot", "fct_workforce_summary")


def _inputs(config: SimulationConfig) -> SimulationInputs:
    project = workforce_dbt_project.project_dir
    return SimulationInputs.of(config, load_project_vars(project), project)


def test_a_year_with_rows_but_no_completion_record_is_removed_before_the_next_run_writes(
    tmp_path: Path,
) -> None:
    path = tmp_path / "workforce.duckdb"
    config = SimulationConfig(start_year=2025, end_year=2026)
    con = duckdb.connect(str(path))
    db.ensure_tables(con)
    db.record_inputs(con, _inputs(config))
    con.execute(
        "create table fct_yearly_events as select * from range(2025, 2027) t(simulation_year)"
    )
    con.execute("create table fct_workforce_snapshot as select 2025 as simulation_year")
    con.execute("insert into orch_completed_years values (2025, now())")
    con.close()
    logged: list[str] = []

    plan = prepare_database(path, config, _inputs(config), "refuse", False, 0.0, logged.append)

    assert plan.years == [2025, 2026]
    rows = query(path, "select simulation_year from fct_yearly_events")
    assert rows == [(2025,)], "the half-written 2026 is gone, the complete 2025 stays"
    assert query(path, "select simulation_year from orch_completed_years") == [(2025,)]
    assert any("interrupted years 2026" in line for line in logged)


def _execute_and_kill_the_worker_mid_year(home: Path, env: dict[str, str], tmp_path: Path) -> str:
    """Starts the job, SIGKILLs its dbt worker after the first 2026 mart; returns the run id."""
    config = tmp_path / "run.yaml"
    run_config = {
        **SHAPE,
        "resources": {"simulation_store": {"config": {"data_dir": str(tmp_path / "data")}}},
    }
    config.write_text(json.dumps(run_config))
    dg.DagsterInstance.from_config(str(home)).dispose()
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("dagster")), "job", "execute", "-m",
         "orch_assets.definitions", "-j", "workforce_simulation", "-c", str(config)],
        env=env, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    killed = False
    with dg.DagsterInstance.from_config(str(home)) as instance:
        deadline = time.monotonic() + 300
        while not killed and process.poll() is None and time.monotonic() < deadline:
            runs = instance.get_runs()
            messages = [r.user_message for r in instance.all_logs(runs[0].run_id)] if runs else []
            pid = next((m for m in messages if m.startswith("dbt worker started (pid")), None)
            if pid and any(m.startswith("[2026]") and "model main.fct_" in m for m in messages):
                os.kill(int(re.findall(r"pid (\d+)", pid)[0]), signal.SIGKILL)
                killed = True
            time.sleep(0.1)
        process.wait(timeout=120)
        run = instance.get_runs()[0]
    assert killed, "the worker reached 2026's marts while the test watched"
    assert run.status == dg.DagsterRunStatus.FAILURE
    return run.run_id


@pytest.mark.timeout(900)
def test_a_worker_killed_mid_year_leaves_no_half_year_and_resumes_equal_an_uninterrupted_run(
    dagster_home: Path, cli_env: dict[str, str], tmp_path: Path
) -> None:
    killed_run = _execute_and_kill_the_worker_mid_year(dagster_home, cli_env, tmp_path)
    data_dir = tmp_path / "data"
    path = database(data_dir)
    completed = query(path, "select simulation_year from orch_completed_years order by 1")
    # Usually [2025]; [2025, 2026] when the kill landed after 2026 was recorded complete (its
    # last nodes take well under a second, and a loaded machine can see the mart's log late).
    assert completed in ([(2025,)], [(2025,), (2026,)]), "completed years stay a prefix"
    for mart in MARTS:
        years = query(path, f"select distinct simulation_year from {mart} order by 1")
        assert years == completed, f"{mart} holds part of a year that is not complete"

    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        resumed = run_simulation(instance, data_dir, **SHAPE, from_year=2026)
        whole = run_simulation(instance, tmp_path / "whole", **SHAPE)
        # Re-execution from failure runs the killed run's config again: every year from 2025.
        reexecuted = dg.execute_job(
            dg.reconstructable(workforce_simulation_job), instance=instance,
            reexecution_options=dg.ReexecutionOptions.from_failure(killed_run, instance),
        )  # fmt: skip
        assert resumed.success and whole.success and reexecuted.success
        tags = [
            instance.get_run_by_id(r.run_id).tags["orch/fingerprint"]
            for r in (resumed, whole, reexecuted)
        ]

    assert tags[0] == tags[1], "the from_year resume covers 2025 too and equals the whole run"
    assert tags[2] == tags[1], "re-execution from failure equals the whole run"
    assert db.database_fingerprint(path) == (tags[1], [2025, 2026])
