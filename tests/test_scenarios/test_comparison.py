"""The comparison asset reads every simulated scenario's database: a table and a PNG chart."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orch_assets.assets.scenario_comparison import scenario_comparison
from orch_assets.resources import DATABASE_FILE_NAME, SimulationStore
from orch_assets.simulation.publish import publish_year
from orch_assets.simulation.published import results_dir

PNG_DATA_URI = "data:image/png;base64,iVBOR"


def _fake_scenario(data_dir: Path, scenario: str, headcounts: list[int]) -> None:
    """A scenario database holding only the summary mart, as the simulation writes it."""
    database = data_dir / f"scenario_{scenario}" / DATABASE_FILE_NAME
    database.parent.mkdir(parents=True)
    con = duckdb.connect(str(database))
    try:
        con.execute("""create table fct_workforce_summary (simulation_year int, headcount_start int,
            hires int, terminations int, new_hire_terminations int, headcount_end int,
            total_compensation decimal(18, 2))""")  # fmt: skip
        for offset, headcount in enumerate(headcounts):
            con.execute(
                "insert into fct_workforce_summary values (?, ?, ?, ?, ?, ?, ?)",
                [2025 + offset, headcount - 10, 30, 15, 5, headcount, headcount * 50_000],
            )
    finally:
        con.close()


def _materialize(data_dir: Path) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [scenario_comparison],
        resources={"simulation_store": SimulationStore(data_dir=str(data_dir))},
    )


def test_the_comparison_has_one_row_per_scenario_and_year_and_an_inline_chart(
    tmp_path: Path,
) -> None:
    _fake_scenario(tmp_path, "baseline", [100, 103])
    _fake_scenario(tmp_path, "high_growth", [100, 108])

    result = _materialize(tmp_path)

    metadata = result.asset_materializations_for_node("scenarios__scenario_comparison")[0].metadata
    rows = [r.data for r in metadata["comparison"].value.records]
    assert [(r["scenario"], r["simulation_year"], r["headcount"]) for r in rows] == [
        ("baseline", 2025, 100), ("baseline", 2026, 103),
        ("high_growth", 2025, 100), ("high_growth", 2026, 108),
    ]  # fmt: skip
    assert rows[0]["terminations"] == 20, "terminations include new-hire terminations"
    assert rows[0]["total_compensation"] == 5_000_000.0
    assert PNG_DATA_URI in metadata["chart"].value
    assert Path(metadata["chart_path"].value).read_bytes().startswith(b"\x89PNG")
    assert metadata["not simulated"].value == "high_turnover, low_merit"


def test_the_comparison_fails_clearly_when_no_scenario_was_simulated(tmp_path: Path) -> None:
    with pytest.raises(dg.Failure, match="no scenario has been simulated yet"):
        _materialize(tmp_path)


HOLD_READ_WRITE = """
import sys, duckdb
con = duckdb.connect(sys.argv[1])
print("writing", flush=True)
sys.stdin.readline()
"""


def test_while_a_process_writes_a_scenario_the_comparison_shows_its_published_years_and_says_so(
    tmp_path: Path,
) -> None:
    _fake_scenario(tmp_path, "baseline", [100, 103, 107])
    database = tmp_path / "scenario_baseline" / DATABASE_FILE_NAME
    con = duckdb.connect(str(database))
    for year in (2025, 2026):
        publish_year(con, results_dir(database), ["fct_workforce_summary"], year, {"run_id": "r1"})
    con.close()
    writer = subprocess.Popen(
        [sys.executable, "-c", HOLD_READ_WRITE, str(database)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "writing"
        result = _materialize(tmp_path)
    finally:
        writer.kill()
        writer.wait()

    metadata = result.asset_materializations_for_node("scenarios__scenario_comparison")[0].metadata
    rows = [r.data for r in metadata["comparison"].value.records]
    assert [(r["simulation_year"], r["headcount"]) for r in rows] == [(2025, 100), (2026, 103)]
    source = metadata["sources"].value["baseline"]  # type: ignore[index]
    assert f"being written by another process (pid {writer.pid}" in source
    assert source.endswith("showing published results up to year 2026")
