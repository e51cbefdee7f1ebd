"""Per-year Parquet copies of tables, for readers while a writer holds the DuckDB file.

DuckDB lets no other process open a file while one writes it, so after each finished year the
dbt worker copies that year's rows of the published tables (in a thread, while the next year
builds) to

    <results_dir>/<table>/simulation_year=<year>/part-0.parquet

(hive layout; the files keep the ``simulation_year`` column too). The readers' rule: a year is
published when ``<results_dir>/_published.json`` lists it. A year's tables are written into a
staging directory, renamed into place table by table, and only then added to that file (itself
replaced atomically), so a reader that takes its years from the file never sees part of a year.
Removal goes the other way: out of the file first, then off the disk. Directories not listed
(a crash between the renames and the file) are ignored by readers and replaced by the next
publish of that year.

The DuckDB Python API writes the files (relations, no SQL text), so no path and no value is ever
spliced into SQL. Generic: the caller passes the tables and the directory.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import duckdb

PUBLISHED_FILE = "_published.json"
YEAR_COLUMN = "simulation_year"
PART_FILE = "part-0.parquet"


def year_dir(results_dir: Path, table: str, year: int) -> Path:
    return results_dir / table / f"{YEAR_COLUMN}={year}"


def read_published(results_dir: Path) -> dict[str, Any]:
    """The readers' file: ``tables``, ``years`` (sorted) and ``writer``; empty if none yet."""
    try:
        state = json.loads((results_dir / PUBLISHED_FILE).read_text())
    except FileNotFoundError:
        return {"tables": [], "years": [], "writer": None}
    return {"tables": state.get("tables", []), "years": sorted(state.get("years", [])),
            "writer": state.get("writer")}  # fmt: skip


def _write_published(results_dir: Path, state: dict[str, Any]) -> None:
    results_dir.mkdir(parents=True, exist_ok=True)
    temporary = results_dir / f".{PUBLISHED_FILE}.{os.getpid()}.tmp"
    temporary.write_text(json.dumps({**state, "years": sorted(set(state["years"]))}, indent=1))
    os.replace(temporary, results_dir / PUBLISHED_FILE)


def _discard(path: Path) -> None:
    """Renames ``path`` aside, then deletes it: a reader never sees it half-deleted."""
    if not path.exists():
        return
    aside = path.with_name(f".removed-{path.name}-{os.getpid()}")
    shutil.rmtree(aside, ignore_errors=True)
    os.rename(path, aside)
    shutil.rmtree(aside, ignore_errors=True)


def remove_published_years(results_dir: Path, years: Iterable[int]) -> list[int]:
    """Unpublishes ``years`` (listing first, then files); returns the years that were listed."""
    years = set(years)
    state = read_published(results_dir)
    removed = sorted(years & set(state["years"]))
    if removed:
        _write_published(results_dir, {**state, "years": set(state["years"]) - years})
    if results_dir.is_dir():
        for table_dir in (p for p in results_dir.iterdir() if p.is_dir() and p.name[0] != "."):
            for year in years:
                _discard(year_dir(results_dir, table_dir.name, year))
    return removed


def publish_year(
    con: duckdb.DuckDBPyConnection,
    results_dir: Path,
    tables: Sequence[str],
    year: int,
    writer: dict[str, Any] | None = None,
) -> None:
    """Copies ``year``'s rows of every table to Parquet, then lists the year as published."""
    staging = results_dir / f".staging-{year}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    for table in tables:
        (staging / table).mkdir(parents=True)
        relation = con.table(table).filter(
            duckdb.ColumnExpression(YEAR_COLUMN) == duckdb.ConstantExpression(year)
        )
        relation.write_parquet(str(staging / table / PART_FILE))
    state = read_published(results_dir)
    if year in state["years"]:
        remove_published_years(results_dir, [year])
    for table in tables:
        target = year_dir(results_dir, table, year)
        target.parent.mkdir(parents=True, exist_ok=True)
        _discard(target)
        os.rename(staging / table, target)
    shutil.rmtree(staging, ignore_errors=True)
    state = read_published(results_dir)
    _write_published(
        results_dir,
        {
            "tables": list(tables),
            "years": {*state["years"], year},
            "writer": writer or state["writer"],
        },
    )


def complete_years(con: duckdb.DuckDBPyConnection, tables: Sequence[str]) -> set[int]:
    """Years present in every one of ``tables`` (none if a table does not exist yet)."""
    years: set[int] | None = None
    for table in tables:
        try:
            rows = con.table(table).select(duckdb.ColumnExpression(YEAR_COLUMN)).distinct()
            found = {int(row[0]) for row in rows.fetchall()}
        except duckdb.CatalogException:
            return set()
        years = found if years is None else years & found
    return years or set()


def sync(
    con: duckdb.DuckDBPyConnection,
    results_dir: Path,
    tables: Sequence[str],
    rewritten_years: Iterable[int],
    writer: dict[str, Any] | None = None,
) -> tuple[list[int], list[int]]:
    """Makes the published years mirror the database's complete years, before a run writes.

    Unpublishes the years the database lacks (in any table) and the years this run is about to
    rewrite; publishes complete years the database has but the results lack (a database written
    before a crash, or before publishing existed). Returns (removed, added).
    """
    rewritten = set(rewritten_years)
    in_database = complete_years(con, tables)
    published = set(read_published(results_dir)["years"])
    removed = remove_published_years(results_dir, (published - in_database) | rewritten)
    added = sorted(in_database - rewritten - published)
    for year in added:
        publish_year(con, results_dir, tables, year, writer)
    if not added:
        state = read_published(results_dir)
        _write_published(results_dir, {**state, "tables": list(tables), "writer": writer})
    return removed, added
