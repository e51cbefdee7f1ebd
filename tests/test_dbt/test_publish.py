"""Parquet results for readers: a listed year has every table; removal and sync mirror the database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from orch_assets.simulation.publish import (
    PART_FILE,
    publish_year,
    read_published,
    remove_published_years,
    sync,
    year_dir,
)

TABLES = ["events", "snapshot", "summary"]


@pytest.fixture
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A database with three tables of 2025-2027: 10, 20, 1 rows a year."""
    connection = duckdb.connect(str(tmp_path / "workforce.duckdb"))
    for table, rows in zip(TABLES, (10, 20, 1), strict=True):
        connection.execute(
            f"create table {table} as select (2025 + y)::int as simulation_year, i as id "
            f"from range(3) a(y), range({rows}) b(i)"
        )
    yield connection
    connection.close()


def _counts(results: Path) -> dict[tuple[str, int], int]:
    """Rows per (table, year) of the listed years, read as a reader would."""
    reader = duckdb.connect()
    counts = {}
    for year in read_published(results)["years"]:
        for table in TABLES:
            path = str(year_dir(results, table, year) / PART_FILE)
            counts[table, year] = reader.read_parquet(path).aggregate("count(*)").fetchall()[0][0]
    reader.close()
    return counts


def test_a_published_year_holds_every_table_with_the_databases_rows(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    results = tmp_path / "results"
    publish_year(con, results, TABLES, 2026, {"run_id": "r1"})

    assert read_published(results)["years"] == [2026]
    assert read_published(results)["writer"] == {"run_id": "r1"}
    assert _counts(results) == {("events", 2026): 10, ("snapshot", 2026): 20, ("summary", 2026): 1}
    assert not [p for p in results.iterdir() if p.name.startswith(".")], "no staging left behind"


def test_publishing_a_year_again_replaces_it(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    results = tmp_path / "results"
    publish_year(con, results, TABLES, 2025)
    con.execute("delete from snapshot where simulation_year = 2025 and id >= 5")
    publish_year(con, results, TABLES, 2025)

    assert _counts(results)["snapshot", 2025] == 5


def test_removing_years_unlists_them_and_deletes_their_files(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    results = tmp_path / "results"
    for year in (2025, 2026, 2027):
        publish_year(con, results, TABLES, year)

    assert remove_published_years(results, [2026, 2030]) == [2026]

    assert read_published(results)["years"] == [2025, 2027]
    assert not any(year_dir(results, table, 2026).exists() for table in TABLES)


def test_sync_mirrors_the_databases_complete_years_and_unpublishes_the_years_a_run_rewrites(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    results = tmp_path / "results"
    for year in (2025, 2026, 2027):
        publish_year(con, results, TABLES, year)
    # 2027 leaves the database (a stale year removed), 2026 half-written (one table only).
    con.execute("delete from events where simulation_year = 2027")
    con.execute("delete from snapshot where simulation_year = 2027")
    con.execute("delete from summary where simulation_year in (2026, 2027)")
    remove_published_years(results, [2025])  # the database has 2025, the results lost it

    removed, added = sync(con, results, TABLES, rewritten_years=[], writer={"pid": 1})

    assert (removed, added) == ([2026, 2027], [2025])
    assert read_published(results)["years"] == [2025]
    assert sync(con, results, TABLES, rewritten_years=[2025]) == ([2025], [])
    assert read_published(results)["years"] == []


def test_sync_on_a_database_without_the_tables_unpublishes_everything(tmp_path: Path) -> None:
    results = tmp_path / "results"
    full = duckdb.connect(str(tmp_path / "full.duckdb"))
    full.execute("create table events as select 2025 as simulation_year")
    publish_year(full, results, ["events"], 2025)
    full.close()
    empty = duckdb.connect(str(tmp_path / "empty.duckdb"))

    assert sync(empty, results, ["events"], rewritten_years=[2025, 2026]) == ([2025], [])
    empty.close()
