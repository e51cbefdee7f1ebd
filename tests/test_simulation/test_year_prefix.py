"""Completed years are always a prefix: a run that rewrites a middle year and is cancelled leaves
no later year marked complete, and `orch-assets summary` marks incomplete years.

Real parts: a real instance, the run launched and terminated through GraphQL as the UI does (the
run is a child of a `dagster api grpc` code server), the dbt worker and DuckDB. Before this, a
run terminated while recomputing 2026 left 2027 complete after an incomplete 2026.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orch_assets.cli import main as cli_main
from orch_assets.simulation import database as db
from tests.test_simulation.helpers import database, query, run_simulation
from tests.test_simulation.ui import ui, ui_instance, wait_for_log, wait_for_status

SHAPE = {"n_employees": 300, "start_year": 2025, "threads": 1}


def _completed(path: Path) -> list[int]:
    return [year for (year,) in query(path, "select simulation_year from orch_completed_years")]


@pytest.mark.timeout(600)
def test_a_run_cancelled_while_rewriting_a_middle_year_leaves_the_completed_years_a_prefix(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    store = {"resources": {"simulation_store": {"config": {"data_dir": str(data_dir)}}}}
    with ui_instance() as instance:
        assert run_simulation(instance, data_dir, **SHAPE, end_year=2027).success
        assert _completed(database(data_dir)) == [2025, 2026, 2027]

        with ui(instance) as launchpad:
            # Same inputs, 2026 again: 2027 would be kept had the run succeeded.
            run_id = launchpad.launch(
                "workforce_simulation", {**SHAPE, "end_year": 2026, "from_year": 2026, **store}
            )
            wait_for_log(instance, run_id, lambda m: m.startswith("[2026]") and "model " in m)
            launchpad.terminate(run_id)
            assert wait_for_status(instance, run_id) == dg.DagsterRunStatus.CANCELED

    completed = _completed(database(data_dir))
    assert completed == [2025], "2026 was being rewritten: neither it nor a later year is complete"


def test_summary_marks_the_years_not_recorded_complete(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "baseline" / "workforce.duckdb"
    path.parent.mkdir()
    con = duckdb.connect(str(path))
    db.ensure_tables(con)
    con.execute(
        "create table fct_workforce_summary as "
        "select range as simulation_year, 100 as headcount from range(2025, 2028)"
    )
    db.mark_completed(con, [2025])
    con.close()

    assert cli_main(["summary", "--data-dir", str(tmp_path)]) == 0

    lines = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line.split()[-1] for line in lines if line.strip()[:4].isdigit()}
    assert rows == {"2025": "yes", "2026": "NO", "2027": "NO"}
    assert any(line.startswith("Incomplete years 2026, 2027: ") for line in lines)
