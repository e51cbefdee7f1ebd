"""Each finished year is published while the next one builds, every year whole, all before the
step ends: the simulation's year loop (years.py) on the fixture project of rules_project/ (its
``yearly`` table), in a real Dagster step."""

from __future__ import annotations

import re
from pathlib import Path

import dagster as dg
import duckdb

from orch_assets.simulation.publish import PART_FILE, read_published, year_dir
from tests.test_dbt.rules_fixture import copy_rules_project, parse_project
from tests.test_simulation.years_jobs import log_messages, run_years

YEARS = [2025, 2026, 2027]


def test_every_year_is_published_whole_in_order_before_the_step_ends(
    instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    project = parse_project(copy_rules_project(tmp_path / "project"))
    results = tmp_path / "results"
    result = run_years(
        instance, project, tmp_path / "workforce.duckdb", YEARS,
        publish={"results_dir": str(results), "tables": ["yearly"], "writer": {"run_id": "r"}},
    )  # fmt: skip

    logs = log_messages(instance, result.run_id)
    assert result.success, logs
    published = [
        [int(y) for y in re.findall(r"\d+", m.split("published ", 1)[1].split(",")[0])]
        for m in logs
        if m.startswith("Results in ") and "published [2" in m
    ]
    assert published == [[year] for year in YEARS], "one at a time, in order"
    assert read_published(results)["years"] == YEARS
    for year in YEARS:
        part = year_dir(results, "yearly", year) / PART_FILE
        rows = duckdb.execute("select count(*), min(simulation_year) from read_parquet(?)",
                              [str(part)]).fetchone()  # fmt: skip
        assert rows == (1000, year), (year, rows)
